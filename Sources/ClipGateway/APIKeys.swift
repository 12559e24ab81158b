import Foundation

/// The keys a client may present as `Authorization: Bearer <key>`. Compared in constant time
/// (no early exit on the first differing byte, whatever the lengths), so response timing tells
/// an attacker nothing about how much of a guess was right. Never printed.
public struct APIKeys: Sendable, CustomStringConvertible {
    private let keys: [[UInt8]]

    public init(_ keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }
    }

    /// One key per line; blank lines and lines starting with `#` are skipped, so a file can
    /// carry a key per client and comments saying whose each is.
    public init(contentsOf path: String) throws(GatewayConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw GatewayConfigurationError("cannot read the API key file \(path): \(error.localizedDescription)")
        }
        let keys = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw GatewayConfigurationError("the API key file \(path) holds no key") }
        self.init(keys)
    }

    public var count: Int { keys.count }

    public var description: String { "\(keys.count) API key(s)" }

    /// Whether an `Authorization` header value carries one of the keys.
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let prefix = "bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix) else { return false }
        let presented = Array(authorization.utf8.dropFirst(prefix.utf8.count))
        var accepted = false
        for key in keys {
            accepted = Self.constantTimeEqual(presented, key) || accepted
        }
        return accepted
    }

    /// Equal bytes, in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        let length = max(a.count, b.count)
        for i in 0..<length {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// A setting that stops the gateway from starting.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
