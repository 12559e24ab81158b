import Foundation

/// Identifies a delivery across reconnects: delivery tags are only meaningful on the
/// connection (generation) that delivered them.
public struct DeliveryID: Hashable, Sendable, CustomStringConvertible {
    public var generation: Int
    public var tag: UInt64
    public var description: String { "\(generation).\(tag)" }

    public init(generation: Int, tag: UInt64) {
        self.generation = generation
        self.tag = tag
    }
}

/// A message to publish as part of finishing a delivery.
public struct OutgoingMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var mandatory: Bool

    public init(exchange: String = "", routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool = true) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// How a delivery ends: publish these messages, and once the broker has confirmed every one,
/// settle the delivery. A nacked publish requeues the delivery instead, so it is tried again.
public struct Outcome: Sendable {
    public enum Settlement: Sendable {
        case ack
        /// Give it back to the queue (it counts against the delivery limit).
        case requeue
    }

    public var delivery: DeliveryID
    public var publishes: [OutgoingMessage]
    public var settlement: Settlement

    public init(delivery: DeliveryID, publishes: [OutgoingMessage], settlement: Settlement = .ack) {
        self.delivery = delivery
        self.publishes = publishes
        self.settlement = settlement
    }
}

/// What the link tells its owner besides deliveries (for logs and metrics).
public enum LinkEvent: Sendable {
    case connected(generation: Int)
    /// The connection failed; every delivery of that generation is void (the broker will
    /// redeliver it) and the link reconnects after `retryIn`.
    case connectionLost(generation: Int, error: AMQPError, retryIn: Duration)
    /// A reply could not be routed (its reply queue is gone); the delivery is still settled.
    case returned(AMQPReturn)
    case settled(DeliveryID, Outcome.Settlement)
    /// An outcome arrived for a generation that is gone; it was dropped.
    case staleOutcome(DeliveryID)
    case blocked(reason: String)
    case unblocked
}

