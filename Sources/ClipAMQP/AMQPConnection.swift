import CRabbitMQ
import Foundation

/// How to reach the broker and what to ask of it.
public struct AMQPSettings: Sendable {
    /// The broker's nodes: one URL for a single broker, one per node for a cluster. A connection
    /// goes to one of them; never empty.
    public private(set) var urls: [AMQPURL]
    /// The first node, the only one of a single broker.
    public var url: AMQPURL { urls[0] }
    /// Seconds; the broker and we each close a connection silent for twice this.
    public var heartbeat: Int
    public var connectTimeout: Duration
    /// TLS files for `amqps://`: the CA that signs the broker's certificate, and an optional
    /// client certificate and key. Peer and hostname verification are on unless turned off.
    public var caCertificate: String?
    public var clientCertificate: String?
    public var clientKey: String?
    public var verifyPeer: Bool
    /// Shown in the broker's management UI as the connection's name.
    public var connectionName: String

    /// `heartbeat` defaults to what the URL asks for, else 30 s.
    public init(
        url: AMQPURL, heartbeat: Int? = nil, connectTimeout: Duration = .seconds(10), caCertificate: String? = nil,
        clientCertificate: String? = nil, clientKey: String? = nil, verifyPeer: Bool = true,
        connectionName: String = "clipq"
    ) {
        self.urls = [url]
        self.heartbeat = heartbeat ?? url.heartbeat ?? 30
        self.connectTimeout = connectTimeout
        self.caCertificate = caCertificate
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.verifyPeer = verifyPeer
        self.connectionName = connectionName
    }

    /// The settings of a cluster: every node's URL, with the same credentials files and
    /// heartbeat (the first URL's, when `heartbeat` is nil).
    public init(
        urls: [AMQPURL], heartbeat: Int? = nil, connectTimeout: Duration = .seconds(10), caCertificate: String? = nil,
        clientCertificate: String? = nil, clientKey: String? = nil, verifyPeer: Bool = true,
        connectionName: String = "clipq"
    ) throws(AMQPError) {
        guard let first = urls.first else { throw AMQPError(.invalidURL, "no broker URL given") }
        self.init(
            url: first, heartbeat: heartbeat, connectTimeout: connectTimeout, caCertificate: caCertificate,
            clientCertificate: clientCertificate, clientKey: clientKey, verifyPeer: verifyPeer, connectionName: connectionName)
        self.urls = urls
    }
}

/// A message the broker delivered to our consumer.
public struct AMQPDelivery: Sendable {
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var consumerTag: String
    public var properties: AMQPProperties
    public var body: [UInt8]

    public init(
        deliveryTag: UInt64, redelivered: Bool = false, exchange: String = "", routingKey: String, consumerTag: String = "",
        properties: AMQPProperties, body: [UInt8]
    ) {
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.consumerTag = consumerTag
        self.properties = properties
        self.body = body
    }
}

/// A mandatory message the broker could not route (e.g. its reply queue is gone).
public struct AMQPReturn: Sendable {
    public var replyCode: Int
    public var replyText: String
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var body: [UInt8]
}

/// What the connection's owner learns when it polls.
public enum AMQPEvent: Sendable {
    case delivery(AMQPDelivery)
    /// Publisher confirms: the broker has taken responsibility for publish `sequence`
    /// (and every earlier one when `multiple`).
    case acked(sequence: UInt64, multiple: Bool)
    /// The broker could not take responsibility; publish again or fail the work.
    case nacked(sequence: UInt64, multiple: Bool)
    /// Arrives before the confirm of the same publish.
    case returned(AMQPReturn)
    /// The broker cancelled our consumer (queue deleted, node failover).
    case consumerCancelled(tag: String)
    /// The broker stopped reading our publishes (memory or disk alarm), and resumed.
    case blocked(reason: String)
    case unblocked
}

