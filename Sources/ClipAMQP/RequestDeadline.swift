import Foundation

extension AMQPProperties {
    /// When the sender stops waiting for an answer: the sooner of the `x-deadline` header
    /// (epoch ms, as an integer, a float or a decimal string) and the broker TTL (`expiration`,
    /// counted from the message's timestamp when it has one, else from now). Nil: no deadline.
    public func deadline(now: Date = Date()) -> ContinuousClock.Instant? {
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        var candidates: [Int64] = []
        switch headers?["x-deadline"] {
        case .int(let epochMilliseconds)?: candidates.append(epochMilliseconds)
        case .double(let epochMilliseconds)? where epochMilliseconds.isFinite && abs(epochMilliseconds) < 9e15:
            candidates.append(Int64(epochMilliseconds))
        case .string(let text)?: if let epochMilliseconds = Int64(text) { candidates.append(epochMilliseconds) }
        default: break
        }
        if let ttl = expiration.flatMap({ Int64($0) }) {
            let start = timestamp.map { Int64(min($0, 1 << 40)) * 1000 } ?? nowMilliseconds
            candidates.append(Self.saturating(start.addingReportingOverflow(ttl), positive: ttl > 0))
        }
        guard let earliest = candidates.min() else { return nil }
        // Far past or far future deadlines saturate instead of overflowing the clock.
        let limit: Int64 = 1_000_000_000_000
        let remaining = Self.saturating(earliest.subtractingReportingOverflow(nowMilliseconds), positive: earliest > 0)
        return .now + .milliseconds(max(-limit, min(remaining, limit)))
    }

    private static func saturating(_ result: (partialValue: Int64, overflow: Bool), positive: Bool) -> Int64 {
        result.overflow ? (positive ? .max : .min) : result.partialValue
    }
}
