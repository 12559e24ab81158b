import ClipAMQP
import ClipSchema
import Foundation

/// The headers clipq puts on a dead letter; the original body and properties travel as they
/// came, so a dead letter is also a replayable request.
public enum DeadLetterHeader {
    public static let code = "x-clipq-error-code"
    public static let message = "x-clipq-error-message"
    public static let pointer = "x-clipq-error-pointer"
    public static let worker = "x-clipq-worker"
    public static let version = "x-clipq-version"
    public static let model = "x-clipq-model"
    public static let precision = "x-clipq-precision"
    /// When, in milliseconds since the Unix epoch.
    public static let timeMilliseconds = "x-clipq-time-ms"
    /// When, in whole seconds (an AMQP timestamp): what workers before x-clipq-time-ms wrote.
    public static let time = "x-clipq-time"
    public static let routingKey = "x-clipq-original-routing-key"
    public static let expiration = "x-clipq-original-expiration"

    /// Headers that describe the dead-lettering, not the request: dropped on replay.
    static func isBookkeeping(_ name: String) -> Bool {
        name.hasPrefix("x-clipq-") || name == "x-death" || name.hasPrefix("x-first-death-")
            || name.hasPrefix("x-last-death-") || name == "x-delivery-count"  // the quorum queue's count
    }
}

/// One message of the dead-letter queue, read back as the record of the contract.
public struct DeadLetter: Sendable {
    public var delivery: AMQPDelivery
    public var record: DeadLetterRecord
    /// Its place in the queue when read, 1 for the oldest: how operators name it beside its
    /// correlation id, which a request need not have.
    public var position: Int

    init(_ delivery: AMQPDelivery, position: Int) {
        self.delivery = delivery
        self.position = position
        let headers = delivery.properties.headers ?? [:]
        func text(_ name: String) -> String? { if case .string(let s)? = headers[name] { s } else { nil } }
        let error: ClipError
        if let raw = text(DeadLetterHeader.code), let code = ErrorCode(rawValue: raw) {
            let pointer = text(DeadLetterHeader.pointer)
            error = ClipError(code, text(DeadLetterHeader.message) ?? raw, pointer: pointer?.isEmpty == false ? pointer : nil)
        } else {
            // Dead-lettered by the broker itself: the delivery limit (a worker kept failing) or a TTL.
            error = ClipError(.internal, "dead-lettered by the broker: \(Self.brokerReason(headers))")
        }
        var milliseconds: Int64 = 0
        if case .int(let ms)? = headers[DeadLetterHeader.timeMilliseconds] {
            milliseconds = ms
        } else if case .timestamp(let seconds)? = headers[DeadLetterHeader.time] {
            milliseconds = Int64(clamping: seconds) * 1000
        }
        record = DeadLetterRecord(
            error: error, body: delivery.body, properties: Self.json(delivery.properties),
            exchange: delivery.exchange, routingKey: text(DeadLetterHeader.routingKey) ?? delivery.routingKey,
            redelivered: delivery.redelivered, workerID: text(DeadLetterHeader.worker) ?? "broker",
            workerVersion: text(DeadLetterHeader.version), model: text(DeadLetterHeader.model),
            precision: text(DeadLetterHeader.precision), timeMilliseconds: milliseconds)
    }

    private static func brokerReason(_ headers: [String: AMQPFieldValue]) -> String {
        if case .string(let reason)? = headers["x-first-death-reason"] { return reason }
        return "unknown reason"
    }

    /// AMQP properties by their dead-letter.schema.json names.
    static func json(_ p: AMQPProperties) -> JSONObject {
        var o = JSONObject()
        if let v = p.contentType { o["content_type"] = .string(v) }
        if let v = p.contentEncoding { o["content_encoding"] = .string(v) }
        if let v = p.headers { o["headers"] = json(.table(v)) }
        if let v = p.deliveryMode { o["delivery_mode"] = .number(Double(v)) }
        if let v = p.priority { o["priority"] = .number(Double(v)) }
        if let v = p.correlationID { o["correlation_id"] = .string(v) }
        if let v = p.replyTo { o["reply_to"] = .string(v) }
        if let v = p.expiration { o["expiration"] = .string(v) }
        if let v = p.messageID { o["message_id"] = .string(v) }
        if let v = p.timestamp { o["timestamp"] = .number(Double(v)) }
        if let v = p.type { o["type"] = .string(v) }
        if let v = p.userID { o["user_id"] = .string(v) }
        if let v = p.appID { o["app_id"] = .string(v) }
        return o
    }

