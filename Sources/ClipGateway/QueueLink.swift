import ClipAMQP
import Foundation

/// What became of one request handed to the queue.
public enum QueueOutcome: Sendable {
    /// The worker's reply (embeddings or an error reply of the contract).
    case reply(AMQPDelivery)
    /// The broker is unreachable, blocked, refused the message or lost the connection before
    /// the reply: nothing will answer this request (HTTP 503).
    case unavailable(String)
    /// The deadline passed with no reply (HTTP 504).
    case timedOut
}

/// The broker's state as the gateway's readiness and metrics report it.
public enum LinkState: String, Sendable {
    case connecting
    case connected
    /// The broker stopped reading publishes (memory or disk alarm).
    case blocked
    case disconnected
    case stopped
}

/// One request on its way to the queue.
public struct QueueRequest: Sendable {
    public var body: [UInt8]
    /// Headers besides `x-deadline` (trace context, request id).
    public var headers: [String: AMQPFieldValue]
    public var deadline: ContinuousClock.Instant

    public init(body: [UInt8], headers: [String: AMQPFieldValue] = [:], deadline: ContinuousClock.Instant) {
        self.body = body
        self.headers = headers
        self.deadline = deadline
    }
}

/// The thread that owns the gateway's broker connection (librabbitmq is not thread-safe).
/// HTTP handlers hand it requests and await their outcome; it publishes each with a fresh
/// correlation id and publisher confirms, consumes RabbitMQ's direct reply-to on the same channel
/// (no queue per request), resumes each waiter by correlation id, expires waiters at their
/// deadline, and reconnects with backoff. While it is not connected, or the broker is blocked,
/// requests fail at once: a request never waits on a connection that is not there.
public final class QueueLink: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var settings: AMQPSettings
        public var topology: Topology
        /// The request queue published to: interactive, or bulk for a gateway in front of indexers.
        public var lane: TrafficLane
        public var initialBackoff: Duration
        public var maxBackoff: Duration

        public init(
            settings: AMQPSettings, topology: Topology, lane: TrafficLane = .interactive, initialBackoff: Duration = .milliseconds(200),
            maxBackoff: Duration = .seconds(10)
        ) {
            self.settings = settings
            self.topology = topology
            self.lane = lane
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    /// RabbitMQ's pseudo-queue for replies straight to the consuming channel.
    public static let directReplyTo = "amq.rabbitmq.reply-to"

    private let configuration: Configuration
    private let onEvent: @Sendable (LinkEvent) -> Void

    private struct Waiter {
        var continuation: CheckedContinuation<QueueOutcome, Never>
        var deadline: ContinuousClock.Instant
    }

    private struct Outgoing {
        var correlationID: String
        var request: QueueRequest
    }

    /// Pokes the link thread out of poll() when an outcome or a stop arrives.
    private let wakePipe = WakePipe()
    private let lock = NSLock()
    // Guarded by `lock`:
    private var waiters: [String: Waiter] = [:]
    private var outbox: [Outgoing] = []
    private var currentState: LinkState = .connecting
    private var stopRequested = false
    private var nextID: UInt64 = 0
    private let idPrefix = UUID().uuidString.lowercased()
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the link thread:
    /// Publish sequence number -> the correlation id it carried, until confirmed.
    private var unconfirmed: [UInt64: String] = [:]

    /// The link thread's events, for logs and metrics.
    public enum LinkEvent: Sendable {
        case connected
        case connectionLost(error: String, retryIn: Duration)
        case blocked(reason: String)
        case unblocked
        /// A reply whose waiter is gone (its deadline passed first).
        case lateReply(correlationID: String)
    }

    public init(_ configuration: Configuration, onEvent: @escaping @Sendable (LinkEvent) -> Void = { _ in }) {
        self.configuration = configuration
        self.onEvent = onEvent
    }

    public var state: LinkState { lock.withLock { currentState } }

    /// Requests published or about to be, awaiting their reply.
    public var pendingCount: Int { lock.withLock { waiters.count } }

    public func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "clipq-gateway-amqp"
        thread.start()
    }

    /// Fails whatever waits, closes the connection and ends the thread.
    public func stop() {
        lock.withLock { stopRequested = true }
        wake()
        _ = finished.wait(timeout: .now() + 15)
    }

    /// Publishes `request` and waits for its reply until its deadline.
    public func send(_ request: QueueRequest) async -> QueueOutcome {
        await withCheckedContinuation { continuation in
            let refusal: String? = lock.withLock {
                switch currentState {
                case .connected: break
                case .blocked: return "the broker is blocking publishers (memory or disk alarm)"
                case .connecting, .disconnected: return "the broker is not reachable"
                case .stopped: return "the gateway is stopping"
                }
                nextID += 1
                let correlationID = "\(idPrefix)-\(nextID)"
                waiters[correlationID] = Waiter(continuation: continuation, deadline: request.deadline)
                outbox.append(Outgoing(correlationID: correlationID, request: request))
                return nil
            }
            if let refusal {
                continuation.resume(returning: .unavailable(refusal))
            } else {
                wake()
            }
        }
    }

    private func wake() {
        wakePipe.wake()
    }

    private var isStopping: Bool { lock.withLock { stopRequested } }

    private func setState(_ state: LinkState) {
        lock.withLock { currentState = state }
    }

    /// Resumes the waiter of `correlationID`, if it still waits; exactly once, whoever calls.
    @discardableResult
    private func resume(_ correlationID: String, with outcome: QueueOutcome) -> Bool {
        guard let waiter = lock.withLock({ waiters.removeValue(forKey: correlationID) }) else { return false }
        waiter.continuation.resume(returning: outcome)
        return true
    }

    /// Fails every waiter and everything not yet published (the connection is gone, or going).
    private func failAll(_ reason: String) {
        let failed = lock.withLock { () -> [Waiter] in
            defer {
                waiters.removeAll()
                outbox.removeAll()
            }
            return Array(waiters.values)
        }
        for waiter in failed { waiter.continuation.resume(returning: .unavailable(reason)) }
        unconfirmed.removeAll()
    }

    // MARK: - The link thread

    private func run() {
        var backoff = configuration.initialBackoff
        while !isStopping {
            do {
                let connection = try connect()
                backoff = configuration.initialBackoff
                setState(.connected)
                onEvent(.connected)
                try serve(connection)
                connection.close()
            } catch {
                setState(.disconnected)
                failAll("the connection to the broker was lost: \(error.message)")
                onEvent(.connectionLost(error: error.description, retryIn: backoff))
                sleep(backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
        lock.withLock { currentState = .stopped }
        failAll("the gateway is stopping")
    }

    private func connect() throws(AMQPError) -> AMQPConnection {
        let connection = try AMQPConnection(configuration.settings)
        // The same idempotent declaration the workers make, so requests can wait in the queue
        // for a worker that has not started yet (until their deadline).
        try configuration.topology.declare(on: connection)
        try connection.enableConfirms()
        // Direct reply-to: consume before publishing, in no-ack mode, on the publishing channel.
        try connection.consume(Self.directReplyTo, noAck: true)
        return connection
    }

    private func serve(_ connection: AMQPConnection) throws(AMQPError) {
        while !isStopping {
            try publishOutbox(connection)
            expireWaiters()
            waitForInput(connection, timeout: pollTimeout())
            while let event = try connection.nextEvent(timeout: .zero) {
                handle(event)
            }
        }
    }

    private func publishOutbox(_ connection: AMQPConnection) throws(AMQPError) {
        let (outgoing, blocked) = lock.withLock { () -> ([Outgoing], Bool) in
            defer { outbox.removeAll() }
            return (outbox, currentState == .blocked)
        }
        for item in outgoing {
            if blocked {
                resume(item.correlationID, with: .unavailable("the broker is blocking publishers (memory or disk alarm)"))
                continue
            }
            // A waiter whose deadline passed before its turn needs no publish.
            guard lock.withLock({ waiters[item.correlationID] != nil }) else { continue }
            var headers = item.request.headers
            headers["x-deadline"] = .int(Self.epochMilliseconds(item.request.deadline))
            let properties = AMQPProperties(
                contentType: "application/json", headers: headers, correlationID: item.correlationID,
                replyTo: Self.directReplyTo)
            let sequence = try connection.publish(
                routingKey: configuration.topology.queue(for: configuration.lane), body: item.request.body, properties: properties,
                mandatory: true)
            unconfirmed[sequence] = item.correlationID
        }
    }

    private func handle(_ event: AMQPEvent) {
        switch event {
        case .delivery(let delivery):
            let id = delivery.properties.correlationID ?? ""
            if !resume(id, with: .reply(delivery)) { onEvent(.lateReply(correlationID: id)) }
        case .acked(let sequence, let multiple):
            settleConfirms(sequence, multiple: multiple, refused: false)
        case .nacked(let sequence, let multiple):
            settleConfirms(sequence, multiple: multiple, refused: true)
        case .returned(let returned):
            // No queue took it: nothing will ever answer.
            if let id = returned.properties.correlationID {
                resume(id, with: .unavailable("the broker could not route the request to \(returned.routingKey): \(returned.replyText)"))
            }
        case .consumerCancelled:
            // Cannot happen for direct reply-to short of the channel closing; answer promptly anyway.
            failAll("the broker cancelled the reply consumer")
        case .blocked(let reason):
            setState(.blocked)
            onEvent(.blocked(reason: reason))
        case .unblocked:
            setState(.connected)
            onEvent(.unblocked)
        }
    }

    private func settleConfirms(_ sequence: UInt64, multiple: Bool, refused: Bool) {
        let sequences = multiple ? unconfirmed.keys.filter { $0 <= sequence } : [sequence]
        for sequence in sequences {
            guard let id = unconfirmed.removeValue(forKey: sequence), refused else { continue }
            resume(id, with: .unavailable("the broker refused the request (nack)"))
        }
    }

    private func expireWaiters() {
        let now = ContinuousClock.now
        let expired = lock.withLock { () -> [Waiter] in
            let ids = waiters.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { waiters.removeValue(forKey: $0) }
        }
        for waiter in expired { waiter.continuation.resume(returning: .timedOut) }
    }

    /// Until the earliest deadline, at most 100 ms (heartbeats and stop requests need a look).
    private func pollTimeout() -> Int32 {
        let earliest = lock.withLock { waiters.values.map(\.deadline).min() }
        guard let earliest else { return 100 }
        let milliseconds = (earliest - .now) / .milliseconds(1)
        return Int32(max(0, min(100, milliseconds.rounded(.up))))
    }

    private func waitForInput(_ connection: AMQPConnection, timeout milliseconds: Int32) {
        wakePipe.wait(for: connection, timeout: milliseconds)
    }

    /// Sleeps for the backoff, waking early to stop.
    private func sleep(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while !isStopping && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// The wall-clock time of a monotonic instant, for the `x-deadline` header workers read.
    static func epochMilliseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        let remaining = (instant - .now) / .milliseconds(1)
        return Int64((Date().timeIntervalSince1970 * 1000 + remaining).rounded())
    }
}
