/// The traffic a request queue carries. Interactive requests (a user waits) always go first;
/// bulk requests (batch jobs, indexing) fill what interactive traffic leaves.
public enum TrafficLane: String, CaseIterable, Sendable {
    case interactive
    case bulk
}

/// How the dead-letter queue is kept: `classic` lives on one node (enough for one broker);
/// `quorum` is replicated like the request queues, which a cluster needs: a worker declares the
/// topology on every (re)connect, and a classic queue whose node is down refuses that (404).
public enum DeadLetterQueueType: String, CaseIterable, Sendable {
    case classic
    case quorum
}

/// The queues and exchanges clipq needs (docs/design.md), declared idempotently by every worker
/// at start: two durable quorum queues for requests (interactive and bulk) whose rejected and
/// over-delivered messages go to a fanout dead-letter exchange, and a durable queue behind it
/// for inspection and replay.
public struct Topology: Equatable, Sendable {
    /// The interactive request queue.
    public var requestQueue: String
    /// The bulk request queue.
    public var bulkQueue: String
    public var deadLetterExchange: String
    public var deadLetterQueue: String
    /// Deliveries of one message before the broker dead-letters it (poison messages).
    public var deliveryLimit: Int
    /// On a cluster, how many nodes hold a replica of each request queue when it is first
    /// declared (`x-quorum-initial-group-size`); nil leaves it to the broker (every node). The
    /// broker checks it as the other arguments: every worker of a fleet gives the same, or none.
    public var quorumGroupSize: Int?
    public var deadLetterQueueType: DeadLetterQueueType

    /// `bulkQueue` defaults to `clipq.bulk` beside the default request queue, and to
    /// `<requestQueue>.bulk` beside any other.
    public init(
        requestQueue: String = "clipq.requests", bulkQueue: String? = nil, deadLetterExchange: String = "clipq.dlx",
        deadLetterQueue: String = "clipq.dead", deliveryLimit: Int = 5, quorumGroupSize: Int? = nil,
        deadLetterQueueType: DeadLetterQueueType = .classic
    ) {
        self.requestQueue = requestQueue
        self.bulkQueue = bulkQueue ?? (requestQueue == "clipq.requests" ? "clipq.bulk" : "\(requestQueue).bulk")
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterQueue = deadLetterQueue
        self.deliveryLimit = deliveryLimit
        self.quorumGroupSize = quorumGroupSize
        self.deadLetterQueueType = deadLetterQueueType
    }

    /// The queue of `lane`.
    public func queue(for lane: TrafficLane) -> String {
        switch lane {
        case .interactive: requestQueue
        case .bulk: bulkQueue
        }
    }

    /// The request queues' arguments; a queue declared before with others is an error (406).
    public var requestQueueArguments: [String: AMQPFieldValue] {
        var arguments: [String: AMQPFieldValue] = [
            "x-queue-type": .string("quorum"),
            "x-delivery-limit": .int(Int64(deliveryLimit)),
            "x-dead-letter-exchange": .string(deadLetterExchange),
        ]
        if let quorumGroupSize { arguments["x-quorum-initial-group-size"] = .int(Int64(quorumGroupSize)) }
        return arguments
    }

    /// The dead-letter queue's arguments; as the request queues', they must match an existing queue.
    public var deadLetterQueueArguments: [String: AMQPFieldValue] {
        switch deadLetterQueueType {
        case .classic: [:]
        case .quorum: ["x-queue-type": .string("quorum")]
        }
    }

    public func declare(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareExchange(deadLetterExchange, type: "fanout")
        try Self.declare(
            deadLetterQueue, deadLetterQueueArguments, on: connection,
            otherwise: "exists as another type than \(deadLetterQueueType.rawValue) (delete it, or configure the type it has)")
        try connection.bindQueue(deadLetterQueue, exchange: deadLetterExchange)
        for queue in [requestQueue, bulkQueue] {
            try Self.declare(
                queue, requestQueueArguments, on: connection,
                otherwise: "exists with other arguments than \(requestQueueArguments) "
                    + "(delete it, or configure the same names, limits and quorum group size)")
        }
    }

    /// Declares `queue`; one declared before with other arguments is refused (406) with `otherwise`
    /// saying what to do.
    private static func declare(
        _ queue: String, _ arguments: [String: AMQPFieldValue], on connection: AMQPConnection, otherwise: String
    ) throws(AMQPError) {
        do {
            try connection.declareQueue(queue, arguments: arguments)
        } catch where error.replyCode == 406 {
            throw AMQPError(.channelClosed, "queue \(queue) \(otherwise): \(error.message)", replyCode: 406)
        }
    }
}