/// The thread that owns the broker connection (DESIGN §3): it consumes, publishes with
/// confirms, settles deliveries only after their publishes are confirmed, services
/// heartbeats, and reconnects with backoff. Other threads talk to it through `finish(_:)`.
public final class BrokerLink: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var settings: AMQPSettings
        public var topology: Topology
        public var prefetch: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration

        public init(
            settings: AMQPSettings, topology: Topology, prefetch: Int = 32, initialBackoff: Duration = .milliseconds(200),
            maxBackoff: Duration = .seconds(30)
        ) {
            self.settings = settings
            self.topology = topology
            self.prefetch = prefetch
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    private let configuration: Configuration
    private let onDelivery: @Sendable (DeliveryID, AMQPDelivery) -> Void
    private let onEvent: @Sendable (LinkEvent) -> Void

    /// A pipe whose write end any thread pokes to wake the link thread out of poll().
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSLock()
    // Guarded by `lock`:
    private var inbox: [Outcome] = []
    private var stopRequested = false
    private var running = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the link thread:
    private var generation = 0
    /// Deliveries received on this generation and not yet settled.
    private var unsettled: Set<UInt64> = []
    /// Publish sequence number -> the delivery it belongs to.
    private var awaitingConfirm: [UInt64: UInt64] = [:]
    private var pendingPublishes: [UInt64: (remaining: Int, nacked: Bool, settlement: Outcome.Settlement)] = [:]
    private var blockedOutbox: [Outcome] = []
    private var isBlocked = false
    private var consumerTag: String?

    public init(
        _ configuration: Configuration, onDelivery: @escaping @Sendable (DeliveryID, AMQPDelivery) -> Void,
        onEvent: @escaping @Sendable (LinkEvent) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.onDelivery = onDelivery
        self.onEvent = onEvent
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        (wakeRead, wakeWrite) = (fds[0], fds[1])
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    public func start() {
        let thread = Thread { [self] in
            run()
            lock.withLock { running = false }
            finished.signal()
        }
        thread.name = "clipq-amqp"
        lock.withLock {
            self.thread = thread
            running = true
        }
        thread.start()
    }

    /// Hands an outcome to the link thread (from any thread).
    public func finish(_ outcome: Outcome) {
        lock.withLock { inbox.append(outcome) }
        wake()
    }

    /// Stops consuming, settles what is in flight as outcomes arrive, then closes. Returns
    /// when the link thread has ended or `timeout` passed (then unsettled deliveries are left
    /// to the broker, which redelivers them).
    public func stop(timeout: Duration) -> Bool {
        lock.withLock { stopRequested = true }
        wake()
        return finished.wait(timeout: .now() + timeout / .seconds(1)) == .success
    }

    private var isStopping: Bool { lock.withLock { stopRequested } }

    /// Whether the link thread runs (from `start` until it has closed after `stop`).
    public var isRunning: Bool { lock.withLock { running } }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The link thread

    private func run() {
        var backoff = configuration.initialBackoff
        while !isStopping {
            do {
                let connection = try connect()
                backoff = configuration.initialBackoff
                try serve(connection)
                connection.close()
                return
            } catch {
                forgetGeneration()
                onEvent(.connectionLost(generation: generation, error: error, retryIn: backoff))
                sleep(backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
    }

    private func connect() throws(AMQPError) -> AMQPConnection {
        let connection = try AMQPConnection(configuration.settings)
        try configuration.topology.declare(on: connection)
        try connection.enableConfirms()
        try connection.setPrefetch(configuration.prefetch)
        generation += 1
        consumerTag = try connection.consume(configuration.topology.requestQueue)
        onEvent(.connected(generation: generation))
        return connection
    }

    /// Deliveries of a lost connection will be redelivered: forget them and their confirms.
    private func forgetGeneration() {
        unsettled.removeAll()
        awaitingConfirm.removeAll()
        pendingPublishes.removeAll()
        blockedOutbox.removeAll()
        isBlocked = false
        consumerTag = nil
    }

    private func serve(_ connection: AMQPConnection) throws(AMQPError) {
        while true {
            if isStopping, let tag = consumerTag {
                try connection.cancel(consumerTag: tag)
                consumerTag = nil
            }
            try handleOutcomes(connection)
            if consumerTag == nil && unsettled.isEmpty { return }  // stopped and drained
            waitForInput(connection, timeout: 100)
            // Drain what arrived; nextEvent with a zero timeout also services heartbeats.
            while let event = try connection.nextEvent(timeout: .zero) {
                try handle(event, connection)
            }
        }
    }

    private func waitForInput(_ connection: AMQPConnection, timeout milliseconds: Int32) {
        if connection.hasBufferedInput { return }
        var fds = [
            pollfd(fd: connection.socketDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 2, milliseconds)
        var drain = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &drain, drain.count) > 0 {}
    }

    private func handleOutcomes(_ connection: AMQPConnection) throws(AMQPError) {
        var outcomes = lock.withLock { () -> [Outcome] in
            defer { inbox.removeAll() }
            return inbox
        }
        if isBlocked {
            blockedOutbox += outcomes
            return
        }
        outcomes = blockedOutbox + outcomes
        blockedOutbox.removeAll()
        for outcome in outcomes {
            guard outcome.delivery.generation == generation, unsettled.contains(outcome.delivery.tag) else {
                onEvent(.staleOutcome(outcome.delivery))
                continue
            }
            let tag = outcome.delivery.tag
            if outcome.publishes.isEmpty {
                try settle(tag, outcome.settlement, connection)
                continue
            }
            pendingPublishes[tag] = (outcome.publishes.count, false, outcome.settlement)
            for message in outcome.publishes {
                let sequence = try connection.publish(
                    exchange: message.exchange, routingKey: message.routingKey, body: message.body,
                    properties: message.properties, mandatory: message.mandatory)
                awaitingConfirm[sequence] = tag
            }
        }
    }

    private func handle(_ event: AMQPEvent, _ connection: AMQPConnection) throws(AMQPError) {
        switch event {
        case .delivery(let delivery):
            unsettled.insert(delivery.deliveryTag)
            onDelivery(DeliveryID(generation: generation, tag: delivery.deliveryTag), delivery)
        case .acked(let sequence, let multiple):
            try confirm(sequence, multiple: multiple, nacked: false, connection)
        case .nacked(let sequence, let multiple):
            try confirm(sequence, multiple: multiple, nacked: true, connection)
        case .returned(let returned):
            onEvent(.returned(returned))
        case .consumerCancelled:
            throw AMQPError(.connection, "the broker cancelled the consumer (queue deleted or moved)")
        case .blocked(let reason):
            isBlocked = true
            onEvent(.blocked(reason: reason))
        case .unblocked:
            isBlocked = false
            onEvent(.unblocked)
        }
    }

    private func confirm(_ sequence: UInt64, multiple: Bool, nacked: Bool, _ connection: AMQPConnection) throws(AMQPError) {
        let sequences = multiple ? awaitingConfirm.keys.filter { $0 <= sequence } : [sequence]
        for sequence in sequences {
            guard let tag = awaitingConfirm.removeValue(forKey: sequence), var pending = pendingPublishes[tag] else { continue }
            pending.remaining -= 1
            pending.nacked = pending.nacked || nacked
            if pending.remaining > 0 {
                pendingPublishes[tag] = pending
            } else {
                pendingPublishes[tag] = nil
                try settle(tag, pending.nacked ? .requeue : pending.settlement, connection)
            }
        }
    }

    private func settle(_ tag: UInt64, _ settlement: Outcome.Settlement, _ connection: AMQPConnection) throws(AMQPError) {
        switch settlement {
        case .ack: try connection.ack(tag)
        case .requeue: try connection.reject(tag, requeue: true)
        }
        unsettled.remove(tag)
        onEvent(.settled(DeliveryID(generation: generation, tag: tag), settlement))
    }

    /// Sleeps for the backoff, waking early to stop.
    private func sleep(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while !isStopping && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
