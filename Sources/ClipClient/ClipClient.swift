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
/// reply. One connection; calls from several threads take turns. Replies to requests that
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

    /// Sends a request body (JSON of the contract) and waits up to `timeout` for its reply.
    /// `deadline` becomes the `x-deadline` header: workers answer `deadline_exceeded` after it.
    /// `correlationID` is the caller's own, to find the request again (in logs, dead letters).
    public func send(
        _ body: [UInt8], timeout: Duration = .seconds(60), deadline: Date? = nil, persistent: Bool = true,
        correlationID: String = UUID().uuidString
    ) throws(ClipClientError) -> ClipReply {
        lock.lock()
        defer { lock.unlock() }
        var headers: [String: AMQPFieldValue] = [:]
        if let deadline { headers["x-deadline"] = .int(Int64(deadline.timeIntervalSince1970 * 1000)) }
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: persistent ? 2 : 1,
            correlationID: correlationID, replyTo: replyQueue)
        let until = ContinuousClock.now + timeout
        do {
            let sequence = try connection.publish(routingKey: queue, body: body, properties: properties, mandatory: true)
            var confirmed = false
            while ContinuousClock.now < until {
                switch try connection.nextEvent(timeout: .milliseconds(50)) {
                case .acked(let s, let multiple)? where s == sequence || (multiple && s > sequence):
                    confirmed = true
                case .nacked(let s, _)? where s >= sequence:
                    throw ClipClientError(kind: .broker, message: "the broker refused the request (nack)")
                case .returned(let returned)?:
                    throw ClipClientError(kind: .broker, message: "no queue \(queue) took the request: \(returned.replyText)")
                case .delivery(let delivery)?:
                    try connection.ack(delivery.deliveryTag)
                    guard delivery.properties.correlationID == correlationID else { continue }  // a late reply
                    return try Self.decode(delivery)
                default:
                    continue
                }
            }
            throw ClipClientError(
                kind: .timeout, message: confirmed ? "no reply within \(timeout)" : "the broker did not confirm the request within \(timeout)")
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
        try send(Self.requestBody(images: images, texts: texts), timeout: timeout)
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
        try await send(Self.requestBody(images: images, texts: texts), timeout: timeout)
    }

    /// A request of the contract with one row per image, then one per text.
    public static func requestBody(images: [String], texts: [String]) -> [UInt8] {
        let rows: [JSONValue] = images.map { [.string($0), ""] } + texts.map { ["", .string($0)] }
        return JSONWriter.serialize([
            "input_data": ["columns": ["image", "text"], "index": .array(rows.indices.map { .number(Double($0)) }), "data": .array(rows)],
        ])
    }

    static func decode(_ delivery: AMQPDelivery) throws(ClipClientError) -> ClipReply {
        let document: JSONValue
        do {
            document = try JSONParser().parse(delivery.body)
        } catch {
            throw ClipClientError(kind: .badReply, message: "the reply is not JSON: \(error)")
        }
        if delivery.properties.type == "error" || document["error"] != nil {
            let error = document["error"]
            guard let raw = error?["code"]?.string, let code = ErrorCode(rawValue: raw) else {
                throw ClipClientError(kind: .badReply, message: "an error reply without a known code")
            }
            return .error(ClipError(code, error?["message"]?.string ?? raw, pointer: error?["pointer"]?.string))
        }
        guard let rows = document.array else { throw ClipClientError(kind: .badReply, message: "the reply is not an array") }
        return .embeddings(rows.map { row in
            ReplyRow(imageFeatures: floats(row["image_features"]), textFeatures: floats(row["text_features"]))
        })
    }

    private static func floats(_ value: JSONValue?) -> [Float]? {
        value?.array.map { $0.map { Float($0.number ?? .nan) } }
    }
}
