import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// clipq on a three-node RabbitMQ cluster (scripts/cluster.sh: each node in its own network
/// namespace) with two workers on two other "hosts": the node leading the request queue stops
/// mid-run and comes back, then a worker host loses its link for longer than the heartbeat.
/// No request may be lost. Minutes long, so `make test-cluster` runs it, not `make test`.
final class ClusterTests: XCTestCase {
    private static let heartbeat = 5
    private static let prefetch = 16

    func testLosingTheLeaderNodeAndAWorkerHostsLinkLosesNoRequest() throws {
        let cluster = try LocalCluster()
        addTeardownBlock { cluster.down() }
        try cluster.addHost(1)
        try cluster.addHost(2)
        let urls = try cluster.urls(heartbeat: Self.heartbeat)
        // Each disruption returns deliveries to the queue; none may reach the delivery limit.
        let topology = Topology.unique(name, deliveryLimit: 20)
        let settings = try AMQPSettings(urls: urls.split(separator: ",").map { try AMQPURL(String($0)) }, connectTimeout: .seconds(3))

        // The first worker declares the queues, so their leader is the node it reached.
        let workers = try (1...2).map { host in
            try WorkerProcess(
                brokerURL: urls, launcher: cluster.launcher(host: host), topology: topology,
                arguments: ["--prefetch", String(Self.prefetch), "--dead-letter-queue-type", "quorum"])
        }
        let ledger = try ClusterLedger(settings: settings, requestQueue: topology.requestQueue, replyQueue: "replies.\(topology.requestQueue)")
        defer { ledger.stop() }

        let image = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/camera_1bit.png")).base64EncodedString()
        var requests: [(id: String, body: [UInt8])] = (0..<2000).map { ("text-\($0)", requestBody([("", "a photo of thing number \($0)")])) }
        for i in 0..<50 { requests.insert(("image-\(i)", requestBody([(image, "")])), at: i * 40) }

        let chaos = Chaos(cluster: cluster, workers: workers, ledger: ledger, queue: topology.requestQueue)
        let chaosThread = Thread { chaos.run() }
        chaosThread.start()

        // About 45 s of steady traffic, so that both disruptions fall inside it.
        let start = ContinuousClock.now
        for (n, request) in requests.enumerated() {
            ledger.publish(id: request.id, body: request.body)
            let due = start + .milliseconds(22 * (n + 1))
            if due > .now { Thread.sleep(forTimeInterval: (due - .now) / .seconds(1)) }
        }
        XCTAssertTrue(ledger.waitForConfirms(timeout: .seconds(120)), "the cluster never confirmed every request")
        XCTAssertTrue(chaos.done.wait(timeout: .now() + 300) == .success, "the disruptions did not finish")
        let ids = Set(requests.map(\.id))
        let answered = ledger.waitForReplies(to: ids, timeout: .seconds(180))
        Thread.sleep(forTimeInterval: 3)  // late duplicates, if any, arrive now

        let replies = ledger.replies
        let lost = ids.subtracting(replies.keys)
        let unknown = Set(replies.keys).subtracting(ids)
        let duplicates = replies.values.reduce(0) { $0 + max($1 - 1, 0) }
        // A duplicate needs a reply published and its request's ack lost: a republished request,
        // or one in flight (at most the prefetch) on a worker whose connection broke, three times.
        let duplicateBound = ledger.republished + 3 * Self.prefetch
        print("""
            cluster: \(requests.count) requests, \(replies.count) answered, lost \(lost.count), duplicates \(duplicates) \
            (bound \(duplicateBound)), republished \(ledger.republished), publisher reconnects \(ledger.publisherReconnects)
            cluster: \(chaos.report.joined(separator: "\ncluster: "))
            """)
        for (n, worker) in workers.enumerated() {
            for line in worker.log where line.contains(#""event":"conn"#) { print("cluster: worker \(n + 1): \(line)") }
        }
        XCTAssertTrue(answered, "no reply for \(lost.count) requests, e.g. \(lost.sorted().prefix(5))")
        XCTAssertEqual(lost, [])
        XCTAssertEqual(unknown, [], "replies for requests never sent")
        XCTAssertLessThanOrEqual(duplicates, duplicateBound)
        XCTAssertEqual(chaos.failures, [], "the disruptions themselves failed")
        for (name, seconds) in chaos.reconnectSeconds {
            XCTAssertLessThan(seconds, name == "after the link came back" ? 45 : 30, "\(name): \(seconds) s")
        }
        XCTAssertFalse(chaos.reconnectSeconds.isEmpty, "no worker reconnect was measured: \(chaos.report)")

        for queue in [topology.requestQueue, topology.bulkQueue, topology.deadLetterQueue, ledger.replyQueue] {
            XCTAssertEqual(try cluster.messages(in: queue, askingNode: 1), 0, "\(queue) is not empty")
        }
        for (n, worker) in workers.enumerated() {
            XCTAssertTrue(worker.process.isRunning, "worker \(n + 1) exited:\n\(worker.log.suffix(20).joined(separator: "\n"))")
            XCTAssertEqual(worker.terminate(), 0)
        }
    }
}

/// The disruptions, on a thread of their own while the test publishes: stop the node leading the
/// request queue, start it again, then cut worker host 1's link for three heartbeats and restore
/// it. It measures how long the workers take to be back on a live node.
private final class Chaos: @unchecked Sendable {
    let cluster: LocalCluster
    let workers: [WorkerProcess]
    let ledger: ClusterLedger
    let queue: String
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var _report: [String] = []
    private var _failures: [String] = []
    private var _reconnects: [(String, Double)] = []

