import Foundation

/// The thread that owns the broker connection (DESIGN §3): it consumes, publishes with
/// confirms, settles deliveries only after their publishes are confirmed, services
/// heartbeats, and reconnects with backoff, each attempt to the next of the broker's nodes. Other threads talk to it through `finish(_:)`.
public final class BrokerLink: Transport, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var settings: AMQPSettings
        public var topology: Topology
        /// Unacknowledged interactive deliveries the broker may hand over at once.
        public var prefetch: Int
        /// The same for bulk deliveries: few, so that bulk work never crowds out interactive work.
        public var bulkPrefetch: Int
        /// The lanes consumed (both, or one for a worker dedicated to a lane).
        public var lanes: [TrafficLane]
        public var initialBackoff: Duration
        public var maxBackoff: Duration
        /// How often the queues' depths are asked of the broker (for metrics).
        public var depthInterval: Duration

        public init(
            settings: AMQPSettings, topology: Topology, prefetch: Int = 32, bulkPrefetch: Int = 8,
            lanes: [TrafficLane] = TrafficLane.allCases, initialBackoff: Duration = .milliseconds(200),
            maxBackoff: Duration = .seconds(30), depthInterval: Duration = .seconds(5)
        ) {
            self.settings = settings
            self.topology = topology
            self.prefetch = prefetch
            self.bulkPrefetch = bulkPrefetch
            self.lanes = lanes
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.depthInterval = depthInterval
        }

        func prefetch(of lane: TrafficLane) -> Int {
            switch lane {
            case .interactive: prefetch
            case .bulk: bulkPrefetch
            }
        }
    }

    private let configuration: Configuration
    // Set by `start` before the link thread exists, read only by it afterwards.
    private var onDelivery: @Sendable (DeliveryID, AMQPDelivery, TrafficLane) -> Void = { _, _, _ in }
    private var onEvent: @Sendable (LinkEvent) -> Void = { _ in }

    /// Pokes the link thread out of poll() when an outcome or a stop arrives.
    private let wakePipe = WakePipe()
    private let lock = NSLock()
    // Guarded by `lock`:
    private var inbox: [Outcome] = []
    private var stopRequested = false
    /// When a stop gives up on what is still in flight and closes.
    private var stopDeadline: ContinuousClock.Instant?
    private var report = StopReport()
    private var running = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the link thread:
    /// The broker's nodes in the order connection attempts go to them: shuffled once, so that
    /// workers spread over a cluster, then round and round, so that the attempt after a failure
    /// goes to another node.
    private let nodes: [AMQPURL]
    private var nextNode = 0
    private var generation = 0
    /// Deliveries received on this generation and not yet settled.
    private var unsettled: Set<UInt64> = []
    /// Publish sequence number -> the delivery it belongs to.
    private var awaitingConfirm: [UInt64: UInt64] = [:]
    private var pendingPublishes: [UInt64: (remaining: Int, nacked: Bool, settlement: Outcome.Settlement)] = [:]
    private var blockedOutbox: [Outcome] = []
    private var isBlocked = false
    /// The consumers of this generation and the lane each serves (kept after a cancel: deliveries
    /// already on their way still name them).
    private var consumers: [String: TrafficLane] = [:]
    private var consuming = false
    private var lastDepthCheck: ContinuousClock.Instant?

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        nodes = configuration.settings.urls.shuffled()
    }

    public func start(
        onDelivery: @escaping @Sendable (DeliveryID, AMQPDelivery, TrafficLane) -> Void, onEvent: @escaping @Sendable (LinkEvent) -> Void
    ) {
        self.onDelivery = onDelivery
        self.onEvent = onEvent
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

    /// Stops consuming, settles what is in flight as outcomes arrive, and closes when nothing
    /// is left or at `deadline`, leaving what is unsettled to the broker, which requeues it.
    public func stop(deadline: ContinuousClock.Instant) -> StopReport {
        lock.withLock {
            stopRequested = true
            stopDeadline = deadline
        }
        wake()
        // The link thread closes at the deadline; a connect stuck in the network gets a moment more.
        let margin = max(deadline - .now, .zero) + .seconds(2)
        let closed = finished.wait(timeout: .now() + margin / .seconds(1)) == .success
        return lock.withLock {
            var report = report
            report.drained = report.drained && closed
            return report
        }
    }

    private var isStopping: Bool { lock.withLock { stopRequested } }

    private var isPastStopDeadline: Bool {
        lock.withLock { stopDeadline.map { ContinuousClock.now >= $0 } ?? false }
    }

    /// Whether the link thread runs (from `start` until it has closed after `stop`).
    public var isRunning: Bool { lock.withLock { running } }

    private func wake() {
        wakePipe.wake()
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
        let node = nodes[nextNode % nodes.count]
        nextNode += 1
        let connection = try AMQPConnection(configuration.settings, node: node)
        try configuration.topology.declare(on: connection)
        try connection.enableConfirms()
        generation += 1
        // basic.qos applies to the consumers started after it: each lane gets its own prefetch.
        for lane in configuration.lanes {
            try connection.setPrefetch(configuration.prefetch(of: lane))
            consumers[try connection.consume(configuration.topology.queue(for: lane))] = lane
        }
        consuming = true
        onEvent(.connected(generation: generation, node: node.node))
        return connection
    }

    /// Deliveries of a lost connection will be redelivered: forget them and their confirms.
    private func forgetGeneration() {
        unsettled.removeAll()
        awaitingConfirm.removeAll()
        pendingPublishes.removeAll()
        blockedOutbox.removeAll()
        isBlocked = false
        consumers.removeAll()
        consuming = false
    }

    private func serve(_ connection: AMQPConnection) throws(AMQPError) {
        while true {
            if isStopping && consuming {
                for tag in consumers.keys { try connection.cancel(consumerTag: tag) }
                consuming = false
            } else if consuming {
                try reportDepths(connection)
            }
            try handleOutcomes(connection)
            if !consuming && unsettled.isEmpty { return }  // stopped and drained
            if isPastStopDeadline {
                // Out of time: closing the channel hands every unacked delivery back to the queue.
                lock.withLock {
                    report.requeued += unsettled.count
                    report.drained = false
                }
                return
            }
            waitForInput(connection, timeout: 100)
            // Drain what arrived; nextEvent with a zero timeout also services heartbeats.
            while let event = try connection.nextEvent(timeout: .zero) {
                try handle(event, connection)
            }
        }
    }

    private func waitForInput(_ connection: AMQPConnection, timeout milliseconds: Int32) {
        wakePipe.wait(for: connection, timeout: milliseconds)
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
            let lane = consumers[delivery.consumerTag] ?? .interactive
            onDelivery(DeliveryID(generation: generation, tag: delivery.deliveryTag), delivery, lane)
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
        if isStopping {
            lock.withLock {
                switch settlement {
                case .ack: report.settled += 1
                case .requeue: report.requeued += 1
                }
            }
        }
        onEvent(.settled(DeliveryID(generation: generation, tag: tag), settlement))
    }

    /// Every `depthInterval`, how many messages wait in each lane's queue (a passive declare).
    private func reportDepths(_ connection: AMQPConnection) throws(AMQPError) {
        let now = ContinuousClock.now
        if let last = lastDepthCheck, now - last < configuration.depthInterval { return }
        lastDepthCheck = now
        for lane in configuration.lanes {
            let depth = try connection.declareQueue(configuration.topology.queue(for: lane), passive: true).messageCount
            onEvent(.queueDepth(lane, messages: depth))
        }
    }

    /// Sleeps for the backoff, waking early to stop.
    private func sleep(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while !isStopping && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
