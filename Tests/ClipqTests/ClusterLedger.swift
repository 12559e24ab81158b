import ClipAMQP
import Foundation

/// A publisher and a reply reader that outlive any one node of a cluster, as a careful client
/// would be: requests are persistent and confirmed, and whatever a lost connection left
/// unconfirmed is published again through another node; replies go to a durable quorum queue
/// (replicated, so a reply outlives the node it was published on) and are counted by
/// correlation id.
final class ClusterLedger: @unchecked Sendable {
    private let settings: AMQPSettings
    private let requestQueue: String
    let replyQueue: String
    private let lock = NSLock()
    // Guarded by `lock`:
    private var replyCounts: [String: Int] = [:]
    private var replyTimes: [ContinuousClock.Instant] = []
    private var readerStopped = false
    private var readerErrors: [String] = []
    private let readerDone = DispatchSemaphore(value: 0)
    // Owned by the publishing thread:
    private var publisher: AMQPConnection?
    /// Publish sequence -> the request it carried, until the broker confirms it.
    private var unconfirmed: [UInt64: (id: String, body: [UInt8])] = [:]
    private(set) var republished = 0
    private(set) var publisherReconnects = 0

    init(settings: AMQPSettings, requestQueue: String, replyQueue: String) throws {
        self.settings = settings
        self.requestQueue = requestQueue
        self.replyQueue = replyQueue
        let connection = try AMQPConnection(settings)
        try connection.declareQueue(replyQueue, arguments: ["x-queue-type": .string("quorum")])
        connection.close()
        let thread = Thread { [self] in
            readReplies()
            readerDone.signal()
        }
        thread.name = "cluster-ledger-replies"
        thread.start()
    }

    // MARK: - Publishing

    /// Publishes one request; returns once it is written (its confirm comes later).
    func publish(id: String, body: [UInt8]) {
        while true {
            do {
                let connection = try publisherConnection()
                let sequence = try connection.publish(
                    routingKey: requestQueue, body: body,
                    properties: AMQPProperties(contentType: "application/json", deliveryMode: 2, correlationID: id, replyTo: replyQueue))
                unconfirmed[sequence] = (id, body)
                try settleConfirms(connection, wait: .zero)
                return
            } catch {
                lostPublisher()
            }
        }
    }

    /// Waits until the broker has confirmed every request published (republishing as needed).
    func waitForConfirms(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !unconfirmed.isEmpty && ContinuousClock.now < deadline {
            do {
                try settleConfirms(try publisherConnection(), wait: .milliseconds(100))
            } catch {
                lostPublisher()
            }
        }
        return unconfirmed.isEmpty
    }

    /// A connection (to a random live node) with confirms on; after a loss, what was unconfirmed
    /// goes out again on the new one.
    private func publisherConnection() throws -> AMQPConnection {
        if let publisher, publisher.isOpen { return publisher }
        let connection = try AMQPConnection(settings)
        try connection.enableConfirms()
        let pending = unconfirmed.sorted { $0.key < $1.key }.map(\.value)
        unconfirmed.removeAll()
        publisher = connection
        for request in pending {
            let sequence = try connection.publish(
                routingKey: requestQueue, body: request.body,
                properties: AMQPProperties(contentType: "application/json", deliveryMode: 2, correlationID: request.id, replyTo: replyQueue))
            unconfirmed[sequence] = request
            republished += 1
        }
        return connection
    }

    private func lostPublisher() {
        publisher?.close()
        publisher = nil
        publisherReconnects += 1
        Thread.sleep(forTimeInterval: 0.2)
    }

    private func settleConfirms(_ connection: AMQPConnection, wait: Duration) throws {
        var timeout = wait
        while let event = try connection.nextEvent(timeout: timeout) {
            timeout = .zero
            switch event {
            case .acked(let sequence, let multiple):
                for key in unconfirmed.keys where key == sequence || (multiple && key < sequence) { unconfirmed[key] = nil }
            case .nacked:
                throw AMQPError(.connection, "the broker nacked a request")  // a new connection publishes it again
            default:
                break
            }
        }
    }

    // MARK: - Replies

    private func readReplies() {
        while !lock.withLock({ readerStopped }) {
            do {
                let connection = try AMQPConnection(settings)
                try connection.setPrefetch(200)
                try connection.consume(replyQueue)
                while !lock.withLock({ readerStopped }) {
                    guard case .delivery(let delivery)? = try connection.nextEvent(timeout: .milliseconds(50)) else { continue }
                    record(delivery)
                    try connection.ack(delivery.deliveryTag)
                }
                connection.close()
            } catch {
                lock.withLock { readerErrors.append("\(error)") }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    private func record(_ delivery: AMQPDelivery) {
        let id = delivery.properties.correlationID ?? "(none)"
        lock.withLock {
            // A reply read before a lost connection, its ack lost with it, comes back marked
            // redelivered: the same reply again, not a second answer from a worker.
            if delivery.redelivered && replyCounts[id] != nil { return }
            replyCounts[id, default: 0] += 1
            replyTimes.append(.now)
        }
    }

    var replies: [String: Int] { lock.withLock { replyCounts } }
    var errors: [String] { lock.withLock { readerErrors } }

    /// When the first reply after `instant` arrived, or nil.
    func firstReply(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        lock.withLock { replyTimes.first { $0 > instant } }
    }

    /// Waits until every id in `ids` has a reply, or the timeout.
    func waitForReplies(to ids: Set<String>, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if ids.isSubset(of: Set(replies.keys)) { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    func stop() {
        lock.withLock { readerStopped = true }
        readerDone.wait()
        publisher?.close()
    }
}