    init(cluster: LocalCluster, workers: [WorkerProcess], ledger: ClusterLedger, queue: String) {
        self.cluster = cluster
        self.workers = workers
        self.ledger = ledger
        self.queue = queue
    }

    var report: [String] { lock.withLock { _report } }
    var failures: [String] { lock.withLock { _failures } }
    var reconnectSeconds: [(String, Double)] { lock.withLock { _reconnects } }

    func run() {
        defer { done.signal() }
        do {
            Thread.sleep(forTimeInterval: 8)
            let leader = try cluster.leader(of: queue)
            let onLeader = workers.indices.filter { node(of: workers[$0]) == cluster.nodeAddress(leader) }
            let connectedBefore = workers.map(connections)
            say("stopping node \(leader), the leader of \(queue); workers on it: \(onLeader.map { $0 + 1 })")
            let stopped = ContinuousClock.now
            try cluster.stopNode(leader)
            for i in onLeader {
                guard let seconds = waitForReconnect(workers[i], beyond: connectedBefore[i], since: stopped, timeout: .seconds(60)) else {
                    fail("worker \(i + 1) did not reconnect after node \(leader) stopped")
                    continue
                }
                measured("worker \(i + 1) after its node stopped", seconds, now: node(of: workers[i]))
            }
            if let next = ledger.firstReply(after: stopped) {
                say(String(format: "first reply %.1f s after the leader began to stop", (next - stopped) / .seconds(1)))
            }
            say("new leader: node \(try cluster.leader(of: queue))")
            try cluster.startNode(leader)
            say("node \(leader) started again")

            Thread.sleep(forTimeInterval: 3)
            let before = connections(workers[0])
            say("cutting worker host 1's link (heartbeat 5 s) for 16 s")
            try cluster.cut(host: 1)
            Thread.sleep(forTimeInterval: 16)
            try cluster.restore(host: 1)
            let restored = ContinuousClock.now
            guard let seconds = waitForReconnect(workers[0], beyond: before, since: restored, timeout: .seconds(90)) else {
                return fail("worker 1 did not reconnect after its link came back")
            }
            measured("after the link came back", seconds, now: node(of: workers[0]))
        } catch {
            fail("\(error)")
        }
    }

    private func waitForReconnect(_ worker: WorkerProcess, beyond count: Int, since: ContinuousClock.Instant, timeout: Duration) -> Double? {
        guard worker.waitForLog(containing: #""event":"connected""#, count: count + 1, timeout: timeout) else { return nil }
        return (ContinuousClock.now - since) / .seconds(1)
    }

    private func connections(_ worker: WorkerProcess) -> Int {
        worker.log.filter { $0.contains(#""event":"connected""#) }.count
    }

    /// The node of the worker's latest connection, as its log names it.
    private func node(of worker: WorkerProcess) -> String? {
        guard let line = worker.log.last(where: { $0.contains(#""event":"connected""#) }),
            let range = line.range(of: #""node":"[^"]*""#, options: .regularExpression)
        else { return nil }
        return String(line[range].dropFirst(8).dropLast())
    }

    private func say(_ text: String) { lock.withLock { _report.append(text) } }
    private func fail(_ text: String) { lock.withLock { _failures.append(text) } }
    private func measured(_ what: String, _ seconds: Double, now node: String?) {
        lock.withLock {
            _reconnects.append((what, seconds))
            _report.append(String(format: "%@: back on %@ within %.1f s", what, node ?? "?", seconds))
        }
    }
}
