import Foundation

/// What clipq keeps about a request it could not serve (Schemas/dead-letter.schema.json):
/// the delivered message, exactly, so it can be inspected and replayed; the error; the worker
/// and the time.
public struct DeadLetterRecord: Equatable, Sendable {
    public var error: ClipError
    public var body: [UInt8]
    /// The original AMQP basic properties, by their snake_case names (`correlation_id`, ...).
    public var properties: JSONObject
    public var exchange: String?
    public var routingKey: String?
    public var redelivered: Bool?
    public var workerID: String
    public var workerVersion: String?
    public var model: String?
    /// The precision of the worker's linear layers: fp32, bf16 or int8.
    public var precision: String?
    /// Milliseconds since the Unix epoch.
    public var timeMilliseconds: Int64

    public init(
        error: ClipError, body: [UInt8], properties: JSONObject = JSONObject(), exchange: String? = nil,
        routingKey: String? = nil, redelivered: Bool? = nil, workerID: String, workerVersion: String? = nil,
        model: String? = nil, precision: String? = nil, timeMilliseconds: Int64
    ) {
        self.error = error
        self.body = body
        self.properties = properties
        self.exchange = exchange
        self.routingKey = routingKey
        self.redelivered = redelivered
        self.workerID = workerID
        self.workerVersion = workerVersion
        self.model = model
        self.precision = precision
        self.timeMilliseconds = timeMilliseconds
    }

    public var json: JSONValue {
        var original: JSONObject = [
            "body_base64": .string(Data(body).base64EncodedString()),
            "properties": .object(properties),
        ]
        if let exchange { original["exchange"] = .string(exchange) }
        if let routingKey { original["routing_key"] = .string(routingKey) }
        if let redelivered { original["redelivered"] = .bool(redelivered) }
        var worker: JSONObject = ["id": .string(workerID)]
        if let workerVersion { worker["version"] = .string(workerVersion) }
        if let model { worker["model"] = .string(model) }
        if let precision { worker["precision"] = .string(precision) }
        return [
            "error": error.json,
            "original": .object(original),
            "worker": .object(worker),
            "time": .string(Self.rfc3339(milliseconds: timeMilliseconds)),
        ]
    }

    /// "2026-11-29T22:50:00.123Z"
    static func rfc3339(milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
