import ClipAMQP
import ClipSchema
import Foundation

/// Builds the messages that end a request: its reply, or its error reply and dead-letter
/// record (DESIGN §2), with the properties and headers the contract names.
struct OutcomeBuilder: Sendable {
    let topology: Topology
    let workerID: String
    let modelName: String
    var version: String? = nil
    var precision: String? = nil
    let replies: ReplyEncoder

    /// The reply with the embeddings; throws if the reply fails its own schema.
    func success(_ job: RequestJob, rows: [ReplyRow], timings: [String: Int]) throws(ClipError) -> Outcome {
        let body = try replies.encode(rows)
        return Outcome(delivery: job.id, publishes: reply(to: job, body: body, type: "embeddings", timings: timings))
    }

    /// The error reply (when the request names a reply queue) and the dead-letter record.
    func failure(_ job: RequestJob, _ error: ClipError) -> Outcome {
        var publishes = reply(to: job, body: error.replyBody, type: "error", timings: [:])
        publishes.append(deadLetter(job.delivery, error))
        return Outcome(delivery: job.id, publishes: publishes)
    }

    private func reply(to job: RequestJob, body: [UInt8], type: String, timings: [String: Int]) -> [OutgoingMessage] {
        guard let replyTo = job.delivery.properties.replyTo, !replyTo.isEmpty else { return [] }
        var headers: [String: AMQPFieldValue] = ["x-clipq-model": .string(modelName), "x-clipq-worker": .string(workerID)]
        for (name, milliseconds) in timings { headers["x-clipq-\(name)-ms"] = .int(Int64(milliseconds)) }
        // The trace context goes back with the answer, so the caller's spans join up.
        for name in ["traceparent", "x-request-id"] { headers[name] = job.delivery.properties.headers?[name] }
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers,
            deliveryMode: job.delivery.properties.isPersistent ? 2 : 1,
            correlationID: job.delivery.properties.correlationID, type: type, appID: "clipq")
        return [OutgoingMessage(routingKey: replyTo, body: body, properties: properties)]
    }

    /// The original body and properties, with the error in headers, to the dead-letter
    /// exchange: enough to inspect the request and to replay it as it was.
    private func deadLetter(_ delivery: AMQPDelivery, _ error: ClipError) -> OutgoingMessage {
        var properties = delivery.properties
        var headers = properties.headers ?? [:]
        headers[DeadLetterHeader.code] = .string(error.code.rawValue)
        headers[DeadLetterHeader.message] = .string(error.message)
        headers[DeadLetterHeader.pointer] = .string(error.pointer ?? "")
        headers[DeadLetterHeader.worker] = .string(workerID)
        headers[DeadLetterHeader.model] = .string(modelName)
        if let version { headers[DeadLetterHeader.version] = .string(version) }
        if let precision { headers[DeadLetterHeader.precision] = .string(precision) }
        headers[DeadLetterHeader.timeMilliseconds] = .int(Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        headers[DeadLetterHeader.routingKey] = .string(delivery.routingKey)
        // A dead letter must not expire with the request's TTL: keep it as a header instead.
        if let expiration = properties.expiration { headers[DeadLetterHeader.expiration] = .string(expiration) }
        properties.expiration = nil
        properties.headers = headers
        properties.deliveryMode = 2
        return OutgoingMessage(
            exchange: topology.deadLetterExchange, routingKey: delivery.routingKey, body: delivery.body,
            properties: properties)
    }
}
