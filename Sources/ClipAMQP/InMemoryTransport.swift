import Foundation

/// A transport whose queue lives in memory: the worker's whole pipeline runs against it
/// without a broker, as swift-nio's embedded channel runs handlers without a socket. It keeps
/// the broker's rules that the pipeline relies on (prefetch, settle after publish, requeue,
/// redelivery after a lost connection, stale outcomes dropped) and records what was published.
/// What only a real broker shows (confirms under load, TLS, faults) stays with the real-broker tests.
public final class InMemoryTransport: Transport, @unchecked Sendable {
    private struct Message {
        var body: [UInt8]
        var properties: AMQPProperties
        var redelivered: Bool
    }

    /// The queue the requests are consumed from (the routing key of every delivery).
    public let queueName: String
    private let prefetch: Int

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Message] = []
    private var unsettled: [UInt64: Message] = [:]
    private var generation = 1
    private var nextTag: UInt64 = 0
    private var inbox: [Outcome] = []
    private var lostConnections = 0
    private var publishedMessages: [OutgoingMessage] = []
    private var refusing: (@Sendable (OutgoingMessage) -> Bool)?
    private var running = false
    private var stopDeadline: ContinuousClock.Instant?
    private var report = StopReport()
    private var closed = false

    public init(queueName: String = "clipq.requests", prefetch: Int = 32) {
        self.queueName = queueName
        self.prefetch = max(1, prefetch)
    }

    // MARK: - The test's side: the publishers and the broker

    /// Puts a request in the queue, as a client's publish would.
    public func enqueue(_ body: [UInt8], properties: AMQPProperties) {
        condition.withLock {
            queue.append(Message(body: body, properties: properties, redelivered: false))
            condition.broadcast()
        }
    }

    /// Every message the pipeline published (and the transport confirmed), in order.
    public var published: [OutgoingMessage] { condition.withLock { publishedMessages } }

    /// Requests waiting in the queue, not delivered.
    public var queuedCount: Int { condition.withLock { queue.count } }

    /// Requests delivered and not yet settled.
    public var unsettledCount: Int { condition.withLock { unsettled.count } }

    /// Waits until `condition` holds for the published messages, or `timeout` passes.
    public func waitForPublished(timeout: Duration = .seconds(10), until predicate: ([OutgoingMessage]) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return condition.withLock {
            while !predicate(publishedMessages) {
                guard ContinuousClock.now < deadline else { return false }
                condition.wait(until: Date(timeIntervalSinceNow: 0.01))
            }
            return true
        }
    }

    /// The broker nacks publishes for which `refuse` is true (the delivery is requeued instead
    /// of acked, as after a nack); nil accepts everything.
    public func refusePublishes(_ refuse: (@Sendable (OutgoingMessage) -> Bool)?) {
        condition.withLock { refusing = refuse }
    }

    /// The connection drops: every unsettled delivery goes back to the queue (redelivered), the
    /// pipeline hears `connectionLost` and then `connected` on a new generation.
    public func loseConnection() {
        condition.withLock {
            lostConnections += 1
            condition.broadcast()
        }
    }

    // MARK: - Transport

    private var onDelivery: @Sendable (DeliveryID, AMQPDelivery) -> Void = { _, _ in }
    private var onEvent: @Sendable (LinkEvent) -> Void = { _ in }

    public func start(
        onDelivery: @escaping @Sendable (DeliveryID, AMQPDelivery) -> Void, onEvent: @escaping @Sendable (LinkEvent) -> Void
    ) {
        self.onDelivery = onDelivery
        self.onEvent = onEvent
        condition.withLock { running = true }
        let thread = Thread { [self] in run() }
        thread.name = "clipq-memory-transport"
        thread.start()
    }

    public func finish(_ outcome: Outcome) {
        condition.withLock {
            inbox.append(outcome)
            condition.broadcast()
        }
    }

    public func stop(deadline: ContinuousClock.Instant) -> StopReport {
        condition.withLock {
            stopDeadline = deadline
            condition.broadcast()
            while !closed { condition.wait() }
            return report
        }
    }

    public var isRunning: Bool { condition.withLock { running } }

    // MARK: - The transport's thread

    private enum Step {
        case deliver(DeliveryID, AMQPDelivery)
        case outcomes([Outcome])
        case reconnect(lost: Int, now: Int)
        case close
    }

    private func run() {
        onEvent(.connected(generation: condition.withLock { generation }))
        while true {
            switch nextStep() {
            case .deliver(let id, let delivery): onDelivery(id, delivery)
            case .outcomes(let outcomes): for outcome in outcomes { handle(outcome) }
            case .reconnect(let lost, let now):
                onEvent(.connectionLost(generation: lost, error: AMQPError(.connection, "the in-memory connection was dropped"), retryIn: .zero))
                onEvent(.connected(generation: now))
            case .close:
                return
            }
        }
    }

    private func nextStep() -> Step {
        condition.withLock {
            while true {
                if !inbox.isEmpty {
                    defer { inbox.removeAll() }
                    return .outcomes(inbox)
                }
                if lostConnections > 0 {
                    lostConnections -= 1
                    requeueUnsettled()
                    generation += 1
                    return .reconnect(lost: generation - 1, now: generation)
                }
                if let stopDeadline {
                    if unsettled.isEmpty || ContinuousClock.now >= stopDeadline {
                        report.requeued += unsettled.count
                        report.drained = unsettled.isEmpty
                        requeueUnsettled()
                        (running, closed) = (false, true)
                        condition.broadcast()
                        return .close
                    }
                } else if unsettled.count < prefetch, !queue.isEmpty {
                    let message = queue.removeFirst()
                    nextTag += 1
                    unsettled[nextTag] = message
                    let delivery = AMQPDelivery(
                        deliveryTag: nextTag, redelivered: message.redelivered, routingKey: queueName,
                        properties: message.properties, body: message.body)
                    return .deliver(DeliveryID(generation: generation, tag: nextTag), delivery)
                }
                condition.wait(until: Date(timeIntervalSinceNow: 0.02))
            }
        }
    }

    /// Unsettled deliveries go back to the head of the queue, marked redelivered (the broker's
    /// behaviour when a channel closes).
    private func requeueUnsettled() {
        let back = unsettled.sorted { $0.key < $1.key }.map { Message(body: $0.value.body, properties: $0.value.properties, redelivered: true) }
        queue.insert(contentsOf: back, at: 0)
        unsettled.removeAll()
    }

    private func handle(_ outcome: Outcome) {
        let settled: Outcome.Settlement? = condition.withLock {
            guard outcome.delivery.generation == generation, let message = unsettled[outcome.delivery.tag] else { return nil }
            let refused = outcome.publishes.contains { refusing?($0) ?? false }
            if !refused { publishedMessages += outcome.publishes }
            let settlement = refused ? .requeue : outcome.settlement
            unsettled[outcome.delivery.tag] = nil
            if settlement == .requeue {
                queue.insert(Message(body: message.body, properties: message.properties, redelivered: true), at: 0)
            }
            if stopDeadline != nil {
                switch settlement {
                case .ack: report.settled += 1
                case .requeue: report.requeued += 1
                }
            }
            condition.broadcast()
            return settlement
        }
        if let settled {
            onEvent(.settled(outcome.delivery, settled))
        } else {
            onEvent(.staleOutcome(outcome.delivery))
        }
    }
}
