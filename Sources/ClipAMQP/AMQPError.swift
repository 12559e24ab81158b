/// A failure of the broker connection, with what kind of failure it is so callers can decide
/// between retrying, reconnecting and giving up.
public struct AMQPError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The URL or settings are wrong: retrying will not help.
        case invalidURL = "invalid_url"
        /// The socket, TLS or login failed, or the connection was lost: reconnect.
        case connection
        /// The broker closed the connection (the reply code says why): reconnect.
        case connectionClosed = "connection_closed"
        /// The broker closed the channel (e.g. 404 no queue, 406 precondition failed).
        case channelClosed = "channel_closed"
        /// An operation timed out.
        case timeout
    }

    public var kind: Kind
    public var message: String
    /// The AMQP reply code, when the broker sent one (404, 406, 320...).
    public var replyCode: Int?

    public init(_ kind: Kind, _ message: String, replyCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.replyCode = replyCode
    }

    public var description: String {
        "\(kind.rawValue): \(message)" + (replyCode.map { " (reply code \($0))" } ?? "")
    }
}
