import ClipAMQP
import Foundation

/// The request's identity across HTTP and the queue: the W3C `traceparent` a caller sent (kept
/// only when well-formed, as the Trace Context spec asks of a receiver) and an `x-request-id`
/// (the caller's, or a fresh one). Both go to the worker as AMQP headers and back to the caller.
public struct TraceHeaders: Sendable, Equatable {
    public var traceparent: String?
    public var requestID: String

    public init(traceparent: String?, requestID: String?) {
        self.traceparent = traceparent.flatMap { Self.isValidTraceparent($0) ? $0 : nil }
        self.requestID = requestID.flatMap { Self.isAcceptableRequestID($0) ? $0 : nil } ?? UUID().uuidString.lowercased()
    }

    public var amqpHeaders: [String: AMQPFieldValue] {
        var headers: [String: AMQPFieldValue] = ["x-request-id": .string(requestID)]
        if let traceparent { headers["traceparent"] = .string(traceparent) }
        return headers
    }

    /// `version-traceid-parentid-flags`: 2, 32, 16 and 2 lowercase hex digits; version ff and
    /// all-zero ids are invalid. Future versions may append fields after the flags.
    static func isValidTraceparent(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, value.utf8.count <= 512 else { return false }
        let lengths = [2, 32, 16, 2]
        for (part, length) in zip(parts, lengths) {
            guard part.utf8.count == length, part.utf8.allSatisfy(Self.isLowerHex) else { return false }
        }
        if parts[0] == "ff" { return false }
        if parts[0] == "00" && parts.count != 4 { return false }
        if parts[1].allSatisfy({ $0 == "0" }) || parts[2].allSatisfy({ $0 == "0" }) { return false }
        return true
    }

    /// Printable ASCII up to 200 characters: anything else could forge log lines or headers.
    static func isAcceptableRequestID(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 200 && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }
}
