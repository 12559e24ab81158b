import Foundation

/// A RESP2 reply.
enum RESPValue: Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    /// nil is RESP's null bulk string (GET of a missing key).
    case bulkString([UInt8]?)
    case array([RESPValue]?)
}

/// One TCP connection to a Redis server speaking RESP2: a command out, its reply in. Every call
/// takes a deadline and gives up at it (non-blocking socket, `poll`). Not thread-safe: its owner
/// serializes calls; any error leaves the connection unusable (the owner closes it).
final class RESPConnection {
    /// A reply bigger than this is a protocol error: the cache stores 768-float vectors, and a
    /// confused server must not make the worker allocate without bound.
    static let maxReplyBytes = 64 << 20

    private let fd: Int32
    private var input: [UInt8] = []
    private var inputStart = 0

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        Foundation.close(fd)
    }

    /// Connects to `host:port` and logs in as `endpoint` asks, all before `deadline`. Name
    /// resolution (getaddrinfo) cannot be given a deadline: call this off the callers' path.
    static func open(_ endpoint: RedisEndpoint, deadline: ContinuousClock.Instant) throws(RedisCacheError) -> RESPConnection {
        let connection = try connect(host: endpoint.host, port: endpoint.port, deadline: deadline)
        if let password = endpoint.password {
            let arguments = [Array("AUTH".utf8)] + (endpoint.user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)]
            try connection.expectOK(try connection.command(arguments, deadline: deadline), "AUTH")
        }
        if endpoint.database != 0 {
            try connection.expectOK(
                try connection.command([Array("SELECT".utf8), Array(String(endpoint.database).utf8)], deadline: deadline), "SELECT")
        }
        return connection
    }

    private func expectOK(_ reply: RESPValue, _ what: String) throws(RedisCacheError) {
        guard reply == .simpleString("OK") else {
            if case .error(let message) = reply { throw RedisCacheError(.protocolError, "\(what) refused: \(message)") }
            throw RedisCacheError(.protocolError, "\(what): unexpected reply")
        }
    }

    private static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) throws(RedisCacheError) -> RESPConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw RedisCacheError(.connectFailed, "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = RedisCacheError(.connectFailed, "no address for \(host)")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            let connection = RESPConnection(fd: fd)  // closes fd when dropped
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Foundation.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return connection }
            guard errno == EINPROGRESS else {
                lastError = RedisCacheError(.connectFailed, "connect to \(host):\(port): \(String(cString: strerror(errno)))")
                continue
            }
            guard connection.wait(for: Int16(POLLOUT), until: deadline) else {
                throw RedisCacheError(.connectFailed, "connect to \(host):\(port): no answer in time")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return connection }
            lastError = RedisCacheError(.connectFailed, "connect to \(host):\(port): \(String(cString: strerror(error)))")
        }
        throw lastError
    }

    /// Sends one command (its arguments as bulk strings) and reads its reply.
    func command(_ arguments: [[UInt8]], deadline: ContinuousClock.Instant) throws(RedisCacheError) -> RESPValue {
        var request = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            request += Array("$\(argument.count)\r\n".utf8)
            request += argument
            request += [13, 10]
        }
        try send(request, deadline: deadline)
        return try readReply(deadline: deadline)
    }

    private func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RedisCacheError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return 0 }
                return Foundation.send(fd, base + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard wait(for: Int16(POLLOUT), until: deadline) else { throw RedisCacheError(.timeout, "send timed out") }
            } else {
                throw RedisCacheError(.connectionLost, "send: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func readReply(deadline: ContinuousClock.Instant) throws(RedisCacheError) -> RESPValue {
        while true {
            var cursor = inputStart
            if let value = try parse(&cursor) {
                inputStart = cursor
                if inputStart == input.count {
                    input.removeAll(keepingCapacity: true)
                    inputStart = 0
                }
                return value
            }
            guard input.count - inputStart <= Self.maxReplyBytes + 64 else {
                throw RedisCacheError(.protocolError, "reply larger than \(Self.maxReplyBytes) bytes")
            }
            try receive(deadline: deadline)
        }
    }

    private func receive(deadline: ContinuousClock.Instant) throws(RedisCacheError) {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                input += chunk.prefix(n)
                return
            }
            if n == 0 { throw RedisCacheError(.connectionLost, "the server closed the connection") }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw RedisCacheError(.connectionLost, "recv: \(String(cString: strerror(errno)))")
            }
            guard wait(for: Int16(POLLIN), until: deadline) else { throw RedisCacheError(.timeout, "no reply in time") }
        }
    }

    /// Waits until the socket is ready for `events` or the deadline passes (false).
    private func wait(for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return false }
            let (seconds, attoseconds) = left.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }  // readable, writable, or an error the next call reports
            if ready < 0, errno != EINTR { return true }
        }
    }

    /// One complete reply from `input[cursor...]`, advancing the cursor past it; nil when more
    /// bytes are needed.
    private func parse(_ cursor: inout Int) throws(RedisCacheError) -> RESPValue? {
        guard let line = readLine(&cursor), let type = line.first else { return nil }
        let text = String(decoding: line.dropFirst(), as: UTF8.self)
        switch type {
        case UInt8(ascii: "+"): return .simpleString(text)
        case UInt8(ascii: "-"): return .error(text)
        case UInt8(ascii: ":"):
            guard let number = Int(text) else { throw RedisCacheError(.protocolError, "bad integer reply") }
            return .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1, length <= Self.maxReplyBytes else {
                throw RedisCacheError(.protocolError, "bad bulk string length")
            }
            if length == -1 { return .bulkString(nil) }
            guard input.count - cursor >= length + 2 else { return nil }
            let body = Array(input[cursor..<cursor + length])
            cursor += length + 2
            return .bulkString(body)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1, count <= 1 << 20 else {
                throw RedisCacheError(.protocolError, "bad array length")
            }
            if count == -1 { return .array(nil) }
            var elements: [RESPValue] = []
            for _ in 0..<count {
                guard let element = try parse(&cursor) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw RedisCacheError(.protocolError, "not a RESP2 reply")
        }
    }

    /// The bytes up to the next CRLF (advancing past it), or nil when no full line is buffered.
    private func readLine(_ cursor: inout Int) -> ArraySlice<UInt8>? {
        var i = cursor
        while i + 1 < input.count {
            if input[i] == 13, input[i + 1] == 10 {
                let line = input[cursor..<i]
                cursor = i + 2
                return line
            }
            i += 1
        }
        return nil
    }
}
