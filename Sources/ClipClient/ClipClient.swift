import ClipAMQP
import ClipSchema
import Foundation

/// What a request came back as.
public enum ClipReply: Sendable {
    case embeddings([ReplyRow])
    case error(ClipError)
}

/// Why no reply came back.
public struct ClipClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case broker, timeout, badReply = "bad_reply"
    }

    public var kind: Kind
    public var message: String
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// A client of clipq workers, as another service would write one: publishes a request with a
/// `reply_to` (its own exclusive queue) and a `correlation_id`, and waits for the matching
/// reply. One connection, to the first of the broker's nodes (in random order) that answers;
/// calls from several threads take turns. Replies to requests that
/// timed out are dropped when they arrive.
public final class ClipClient: @unchecked Sendable {
    private let connection: AMQPConnection
    private let queue: String
    private let replyQueue: String
    private let lock = NSLock()
    private let waiter = DispatchQueue(label: "clipq.client")

    public init(settings: AMQPSettings, queue: String = "clipq.requests") throws(AMQPError) {
        connection = try AMQPConnection(settings)
        self.queue = queue
        replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try connection.enableConfirms()
        try connection.consume(replyQueue)
    }

    /// A client of the fleet serving `topology`, sending to the queue of `lane`: interactive for
    /// requests someone waits for, bulk for batch work that should never delay them.
    /// The broker node this client reached.
    public var node: AMQPURL { connection.node }

    public convenience init(settings: AMQPSettings, topology: Topology, lane: TrafficLane = .interactive) throws(AMQPError) {
        try self.init(settings: settings, queue: topology.queue(for: lane))
    }

    /// Sends a request body (JSON of the contract) and waits up to `timeout` for its reply.
    /// `deadline` becomes the `x-deadline` header: workers answer `deadline_exceeded` after it.
    /// `correlationID` is the caller's own, to find the request again (in logs, dead letters).
    public func send(
        _ body: [UInt8], timeout: Duration = .seconds(60), deadline: Date? = nil, persistent: Bool = true,
        correlationID: String = UUID().uuidString
    ) throws(ClipClientError) -> ClipReply {
        lock.lock()
        defer { lock.unlock() }
        let until = ContinuousClock.now + timeout
        try publishUnlocked(body, correlationID: correlationID, deadline: deadline, persistent: persistent)
        while ContinuousClock.now < until {
            if let (id, reply) = try nextReplyUnlocked(timeout: .milliseconds(50)), id == correlationID { return reply }
        }
        throw ClipClientError(kind: .timeout, message: "no reply within \(timeout)")
    }

    /// Publishes a request without waiting for its reply (several may be out at once); collect
    /// the replies with `nextReply`. Returns as soon as the message is written: a refusal by the
    /// broker (nack, or no queue took it) surfaces from a later `nextReply`.
    public func publish(_ body: [UInt8], correlationID: String, deadline: Date? = nil, persistent: Bool = true)
        throws(ClipClientError)
    {
        lock.lock()
        defer { lock.unlock() }
        try publishUnlocked(body, correlationID: correlationID, deadline: deadline, persistent: persistent)
    }

    /// The next reply to arrive within `timeout` with its correlation id, or nil.
    public func nextReply(timeout: Duration) throws(ClipClientError) -> (correlationID: String, reply: ClipReply)? {
        lock.lock()
        defer { lock.unlock() }
        let until = ContinuousClock.now + timeout
        repeat {
            if let reply = try nextReplyUnlocked(timeout: min(.milliseconds(50), timeout)) { return reply }
        } while ContinuousClock.now < until
        return nil
    }

    private func publishUnlocked(_ body: [UInt8], correlationID: String, deadline: Date?, persistent: Bool) throws(ClipClientError) {
        var headers: [String: AMQPFieldValue] = [:]
        if let deadline { headers["x-deadline"] = .int(Int64(deadline.timeIntervalSince1970 * 1000)) }
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: persistent ? 2 : 1,
            correlationID: correlationID, replyTo: replyQueue)
        do {
            _ = try connection.publish(routingKey: queue, body: body, properties: properties, mandatory: true)
        } catch {
            throw ClipClientError(kind: .broker, message: error.description)
        }
    }

    /// One step of the connection: a reply (acked), nil on anything else; a refused request throws.
    private func nextReplyUnlocked(timeout: Duration) throws(ClipClientError) -> (correlationID: String, reply: ClipReply)? {
        do {
            switch try connection.nextEvent(timeout: timeout) {
            case .nacked?:
                throw ClipClientError(kind: .broker, message: "the broker refused a request (nack)")
            case .returned(let returned)?:
                throw ClipClientError(
                    kind: .broker, message: "no queue \(queue) took a request (\(returned.replyText)): are workers running against this broker?")
            case .delivery(let delivery)?:
                try connection.ack(delivery.deliveryTag)
                guard let id = delivery.properties.correlationID else { return nil }
                return (id, try Self.decode(delivery))
            default:
                return nil
            }
        } catch let error as AMQPError {
            throw ClipClientError(kind: .broker, message: error.description)
        } catch let error as ClipClientError {
            throw error
        } catch {
            throw ClipClientError(kind: .broker, message: "\(error)")
        }
    }

    /// Embeds images (URL, base64 or data URI) and texts, one row each, images first.
    public func embed(images: [String] = [], texts: [String] = [], timeout: Duration = .seconds(60))
        throws(ClipClientError) -> ClipReply
    {
        try send(RequestEncoder.encode(images: images, texts: texts), timeout: timeout)
    }

    /// `send` for async code: the wait happens on a thread of the client's own, not the caller's
    /// executor. Calls still take turns on the one connection.
    public func send(_ body: [UInt8], timeout: Duration = .seconds(60), deadline: Date? = nil, persistent: Bool = true)
        async throws(ClipClientError) -> ClipReply
    {
        let result: Result<ClipReply, ClipClientError> = await withCheckedContinuation { continuation in
            waiter.async {
                continuation.resume(returning: Result { () throws(ClipClientError) in
                    try self.send(body, timeout: timeout, deadline: deadline, persistent: persistent)
                })
            }
        }
        return try result.get()
    }

    /// `embed` for async code.
    public func embed(images: [String] = [], texts: [String] = [], timeout: Duration = .seconds(60))
        async throws(ClipClientError) -> ClipReply
    {
        try await send(RequestEncoder.encode(images: images, texts: texts), timeout: timeout)
    }

    static func decode(_ delivery: AMQPDelivery) throws(ClipClientError) -> ClipReply {
        do {
            switch try ReplyDecoder.decode(delivery.body) {
            case .success(let rows): return .embeddings(rows)
            case .failure(let error): return .error(error)
            }
        } catch {
            throw ClipClientError(kind: .badReply, message: error.message)
        }
    }
}

extension ClipReply {
    /// The rows, or the error the worker answered with.
    public var result: Result<[ReplyRow], ClipError> {
        switch self {
        case .embeddings(let rows): return .success(rows)
        case .error(let error): return .failure(error)
        }
    }
}