/// One connection with one channel, driven by exactly one thread: librabbitmq is not
/// thread-safe. Everything is synchronous; `nextEvent` also services heartbeats, so its owner
/// calls it often (every few milliseconds at most when idle) and never runs long work.
public final class AMQPConnection {
    public let settings: AMQPSettings
    /// The node this connection reached (one of `settings.urls`).
    public private(set) var node: AMQPURL
    private var state: amqp_connection_state_t?
    private let channel: amqp_channel_t = 1
    private var confirmsEnabled = false
    /// The publish sequence number the next publish gets, once confirms are on.
    public private(set) var nextPublishSequence: UInt64 = 1

    /// Connects to `node`, or when nil to one of the settings' nodes: each in random order until
    /// one answers, so that clients of a cluster spread over its nodes and pass over one that is down.
    public init(_ settings: AMQPSettings, node: AMQPURL? = nil) throws(AMQPError) {
        self.settings = settings
        self.node = node ?? settings.url
        var failures: [AMQPError] = []
        for candidate in node.map({ [$0] }) ?? settings.urls.shuffled() {
            self.node = candidate
            guard let state = amqp_new_connection() else { throw AMQPError(.connection, "cannot allocate a connection") }
            self.state = state
            do {
                try open(state)
                return
            } catch {
                abandon()  // no-op when the failure already destroyed the state
                failures.append(error)
            }
        }
        guard failures.count > 1 else { throw failures[0] }
        throw AMQPError(
            failures[failures.count - 1].kind,
            "no node of \(failures.count) answered: " + failures.map(\.message).joined(separator: "; "))
    }

    deinit {
        close()
    }

    public var isOpen: Bool { state != nil }

    /// The socket, so its owner can wait on it together with its own descriptors.
    public var socketDescriptor: Int32 { state.map { amqp_get_sockfd($0) } ?? -1 }

    /// Whether received bytes or frames are already buffered, so `nextEvent` has something to
    /// read even if the socket is quiet.
    public var hasBufferedInput: Bool {
        guard let state else { return false }
        return amqp_data_in_buffer(state) != 0 || amqp_frames_enqueued(state) != 0
    }

    private func open(_ state: amqp_connection_state_t) throws(AMQPError) {
        let url = node
        let socket: OpaquePointer?
        if url.isTLS {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.connection, "cannot create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, settings.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, settings.verifyPeer ? 1 : 0)
            if let ca = settings.caCertificate, amqp_ssl_socket_set_cacert(socket, ca) != AMQP_STATUS_OK.rawValue {
                throw AMQPError(.connection, "cannot load the CA certificate \(ca)")
            }
            if let cert = settings.clientCertificate, let key = settings.clientKey,
                amqp_ssl_socket_set_key(socket, cert, key) != AMQP_STATUS_OK.rawValue
            {
                throw AMQPError(.connection, "cannot load the client certificate \(cert) and key \(key)")
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError(.connection, "cannot create a socket") }

        var timeout = timeval(settings.connectTimeout)
        let status = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connection, "cannot connect to \(url.host):\(url.port): \(Self.describe(status))")
        }

