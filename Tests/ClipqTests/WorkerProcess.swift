import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// A real `clipq` process (a worker, a gateway) against the test broker, configured for the
/// test's topology through the environment, as an operator would; its stdout and stderr kept as
/// whole lines.
class ClipqProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []

    /// `environment` adds to (or overrides) the process's. `brokerURL` may list several nodes
    /// (comma-separated); `launcher` runs the process through another command (e.g.
    /// `ip netns exec HOST`, to run it on another "host").
    init(
        _ arguments: [String], brokerURL: String, launcher: [String] = [], topology: Topology, environment extra: [String: String]
    ) throws {
        let command = [CLI.executable.path] + arguments
        process.executableURL = URL(fileURLWithPath: launcher.first ?? command[0])
        process.arguments = Array((launcher + command).dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["CLIPQ_AMQP_URL"] = brokerURL
        environment["CLIPQ_QUEUE"] = topology.requestQueue
        environment["CLIPQ_DLX"] = topology.deadLetterExchange
        environment["CLIPQ_DEAD_QUEUE"] = topology.deadLetterQueue
        environment["CLIPQ_DELIVERY_LIMIT"] = String(topology.deliveryLimit)
        process.environment = environment.merging(extra) { $1 }
        // Both streams, as whole lines (a read may end mid-line).
        let errors = Pipe(), output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        for pipe in [errors, output] {
            let splitter = LineSplitter()
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let complete = splitter.lines(adding: handle.availableData)
                self?.lock.withLock { self?.lines += complete }
            }
        }
        try process.run()
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// Its stderr and stdout lines so far.
    var log: [String] { lock.withLock { lines } }

    func waitForLog(containing text: String, count: Int = 1, timeout: Duration = .seconds(20)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.filter({ $0.contains(text) }).count >= count { return true }
            if !process.isRunning { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `timeout`).
    func terminate(timeout: Duration = .seconds(30)) -> Int32? {
        process.terminate()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A real `clipq worker` process on the tiny model (or `model`), against the test broker.
final class WorkerProcess: ClipqProcess, @unchecked Sendable {
    static let modelDirectory = CLI.fixtures.appendingPathComponent("tiny-clip").path

    /// Returns once the worker has connected, or at once if `waitForConnection` is false. Image
    /// URLs may reach loopback (the tests' servers) unless `allowPrivateNetworks` is false.
    convenience init(
        broker: TestBroker, topology: Topology, model: String = WorkerProcess.modelDirectory, arguments: [String] = [],
        environment extra: [String: String] = [:], waitForConnection: Bool = true, allowPrivateNetworks: Bool = true
    ) throws {
        try self.init(
            brokerURL: broker.url, topology: topology, model: model, arguments: arguments, environment: extra,
            waitForConnection: waitForConnection, allowPrivateNetworks: allowPrivateNetworks)
    }

    /// `brokerURL` may list several nodes (comma-separated); `launcher` runs the worker on another
    /// "host" (e.g. `ip netns exec HOST`).
    init(
        brokerURL: String, launcher: [String] = [], topology: Topology, model: String = WorkerProcess.modelDirectory,
        arguments: [String] = [], environment extra: [String: String] = [:], waitForConnection: Bool = true,
        allowPrivateNetworks: Bool = true
    ) throws {
        let flags = ["worker", "--model", model] + (allowPrivateNetworks ? ["--allow-private-networks"] : []) + arguments
        try super.init(flags, brokerURL: brokerURL, launcher: launcher, topology: topology, environment: extra)
        guard !waitForConnection || waitForLog(containing: #""event":"connected""#, timeout: .seconds(30)) else {
            process.terminate()
            throw TestBrokerError(message: "the worker did not connect:\n\(log.joined(separator: "\n"))")
        }
    }
}

/// Bytes in, whole lines out; the unfinished last line waits for the rest. Fed by one
/// pipe's handler, which the system calls one at a time.
private final class LineSplitter: @unchecked Sendable {
    private var partial: [UInt8] = []

    func lines(adding data: Data) -> [String] {
        partial += data
        guard let end = partial.lastIndex(of: 0x0A) else { return [] }
        defer { partial.removeSubrange(...end) }
        return String(decoding: partial[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// A client that keeps many requests in flight and gathers replies by correlation id.
final class ReplyCollector {
    let connection: AMQPConnection
    let replyQueue: String
    private(set) var replies: [String: [AMQPDelivery]] = [:]
    /// Correlation ids in the order their first reply arrived.
    private(set) var replyOrder: [String] = []

    /// With `durableQueue`, replies wait in that named queue across a broker restart and a
    /// new collector can pick them up; otherwise a private queue that dies with the connection.
    init(broker: TestBroker, durableQueue: String? = nil) throws {
        connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        if let durableQueue {
            replyQueue = try connection.declareQueue(durableQueue).name
        } else {
            replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        }
        try connection.consume(replyQueue)
    }

    func send(_ body: [UInt8], id: String, to queue: String, replyTo: String? = nil, headers: [String: AMQPFieldValue]? = nil) throws {
        try connection.publish(
            routingKey: queue, body: body,
            properties: AMQPProperties(contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: id,
                                       replyTo: replyTo ?? replyQueue))
    }

    /// Waits until every id in `ids` has a reply (or the timeout passes).
    func collect(_ ids: Set<String>, timeout: Duration = .seconds(60), into earlier: [String: [AMQPDelivery]] = [:]) throws {
        for (id, deliveries) in earlier { replies[id, default: []] += deliveries }
        let deadline = ContinuousClock.now + timeout
        while !ids.isSubset(of: Set(replies.keys)) && ContinuousClock.now < deadline {
            if case .delivery(let d)? = try connection.nextEvent(timeout: .milliseconds(50)) {
                let id = d.properties.correlationID ?? "?"
                if replies[id] == nil { replyOrder.append(id) }
                replies[id, default: []].append(d)
                try connection.ack(d.deliveryTag)
            }
        }
    }

    func json(_ id: String) throws -> ParsedReply {
        ParsedReply(try XCTUnwrap(replies[id]?.first, "no reply for \(id)"))
    }
}

/// A reply, parsed.
struct ParsedReply {
    let delivery: AMQPDelivery
    let value: JSONValue

    init(_ delivery: AMQPDelivery) {
        self.delivery = delivery
        value = (try? JSONParser().parse(delivery.body)) ?? .null
    }

    var errorCode: String? { value["error"]?["code"]?.string }
    var errorPointer: String? { value["error"]?["pointer"]?.string }

    func features(_ row: Int, _ key: String) -> [Float]? {
        value.array?[row][key]?.array?.map { Float($0.number ?? .nan) }
    }
}
