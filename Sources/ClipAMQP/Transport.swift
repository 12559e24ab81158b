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
    /// Connected to `node` (`host:port`; nil where there is no broker, in memory).
    case connected(generation: Int, node: String? = nil)
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
    /// Messages ready in a lane's queue, as the broker last said (for metrics and autoscaling).
    case queueDepth(TrafficLane, messages: Int)
}

/// How a stop ended: how many deliveries were settled after it began, and how many were
/// given back to the queue (requeued, or left unsettled when the connection closed, which the
/// broker requeues).
public struct StopReport: Equatable, Sendable {
    public var settled: Int
    public var requeued: Int
    /// Whether everything in flight was settled before the deadline.
    public var drained: Bool

    public init(settled: Int = 0, requeued: Int = 0, drained: Bool = true) {
        self.settled = settled
        self.requeued = requeued
        self.drained = drained
    }
}

/// What the worker needs from a message broker, and all it knows of one: deliveries come in,
/// each leaves as one `Outcome`, and the transport tells of its connection. `BrokerLink` is
/// the RabbitMQ implementation; `InMemoryTransport` runs the same pipeline without a broker.
///
/// Rules every implementation keeps: a delivery is settled only after every publish of its
/// outcome is confirmed; deliveries of a lost connection generation are void (redelivered by
/// the queue) and outcomes for them are dropped as `staleOutcome`.
public protocol Transport: AnyObject, Sendable {
    /// Starts consuming; `onDelivery` (with the lane the delivery came from) and `onEvent` are
    /// called from the transport's own thread.
    func start(
        onDelivery: @escaping @Sendable (DeliveryID, AMQPDelivery, TrafficLane) -> Void, onEvent: @escaping @Sendable (LinkEvent) -> Void)
    /// Hands over how a delivery ends (from any thread).
    func finish(_ outcome: Outcome)
    /// Stops consuming and settles outcomes as they arrive until nothing is in flight or
    /// `deadline` comes; then closes, and whatever is still unsettled goes back to the queue.
    /// Blocks until closed.
    func stop(deadline: ContinuousClock.Instant) -> StopReport
    /// Whether the transport's thread runs (from `start` until it has closed).
    var isRunning: Bool { get }
}
