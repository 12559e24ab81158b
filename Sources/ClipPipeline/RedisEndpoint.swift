/// Why the Redis cache could not be set up or an operation failed. Operations never throw this to
/// a cache's caller (the cache fails open); it is what they count and what a bad URL throws.
public struct RedisCacheError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The URL is not redis://[[user]:password@]host[:port][/db].
        case invalidURL = "invalid_url"
        /// The host name did not resolve, or the connection was refused or not made in time.
        case connectFailed = "connect_failed"
        /// No reply (or no room to send) within the timeout.
        case timeout
        /// The server closed the connection, or a socket call failed.
        case connectionLost = "connection_lost"
        /// The server answered with an error (e.g. AUTH refused) or something that is not RESP2.
        case protocolError = "protocol_error"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Where a Redis server is and how to log in: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisEndpoint: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    public var user: String?
    public var password: String?

    public init(url: String) throws(RedisCacheError) {
        func bad(_ why: String) -> RedisCacheError {
            RedisCacheError(.invalidURL, "\(why) in the Redis URL (expected redis://[[user]:password@]host[:port][/db])")
        }
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else { throw bad("no redis:// scheme") }
        var rest = Substring(url.dropFirst(scheme.count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { throw bad("database \"\(path)\" is not a number") }
                database = number
            }
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = credentials[..<colon]
                user = name.isEmpty ? nil : Self.percentDecoded(name)
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else {
                password = Self.percentDecoded(credentials)
            }
        }
        var port = 6379
        var host: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed [ in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { throw bad("bad port") }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let number = Int(rest[rest.index(after: colon)...]) else { throw bad("bad port") }
            port = number
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw bad("no host") }
        guard (1...65535).contains(port) else { throw bad("port \(port) out of range") }
        self.host = String(host)
        self.port = port
        self.database = database
    }

    /// The endpoint without its password, for logs.
    public var description: String {
        let login = password == nil ? "" : "\(user ?? ""):***@"
        return "redis://\(login)\(host):\(port)/\(database)"
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