    static func json(_ value: AMQPFieldValue) -> JSONValue {
        switch value {
        case .bool(let b): .bool(b)
        case .int(let i): .number(Double(i))
        case .double(let d): d.isFinite ? .number(d) : .null
        case .string(let s): .string(s)
        case .bytes(let b): .string(Data(b).base64EncodedString())
        case .timestamp(let t): .number(Double(t))
        case .array(let a): .array(a.map(json))
        case .table(let t):
            .object(t.keys.sorted().reduce(into: JSONObject()) { o, key in o[key] = json(t[key] ?? .void) })
        case .void: .null
        }
    }
}

/// Operator tools over the dead-letter queue: browse without losing anything, replay into the
/// request queue (confirmed before the dead letter is removed), purge.
public struct DeadLetterQueue {
    public let connection: AMQPConnection
    public let topology: Topology

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    /// Up to `limit` dead letters, oldest first; they stay in the queue.
    public func browse(limit: Int) throws(AMQPError) -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var tags: [UInt64] = []
        // In delivery order: a quorum queue hands requeued messages out again in the order they
        // came back (a classic queue restores each to its place whatever the order).
        defer { for tag in tags { try? connection.reject(tag, requeue: true) } }
        while letters.count < limit, let delivery = try connection.get(topology.deadLetterQueue) {
            tags.append(delivery.deliveryTag)
            letters.append(DeadLetter(delivery, position: letters.count + 1))
        }
        return letters
    }

    /// Publishes the dead letters that `select` picks back to the request queue, as they were
    /// first sent (clipq's bookkeeping headers and the spent TTL removed), and removes each from
    /// the dead-letter queue once the broker confirmed its copy. Returns how many.
    public func replay(limit: Int = .max, where select: (DeadLetter) -> Bool) throws(AMQPError) -> Int {
        try connection.enableConfirms()
        var keep: [UInt64] = []
        defer { for tag in keep { try? connection.reject(tag, requeue: true) } }  // in order, as browse
        var replayed = 0, position = 0
        // Kept letters are requeued only at the end, so each get reads the next in queue order.
        while replayed < limit, let delivery = try connection.get(topology.deadLetterQueue) {
            position += 1
            let letter = DeadLetter(delivery, position: position)
            guard select(letter) else {
                keep.append(delivery.deliveryTag)
                continue
            }
            var properties = delivery.properties
            properties.headers = properties.headers?.filter { !DeadLetterHeader.isBookkeeping($0.key) }
            properties.expiration = nil
            let sequence = try connection.publish(
                routingKey: topology.requestQueue, body: delivery.body, properties: properties, mandatory: true)
            try waitForConfirm(sequence)
            try connection.ack(delivery.deliveryTag)
            replayed += 1
        }
        return replayed
    }

    /// Deletes every dead letter; returns how many there were.
    public func purge() throws(AMQPError) -> Int {
        var count = 0
        while let delivery = try connection.get(topology.deadLetterQueue) {
            try connection.ack(delivery.deliveryTag)
            count += 1
        }
        return count
    }

    private func waitForConfirm(_ sequence: UInt64) throws(AMQPError) {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            switch try connection.nextEvent(timeout: .milliseconds(100)) {
            case .acked(let s, let multiple)? where s == sequence || (multiple && s > sequence): return
            case .nacked(let s, let multiple)? where s == sequence || (multiple && s > sequence):
                throw AMQPError(.connection, "the broker refused the replayed message (nack)")
            case .returned(let r)?:
                throw AMQPError(.connection, "the request queue \(topology.requestQueue) did not take the message: \(r.replyText)")
            default: continue
            }
        }
        throw AMQPError(.timeout, "no publisher confirm within 30 s")
    }
}
