import ClipAMQP
import ClipTestSupport
import ClipWorker
import Foundation

/// A client that publishes persistent requests with publisher confirms and accounts for every
/// one by correlation id: replied (embeddings or error), dead-lettered, or lost. It outlives
/// the faults it watches: a lost connection is reopened, its reply queue (durable, named) is
/// declared again, and publishes the broker had not confirmed are sent again.
final class OutcomeLedger {
    let broker: TestBroker
    let topology: Topology
    let replyQueue: String
    private var connection: AMQPConnection?

    /// Confirmed by the broker, in publish order: these must all end somewhere.
    private(set) var published: [String] = []
    /// Correlation id -> how many replies it got.
    private(set) var replies: [String: Int] = [:]
    /// Publishes not yet confirmed, by sequence number on the current connection.
    private var unconfirmed: [UInt64: (id: String, body: [UInt8])] = [:]
    /// Requests sent twice because a connection died before their confirm (a possible
    /// source of duplicates that is the publisher's, not the worker's).
    private(set) var republished: Set<String> = []
    private(set) var reconnects = 0

    init(broker: TestBroker, topology: Topology) throws {
        self.broker = broker
        self.topology = topology
        replyQueue = "replies.\(topology.requestQueue)"
        try reconnect(timeout: .seconds(5))
    }

    deinit {
        try? connection?.deleteQueue(replyQueue)
    }

    private func reconnect(timeout: Duration) throws {
        connection?.close()
        connection = nil
        let deadline = ContinuousClock.now + timeout
        while true {
            do throws(AMQPError) {
                let c = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url), connectionName: "clipq fault ledger"))
                try c.enableConfirms()
                try topology.declare(on: c)
                try c.declareQueue(replyQueue)
                try c.consume(replyQueue)
                connection = c
                break
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        // What the dead connection had not confirmed may or may not be in the queue: send it again.
        let resend = unconfirmed.sorted { $0.key < $1.key }.map(\.value)
        unconfirmed.removeAll()
        for (id, body) in resend {
            republished.insert(id)
            try send(id, body)
        }
    }

    /// Runs `body` on the connection, reopening it (for up to a minute) when a fault took it.
    private func withConnection<T>(_ body: (AMQPConnection) throws(AMQPError) -> T) throws -> T {
        while true {
            if let connection {
                do throws(AMQPError) { return try body(connection) } catch {
                    reconnects += 1
                }
            }
            try reconnect(timeout: .seconds(60))
        }
    }

    private func send(_ id: String, _ body: [UInt8]) throws {
        let properties = AMQPProperties(contentType: "application/json", deliveryMode: 2, correlationID: id, replyTo: replyQueue)
        try withConnection { c throws(AMQPError) in
            let sequence = try c.publish(routingKey: topology.requestQueue, body: body, properties: properties, mandatory: true)
            unconfirmed[sequence] = (id, body)
        }
    }

    /// Publishes every request and returns once the broker has confirmed them all.
    func publish(_ requests: [(id: String, body: [UInt8])], timeout: Duration = .seconds(90)) throws {
        for (i, request) in requests.enumerated() {
            try send(request.id, request.body)
            if i % 32 == 31 { try pump(.zero) }
        }
        let deadline = ContinuousClock.now + timeout
        while !unconfirmed.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw TestBrokerError(message: "\(unconfirmed.count) publishes unconfirmed after \(timeout)")
            }
            try pump(.milliseconds(50))
        }
    }

    /// Handles what the broker says for up to `timeout`: confirms, replies (acked), returns.
    func pump(_ timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        repeat {
            guard let event = try withConnection({ c throws(AMQPError) in try c.nextEvent(timeout: .milliseconds(20)) }) else {
                continue
            }
            switch event {
            case .delivery(let d):
                replies[d.properties.correlationID ?? "?", default: 0] += 1
                try withConnection { c throws(AMQPError) in try c.ack(d.deliveryTag) }
            case .acked(let sequence, let multiple), .nacked(let sequence, let multiple):
                let settled = multiple ? unconfirmed.keys.filter { $0 <= sequence } : [sequence]
                for s in settled {
                    guard let request = unconfirmed.removeValue(forKey: s) else { continue }
                    if case .nacked = event {
                        try send(request.id, request.body)
                    } else if !published.contains(request.id) {  // a republished request counts once
                        published.append(request.id)
                    }
                }
            case .returned(let r):
                throw TestBrokerError(message: "the request queue refused \(r.properties.correlationID ?? "?"): \(r.replyText)")
            case .consumerCancelled:  // the reply queue was deleted under us: make it again
                try withConnection { c throws(AMQPError) in
                    try c.declareQueue(replyQueue)
                    try c.consume(replyQueue)
                }
            case .blocked, .unblocked:
                break
            }
        } while ContinuousClock.now < deadline
    }

    /// Correlation ids of what waits in the dead-letter queue (left there), with each record.
    func deadLetters() throws -> [String: [DeadLetter]] {
        let reader = DeadLetterQueue(connection: try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url))), topology: topology)
        defer { reader.connection.close() }
        return Dictionary(grouping: try reader.browse(limit: 100_000)) { $0.delivery.properties.correlationID ?? "?" }
    }

    /// Waits until every published request has a reply, or is a dead letter, or is in
    /// `elsewhere` (e.g. replies the worker logged as unroutable), then tallies.
    func settle(elsewhere: @autoclosure () -> Set<String> = [], timeout: Duration = .seconds(60)) throws -> Tally {
        let deadline = ContinuousClock.now + timeout
        var dead: [String: [DeadLetter]] = [:]
        var nextLook = ContinuousClock.now
        while true {
            try pump(.milliseconds(100))
            let open = Set(published).subtracting(replies.keys).subtracting(elsewhere())
            if open.isEmpty { break }
            if ContinuousClock.now >= nextLook {
                dead = try deadLetters()
                if open.isSubset(of: dead.keys) { break }
                nextLook = ContinuousClock.now + .seconds(1)
            }
            if ContinuousClock.now >= deadline { break }
        }
        try pump(.milliseconds(300))  // late duplicates
        dead = try deadLetters()
        return Tally(published: published, replies: replies, deadLetters: dead, elsewhere: elsewhere(), republished: republished)
    }
}

/// Where each published request ended.
struct Tally: CustomStringConvertible {
    var published: [String]
    var replies: [String: Int]
    var deadLetters: [String: [DeadLetter]]
    var elsewhere: Set<String>
    var republished: Set<String>

    var replied: Int { published.filter { replies[$0] != nil }.count }
    /// Dead letters with no reply: what the broker dead-lettered (the delivery limit).
    var deadLettered: Int { published.filter { replies[$0] == nil && deadLetters[$0] != nil }.count }
    var lost: [String] { published.filter { replies[$0] == nil && deadLetters[$0] == nil && !elsewhere.contains($0) } }
    /// Replies beyond the first per request (DESIGN §2: only after a crash between reply and ack).
    var duplicates: Int { replies.values.reduce(0) { $0 + max(0, $1 - 1) } }
    /// Replies to ids never published (must be none).
    var strays: Set<String> { Set(replies.keys).subtracting(published) }

    var description: String {
        "published \(published.count), replied \(replied), dead-lettered \(deadLettered), "
            + "accounted elsewhere \(published.filter { replies[$0] == nil && elsewhere.contains($0) }.count), lost \(lost.count), duplicate replies \(duplicates), republished \(republished.count)"
    }
}
