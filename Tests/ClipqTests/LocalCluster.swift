import ClipTestSupport
import Foundation
import XCTest

/// Three RabbitMQ nodes, each in its own network namespace, joined into one cluster, and worker
/// "hosts" in further namespaces: scripts/cluster.sh under a name and subnet of the tests' own,
/// so that a cluster an operator runs (`make cluster`) is left alone. Needs root and `ip netns`;
/// without them the test fails and says so.
final class LocalCluster {
    let name: String
    let subnet: String
    let directory: URL
    private static let script = CLI.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/cluster.sh")

    init(name: String = "clipqt", subnet: String = "10.77.1") throws {
        self.name = name
        self.subnet = subnet
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-cluster-\(getpid())")
        guard getuid() == 0 else { throw TestBrokerError(message: "ClusterTests need root for ip netns (CI runs as root)") }
        _ = try? run(["down"])  // what a crashed earlier run of these tests left
        do {
            try run(["up"])
        } catch {
            _ = try? run(["down"])
            throw error
        }
    }

    /// Stops every node and worker host, removes the namespaces, links and files.
    func down() {
        _ = try? run(["down"])
    }

    /// Every node's URL, comma-separated, each asking for `heartbeat` seconds.
    func urls(heartbeat: Int) throws -> String {
        try run(["urls"]).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",")
            .map { "\($0)?heartbeat=\(heartbeat)" }.joined(separator: ",")
    }

    func nodeAddress(_ node: Int) -> String { "\(subnet).\(node):5672" }

    func addHost(_ host: Int) throws { try run(["host-add", String(host)]) }
    /// The command prefix that runs a process on worker host `host`.
    func launcher(host: Int) -> [String] { ["/usr/bin/env", "ip", "netns", "exec", "\(name)-h\(host)"] }
    func cut(host: Int) throws { try run(["cut", String(host)]) }
    func restore(host: Int) throws { try run(["restore", String(host)]) }
    func stopNode(_ node: Int) throws { try run(["stop-node", String(node)]) }
    func startNode(_ node: Int) throws { try run(["start-node", String(node)]) }

    /// The number (1-3) of the node leading `queue`.
    func leader(of queue: String) throws -> Int {
        let text = try run(["leader", queue]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let node = Int(text) else { throw TestBrokerError(message: "cluster.sh leader \(queue): \(text)") }
        return node
    }

    /// Messages in `queue` (ready and unacknowledged), asked of node `node`.
    func messages(in queue: String, askingNode node: Int) throws -> Int? {
        let listing = try run(["ctl", String(node), "list_queues", "name", "messages", "--no-table-headers"])
        for line in listing.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.count == 2, fields[0] == queue { return Int(fields[1]) }
        }
        return nil
    }

    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = Self.script
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging([
            "CLIPQ_CLUSTER_NAME": name, "CLIPQ_CLUSTER_SUBNET": subnet, "CLIPQ_CLUSTER_DIR": directory.path,
        ]) { $1 }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-cluster-\(getpid())-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        // A file, not a pipe: nodes started in the background keep no pipe open behind them.
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw TestBrokerError(message: "cluster.sh \(arguments.joined(separator: " ")) failed:\n\(text.suffix(3000))")
        }
        return text
    }
}
