import ClipAMQP
import Logging

extension Logger {
    /// One line per request outcome and per broker link event (docs/operations.md). `event` is the
    /// stable name to filter on; `message` is for people. Absent values are left out.
    public func log(_ event: WorkerEvent) {
        switch event {
        case .replied(let request, let rows, let cached, let milliseconds):
            info("replied", metadata: Self.fields([
                "event": "replied", "correlation_id": request.correlationID.map { .string($0) },
                "traceparent": request.traceparent.map { .string($0) }, "request_id": request.requestID.map { .string($0) },
                "rows": .stringConvertible(rows), "cached": cached > 0 ? .stringConvertible(cached) : nil,
                "ms": .stringConvertible(milliseconds),
            ]))
        case .failed(let request, let error):
            // A refused request is the sender's problem (notice); an internal error is ours.
            log(level: error.code == .internal ? .error : .notice, "\(error.message)", metadata: Self.fields([
                "event": "failed", "correlation_id": request.correlationID.map { .string($0) },
                "traceparent": request.traceparent.map { .string($0) }, "request_id": request.requestID.map { .string($0) },
                "code": .string(error.code.rawValue), "pointer": error.pointer.map { .string($0) },
            ]))
        case .link(let event):
            log(event)
        }
    }

    private func log(_ event: LinkEvent) {
        switch event {
        case .connected(let generation, let node):
            info("connected to the broker", metadata: Self.fields(["event": "connected", "generation": .stringConvertible(generation), "node": node.map { .string($0) }]))
        case .connectionLost(let generation, let error, let retryIn):
            warning("\(error.description)", metadata: [
                "event": "connection_lost", "generation": .stringConvertible(generation),
                "retry_in_ms": .stringConvertible(Int(retryIn / .milliseconds(1))),
            ])
        case .returned(let returned):
            let reply = returned.exchange.isEmpty  // replies go through the default exchange
            warning(reply ? "the reply queue does not exist" : "nothing is bound to the exchange", metadata: Self.fields([
                "event": reply ? "reply_unroutable" : "unroutable", "exchange": .string(returned.exchange),
                "routing_key": .string(returned.routingKey), "reason": .string(returned.replyText),
                "correlation_id": returned.properties.correlationID.map { .string($0) },
            ]))
        case .staleOutcome(let id):
            notice("an outcome for a lost connection was dropped; the broker redelivers its request", metadata: [
                "event": "stale_outcome", "delivery": .string(id.description),
            ])
        case .blocked(let reason):
            warning("the broker blocks publishing", metadata: ["event": "broker_blocked", "reason": .string(reason)])
        case .unblocked:
            info("the broker accepts publishing again", metadata: ["event": "broker_unblocked"])
        case .settled, .queueDepth:
            break  // one line per request is enough; depths are metrics
        }
    }

    private static func fields(_ pairs: KeyValuePairs<String, MetadataValue?>) -> Metadata {
        var metadata = Metadata()
        for (key, value) in pairs { if let value { metadata[key] = value } }
        return metadata
    }
}
