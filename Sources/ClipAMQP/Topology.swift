/// The queues and exchanges clipq needs (DESIGN §2), declared idempotently by every worker at
/// start: a durable quorum queue for requests whose rejected and over-delivered messages go to
/// a fanout dead-letter exchange, and a durable queue behind it for inspection and replay.
public struct Topology: Equatable, Sendable {
    public var requestQueue: String
    public var deadLetterExchange: String
    public var deadLetterQueue: String
    /// Deliveries of one message before the broker dead-letters it (poison messages).
    public var deliveryLimit: Int

    public init(
        requestQueue: String = "clipq.requests", deadLetterExchange: String = "clipq.dlx",
        deadLetterQueue: String = "clipq.dead", deliveryLimit: Int = 5
    ) {
        self.requestQueue = requestQueue
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterQueue = deadLetterQueue
        self.deliveryLimit = deliveryLimit
    }

    /// The request queue's arguments; a queue declared before with others is an error (406).
    public var requestQueueArguments: [String: AMQPFieldValue] {
        [
            "x-queue-type": .string("quorum"),
            "x-delivery-limit": .int(Int64(deliveryLimit)),
            "x-dead-letter-exchange": .string(deadLetterExchange),
        ]
    }

    public func declare(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareExchange(deadLetterExchange, type: "fanout")
        try connection.declareQueue(deadLetterQueue)
        try connection.bindQueue(deadLetterQueue, exchange: deadLetterExchange)
        do {
            try connection.declareQueue(requestQueue, arguments: requestQueueArguments)
        } catch where error.replyCode == 406 {
            throw AMQPError(
                .channelClosed,
                "queue \(requestQueue) exists with other arguments than \(requestQueueArguments) "
                    + "(delete it, or configure the same names and limits): \(error.message)", replyCode: 406)
        }
    }
}
