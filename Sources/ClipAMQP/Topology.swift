/// The traffic a request queue carries. Interactive requests (a user waits) always go first;
/// bulk requests (batch jobs, indexing) fill what interactive traffic leaves.
public enum TrafficLane: String, CaseIterable, Sendable {
    case interactive
    case bulk
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

    /// `bulkQueue` defaults to `clipq.bulk` beside the default request queue, and to
    /// `<requestQueue>.bulk` beside any other.
    public init(
        requestQueue: String = "clipq.requests", bulkQueue: String? = nil, deadLetterExchange: String = "clipq.dlx",
        deadLetterQueue: String = "clipq.dead", deliveryLimit: Int = 5, quorumGroupSize: Int? = nil
    ) {
        self.requestQueue = requestQueue
        self.bulkQueue = bulkQueue ?? (requestQueue == "clipq.requests" ? "clipq.bulk" : "\(requestQueue).bulk")
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterQueue = deadLetterQueue
        self.deliveryLimit = deliveryLimit
        self.quorumGroupSize = quorumGroupSize
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

    public func declare(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareExchange(deadLetterExchange, type: "fanout")
        try connection.declareQueue(deadLetterQueue)
        try connection.bindQueue(deadLetterQueue, exchange: deadLetterExchange)
        for queue in [requestQueue, bulkQueue] {
            do {
                try connection.declareQueue(queue, arguments: requestQueueArguments)
            } catch where error.replyCode == 406 {
                throw AMQPError(
                    .channelClosed,
                    "queue \(queue) exists with other arguments than \(requestQueueArguments) "
                        + "(delete it, or configure the same names, limits and quorum group size): \(error.message)", replyCode: 406)
            }
        }
    }
}