        let arena = CArena()
        let capabilities: [String: AMQPFieldValue] = [
            "publisher_confirms": .bool(true), "consumer_cancel_notify": .bool(true),
            "connection.blocked": .bool(true), "basic.nack": .bool(true),
            "authentication_failure_close": .bool(true), "exchange_exchange_bindings": .bool(true),
        ]
        var clientProperties = arena.table([
            "product": .string("clipq"), "connection_name": .string(settings.connectionName),
            "capabilities": .table(capabilities),
        ])
        let login = CRabbitMQ_login_plain(
            state, url.vhost, 0, Int32(AMQP_DEFAULT_FRAME_SIZE), Int32(settings.heartbeat), &clientProperties,
            url.user, url.password)
        try check(login, "login to \(url)")
        amqp_channel_open(state, channel)
        try check(amqp_get_rpc_reply(state), "channel.open")
    }

    /// Closes politely if the connection still works; safe to call twice.
    public func close() {
        guard let state else { return }
        _ = amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
        self.state = nil
    }

    /// Marks the connection dead after a failure that leaves it unusable.
    private func abandon() {
        guard let state else { return }
        amqp_destroy_connection(state)
        self.state = nil
    }

    private func liveState() throws(AMQPError) -> amqp_connection_state_t {
        guard let state else { throw AMQPError(.connection, "the connection is closed") }
        return state
    }

    // MARK: - Channel setup

    public func setPrefetch(_ count: Int) throws(AMQPError) {
        let state = try liveState()
        amqp_basic_qos(state, channel, 0, UInt16(clamping: count), 0)
        try check(amqp_get_rpc_reply(state), "basic.qos")
    }

    /// Turns on publisher confirms: from now on every publish gets a sequence number and,
    /// later, an `.acked` or `.nacked` event.
    public func enableConfirms() throws(AMQPError) {
        let state = try liveState()
        var request = amqp_confirm_select_t(nowait: 0)
        _ = amqp_simple_rpc_decoded(state, channel, AMQP_CONFIRM_SELECT_METHOD, AMQP_CONFIRM_SELECT_OK_METHOD, &request)
        try check(amqp_get_rpc_reply(state), "confirm.select")
        confirmsEnabled = true
        nextPublishSequence = 1
    }

    public func declareExchange(_ name: String, type: String, durable: Bool = true) throws(AMQPError) {
        let state = try liveState()
        let arena = CArena()
        amqp_exchange_declare(state, channel, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "exchange.declare \(name)")
    }

    /// Declares a queue (or checks it exists with the same arguments); returns its name
    /// (the broker's, for a server-named queue) and how many messages it holds.
    @discardableResult
    public func declareQueue(
        _ name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, passive: Bool = false,
        arguments: [String: AMQPFieldValue] = [:]
    ) throws(AMQPError) -> (name: String, messageCount: Int) {
        let state = try liveState()
        let arena = CArena()
        let ok = amqp_queue_declare(
            state, channel, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0, autoDelete ? 1 : 0,
            arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "queue.declare \(name)")
        guard let ok else { return (name, 0) }
        return (String(ok.pointee.queue), Int(ok.pointee.message_count))
    }

    /// What a passive queue.declare tells of a queue: messages ready for delivery (not those
    /// delivered and unacknowledged) and consumers.
    public struct QueueStatus: Equatable, Sendable {
        public var messages: Int
        public var consumers: Int
    }

    /// A queue's status without declaring it: a queue that does not exist is an error (404)
    /// and, as every channel error, closes the connection.
    public func queueStatus(_ name: String) throws(AMQPError) -> QueueStatus {
        let state = try liveState()
        let arena = CArena()
        let ok = amqp_queue_declare(state, channel, arena.bytes(name), 1, 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "queue.declare \(name) (passive)")
        guard let ok else { throw AMQPError(.connection, "queue.declare \(name): the broker answered nothing") }
        return QueueStatus(messages: Int(ok.pointee.message_count), consumers: Int(ok.pointee.consumer_count))
    }

    /// Deletes the messages ready in a queue (not those delivered and unacknowledged); returns how many.
    public func purgeQueue(_ name: String) throws(AMQPError) -> Int {
        let state = try liveState()
        let arena = CArena()
        let ok = amqp_queue_purge(state, channel, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), "queue.purge \(name)")
        return ok.map { Int($0.pointee.message_count) } ?? 0
    }

    public func bindQueue(_ queue: String, exchange: String, routingKey: String = "") throws(AMQPError) {
        let state = try liveState()
        let arena = CArena()
        amqp_queue_bind(state, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "queue.bind \(queue) to \(exchange)")
    }

    public func deleteQueue(_ queue: String) throws(AMQPError) {
        let state = try liveState()
        let arena = CArena()
        amqp_queue_delete(state, channel, arena.bytes(queue), 0, 0)
        try check(amqp_get_rpc_reply(state), "queue.delete \(queue)")
    }

    /// Starts consuming; returns the consumer tag. Deliveries need acks unless `noAck`, which
    /// RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`) requires.
    @discardableResult
    public func consume(_ queue: String, tag: String = "", noAck: Bool = false) throws(AMQPError) -> String {
        let state = try liveState()
        let arena = CArena()
        let ok = amqp_basic_consume(
            state, channel, arena.bytes(queue), arena.bytes(tag), 0, noAck ? 1 : 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "basic.consume \(queue)")
        return ok.map { String($0.pointee.consumer_tag) } ?? tag
    }

    public func cancel(consumerTag: String) throws(AMQPError) {
        let state = try liveState()
        let arena = CArena()
        amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(state), "basic.cancel")
    }

    // MARK: - Messages

    /// Publishes; returns the publish's sequence number for matching its confirm (0 without
    /// confirms). `mandatory` asks the broker to return the message if no queue takes it.
    @discardableResult
    public func publish(
        exchange: String = "", routingKey: String, body: [UInt8], properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) throws(AMQPError) -> UInt64 {
        let state = try liveState()
        let arena = CArena()
        var cProperties = arena.properties(properties)
        let status = body.withUnsafeBytes { raw in
            amqp_basic_publish(
                state, channel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &cProperties,
                amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            abandon()
            throw AMQPError(.connection, "basic.publish: \(Self.describe(status))")
        }
        guard confirmsEnabled else { return 0 }
        defer { nextPublishSequence += 1 }
        return nextPublishSequence
    }

    /// Takes one message from `queue` without a consumer (basic.get, manual ack), or nil when
    /// the queue is empty. For tools that browse a queue; workers consume.
    public func get(_ queue: String) throws(AMQPError) -> AMQPDelivery? {
        let state = try liveState()
        let arena = CArena()
        let reply = amqp_basic_get(state, channel, arena.bytes(queue), 0)
        try check(reply, "basic.get \(queue)")
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD else { return nil }  // get-empty
        let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let (tag, redelivered) = (ok.delivery_tag, ok.redelivered != 0)
        let (exchange, routingKey) = (String(ok.exchange), String(ok.routing_key))
        var message = amqp_message_t()
        let read = amqp_read_message(state, channel, &message, 0)
        try check(read, "reading a message from \(queue)")
        defer { amqp_destroy_message(&message) }
        return AMQPDelivery(
            deliveryTag: tag, redelivered: redelivered, exchange: exchange, routingKey: routingKey, consumerTag: "",
            properties: AMQPProperties(message.properties), body: [UInt8](message.body))
    }

    public func ack(_ deliveryTag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let state = try liveState()
        try checkStatus(amqp_basic_ack(state, channel, deliveryTag, multiple ? 1 : 0), "basic.ack")
    }

    /// Returns a delivery to the queue (`requeue`) or drops it to the queue's dead-letter exchange.
    public func reject(_ deliveryTag: UInt64, requeue: Bool) throws(AMQPError) {
        let state = try liveState()
        try checkStatus(amqp_basic_nack(state, channel, deliveryTag, 0, requeue ? 1 : 0), "basic.nack")
    }

    /// The next thing the broker says, or nil when `timeout` passes in silence. Heartbeats
    /// are sent and checked inside. A closed channel or connection throws, after the polite
    /// close-ok, and leaves the connection closed: reconnect.
    public func nextEvent(timeout: Duration) throws(AMQPError) -> AMQPEvent? {
        let state = try liveState()
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var wait = timeval(timeout)
        let reply = amqp_consume_message(state, &envelope, &wait, 0)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            defer { amqp_destroy_envelope(&envelope) }
            return .delivery(
                AMQPDelivery(
                    deliveryTag: envelope.delivery_tag, redelivered: envelope.redelivered != 0,
                    exchange: String(envelope.exchange), routingKey: String(envelope.routing_key),
                    consumerTag: String(envelope.consumer_tag), properties: AMQPProperties(envelope.message.properties),
                    body: [UInt8](envelope.message.body)))
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_TIMEOUT.rawValue:
            return nil
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue:
            return try nextMethodEvent(state)
        default:
            let error = Self.error(reply, "waiting for the broker")  // before the memory it reads goes
            abandon()
            throw error
        }
    }

    /// A method frame that is not a delivery: confirms, returns, cancels, alarms, closes.
    private func nextMethodEvent(_ state: amqp_connection_state_t) throws(AMQPError) -> AMQPEvent? {
        var frame = amqp_frame_t()
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else {
            abandon()
            throw AMQPError(.connection, "reading a frame: \(Self.describe(status))")
        }
        guard frame.frame_type == AMQP_FRAME_METHOD else { return nil }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .acked(sequence: ack.delivery_tag, multiple: ack.multiple != 0)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nacked(sequence: nack.delivery_tag, multiple: nack.multiple != 0)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            var message = amqp_message_t()
            let read = amqp_read_message(state, frame.channel, &message, 0)
            guard read.reply_type == AMQP_RESPONSE_NORMAL else {
                let error = Self.error(read, "reading a returned message")
                abandon()
                throw error
            }
            defer { amqp_destroy_message(&message) }
            return .returned(
                AMQPReturn(
                    replyCode: Int(returned.reply_code), replyText: String(returned.reply_text),
                    exchange: String(returned.exchange), routingKey: String(returned.routing_key),
                    properties: AMQPProperties(message.properties), body: [UInt8](message.body)))
        case AMQP_BASIC_CANCEL_METHOD:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .consumerCancelled(tag: String(cancel.consumer_tag))
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(reason: String(blocked.reason))
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            return .unblocked
        case AMQP_CHANNEL_CLOSE_METHOD:
            // Copy the reason out before the connection (and the frame's memory) goes.
            let reason = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(.channelClosed, String(reason.reply_text), replyCode: Int(reason.reply_code))
            var ok = amqp_channel_close_ok_t()
            amqp_send_method(state, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            closeAfterChannelClose()
            throw error
        case AMQP_CONNECTION_CLOSE_METHOD:
            let reason = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(.connectionClosed, String(reason.reply_text), replyCode: Int(reason.reply_code))
            var ok = amqp_connection_close_ok_t()
            amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            abandon()
            throw error
        default:
            return nil
        }
    }

    /// After the broker closed our only channel the connection is of no use: close it.
    private func closeAfterChannelClose() {
        guard let state else { return }
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
        self.state = nil
    }

    // MARK: - Errors

    private func checkStatus(_ status: Int32, _ what: String) throws(AMQPError) {
        guard status == AMQP_STATUS_OK.rawValue else {
            abandon()
            throw AMQPError(.connection, "\(what): \(Self.describe(status))")
        }
    }

    /// Turns an RPC reply into an error; a broker-side close also closes the connection
    /// (after the polite close-ok), since a channel error leaves our one channel unusable.
    private func check(_ reply: amqp_rpc_reply_t, _ what: String) throws(AMQPError) {
        guard reply.reply_type != AMQP_RESPONSE_NORMAL else { return }
        let error = Self.error(reply, what)
        if let state, reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION {
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
                var ok = amqp_channel_close_ok_t()
                amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
                closeAfterChannelClose()
            } else {
                var ok = amqp_connection_close_ok_t()
                amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
                abandon()
            }
        } else {
            abandon()
        }
        throw error
    }

    static func error(_ reply: amqp_rpc_reply_t, _ what: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(.channelClosed, "\(what): \(String(close.reply_text))", replyCode: Int(close.reply_code))
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(.connectionClosed, "\(what): \(String(close.reply_text))", replyCode: Int(close.reply_code))
            }
            return AMQPError(.connection, "\(what): unexpected method \(reply.reply.id)")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let kind: AMQPError.Kind = reply.library_error == AMQP_STATUS_TIMEOUT.rawValue ? .timeout : .connection
            return AMQPError(kind, "\(what): \(describe(reply.library_error))")
        default:
            return AMQPError(.connection, "\(what): no reply")
        }
    }

    static func describe(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
