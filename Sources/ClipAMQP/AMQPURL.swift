import Foundation

/// Where and how to connect: `amqp://user:password@host:port/vhost` or `amqps://...`
/// (RabbitMQ's URI spec: the vhost is the percent-decoded path, "/" when the path is empty;
/// of the spec's query parameters, `heartbeat` in seconds).
public struct AMQPURL: Equatable, Sendable, CustomStringConvertible {
    public var isTLS: Bool
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// The heartbeat the URL asks for (`?heartbeat=5`), if it asks.
    public var heartbeat: Int?

    public init(
        host: String = "localhost", port: Int? = nil, user: String = "guest", password: String = "guest",
        vhost: String = "/", tls: Bool = false
    ) {
        self.isTLS = tls
        self.host = host
        self.port = port ?? (tls ? 5671 : 5672)
        self.user = user
        self.password = password
        self.vhost = vhost
    }

    public init(_ string: String) throws(AMQPError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased(),
            scheme == "amqp" || scheme == "amqps"
        else {
            throw AMQPError(.invalidURL, "expected amqp://[user[:password]@]host[:port][/vhost] or amqps://...")
        }
        guard let host = components.host, !host.isEmpty else { throw AMQPError(.invalidURL, "the URL names no host") }
        if let port = components.port, !(1...65535).contains(port) { throw AMQPError(.invalidURL, "port out of range") }
        let path = components.percentEncodedPath
        let vhost: String
        if path.isEmpty || path == "/" {
            vhost = "/"
        } else {
            let encoded = String(path.dropFirst())
            guard !encoded.contains("/"), let decoded = encoded.removingPercentEncoding else {
                throw AMQPError(.invalidURL, "the vhost must be one path segment (write / as %2F)")
            }
            vhost = decoded
        }
        var heartbeat: Int?
        for item in components.queryItems ?? [] where item.name == "heartbeat" {
            guard let value = item.value.flatMap(Int.init), (0...65535).contains(value) else {
                throw AMQPError(.invalidURL, "heartbeat must be a whole number of seconds (0 turns heartbeats off)")
            }
            heartbeat = value
        }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: components.port,
            user: components.percentEncodedUser?.removingPercentEncoding ?? "guest",
            password: components.percentEncodedPassword?.removingPercentEncoding ?? "guest",
            vhost: vhost, tls: scheme == "amqps")
        self.heartbeat = heartbeat
    }

    /// Which node this is, `host:port`: what logs say when they name the node reached.
    public var node: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with the password hidden: safe for logs.
    public var description: String {
        let vhostPath = vhost == "/" ? "" : "/" + (vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? vhost)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(isTLS ? "amqps" : "amqp")://\(user):***@\(hostPart):\(port)\(vhostPath)"
    }
}
