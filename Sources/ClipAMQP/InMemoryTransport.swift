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

    /// The queues the requests are consumed from (the routing key of their deliveries).
    public let topology: Topology
    private let prefetch: [TrafficLane: Int]

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queues: [TrafficLane: [Message]] = [:]
    private var unsettled: [UInt64: (message: Message, lane: TrafficLane)] = [:]
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

    public init(topology: Topology = Topology(), prefetch: Int = 32, bulkPrefetch: Int = 8) {
        self.topology = topology
        self.prefetch = [.interactive: max(1, prefetch), .bulk: max(1, bulkPrefetch)]
    }

    // MARK: - The test's side: the publishers and the broker

    /// Puts a request in a lane's queue, as a client's publish would.
    public func enqueue(_ body: [UInt8], properties: AMQPProperties, lane: TrafficLane = .interactive) {
        condition.withLock {
            queues[lane, default: []].append(Message(body: body, properties: properties, redelivered: false))
            condition.broadcast()
        }
    }

    /// Every message the pipeline published (and the transport confirmed), in order.
    public var published: [OutgoingMessage] { condition.withLock { publishedMessages } }

    /// Requests waiting in the queues, not delivered.
    public var queuedCount: Int { condition.withLock { queues.values.reduce(0) { $0 + $1.count } } }

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

    private var onDelivery: @Sendable (DeliveryID, AMQPDelivery, TrafficLane) -> Void = { _, _, _ in }
    private var onEvent: @Sendable (LinkEvent) -> Void = { _ in }

    public func start(
        onDelivery: @escaping @Sendable (DeliveryID, AMQPDelivery, TrafficLane) -> Void, onEvent: @escaping @Sendable (LinkEvent) -> Void
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
            while running && !closed { condition.wait() }  // never started: nothing to settle
            return report
        }
    }

    public var isRunning: Bool { condition.withLock { running } }

    // MARK: - The transport's thread

    private enum Step {
        case deliver(DeliveryID, AMQPDelivery, TrafficLane)
        case outcomes([Outcome])
        case reconnect(lost: Int, now: Int)
        case close
    }

    private func run() {
        onEvent(.connected(generation: condition.withLock { generation }))
        while true {
            switch nextStep() {
            case .deliver(let id, let delivery, let lane): onDelivery(id, delivery, lane)
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
                } else if let lane = TrafficLane.allCases.first(where: { lane in
                    !(queues[lane]?.isEmpty ?? true) && unsettled.values.filter { $0.lane == lane }.count < prefetch[lane] ?? 1
                }) {
                    let message = queues[lane, default: []].removeFirst()
                    nextTag += 1
                    unsettled[nextTag] = (message, lane)
                    let delivery = AMQPDelivery(
                        deliveryTag: nextTag, redelivered: message.redelivered, routingKey: topology.queue(for: lane),
                        properties: message.properties, body: message.body)
                    return .deliver(DeliveryID(generation: generation, tag: nextTag), delivery, lane)
                }
                condition.wait(until: Date(timeIntervalSinceNow: 0.02))
            }
        }
    }

    /// Unsettled deliveries go back to the head of the queue, marked redelivered (the broker's
    /// behaviour when a channel closes).
    private func requeueUnsettled() {
        for (_, entry) in unsettled.sorted(by: { $0.key > $1.key }) { requeue(entry.message, lane: entry.lane) }
        unsettled.removeAll()
    }

    private func requeue(_ message: Message, lane: TrafficLane) {
        var message = message
        message.redelivered = true
        queues[lane, default: []].insert(message, at: 0)
    }

    private func handle(_ outcome: Outcome) {
        let settled: Outcome.Settlement? = condition.withLock {
            guard outcome.delivery.generation == generation, let (message, lane) = unsettled[outcome.delivery.tag] else { return nil }
            let refused = outcome.publishes.contains { refusing?($0) ?? false }
            if !refused { publishedMessages += outcome.publishes }
            let settlement = refused ? .requeue : outcome.settlement
            unsettled[outcome.delivery.tag] = nil
            if settlement == .requeue { requeue(message, lane: lane) }
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
