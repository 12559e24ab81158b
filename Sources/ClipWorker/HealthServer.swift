import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The operations HTTP endpoint (Kubernetes, compose, load balancers, Prometheus): `GET /healthz`
/// answers 200 while the process serves (liveness), `GET /readyz` 200 only while it can take
/// work (readiness), each 503 otherwise; `GET /metrics` the Prometheus text exposition. A tiny
/// HTTP/1.1 responder on one thread: one short request per connection, nothing else, so that no
/// HTTP package is needed for three fixed answers.
public final class HealthServer: @unchecked Sendable {
    /// A probe's request head is a few hundred bytes: a slow or huge one is cut off at these,
    /// so that it cannot hold the only thread.
    public static let maxRequestHead = 8192
    public static let requestTimeoutSeconds = 2

    public let port: UInt16
    private let listener: Int32
    private let isAlive: @Sendable () -> Bool
    private let isReady: @Sendable () -> Bool
    private let metrics: (@Sendable () -> [UInt8])?

    /// Binds `address:port` (port 0: the kernel picks one; read `port`). Without `metrics`,
    /// `/metrics` is 404.
    public init(
        address: String = "0.0.0.0", port: UInt16, isAlive: @escaping @Sendable () -> Bool,
        isReady: @escaping @Sendable () -> Bool, metrics: (@Sendable () -> [UInt8])? = nil
    ) throws {
        self.isAlive = isAlive
        self.isReady = isReady
        self.metrics = metrics
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HealthServerError(message: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(port.bigEndian)
        guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
            close(fd)
            throw HealthServerError(message: "not an IPv4 address: \(address)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HealthServerError(message: "cannot listen on \(address):\(port): \(reason)")
        }
        listener = fd
        self.port = UInt16(bigEndian: socketAddress.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "clipq-health"
        thread.start()
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            answer(client)
            close(client)
        }
        close(listener)
    }

    /// Reads the request head (up to the limits above), then answers and closes.
    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: Self.requestTimeoutSeconds, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !String(decoding: head, as: UTF8.self).contains("\r\n\r\n") && head.count < Self.maxRequestHead {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { break }
            head += buffer[0..<n]
        }
        let requestLine = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, contentType, body) = response(
            method: requestLine.first.map(String.init), target: requestLine.dropFirst().first.map(String.init))
        let reason = [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable", 400: "Bad Request"][status] ?? "X"
        let statusAndHeaders = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        let bytes = Array(statusAndHeaders.utf8) + body
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Status, content type and body.
    func response(method: String?, target: String?) -> (Int, String, [UInt8]) {
        func text(_ status: Int, _ body: String) -> (Int, String, [UInt8]) { (status, "text/plain; charset=utf-8", Array(body.utf8)) }
        guard let method, let target else { return text(400, "bad request\n") }
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        let paths = ["/healthz", "/readyz"] + (metrics == nil ? [] : ["/metrics"])
        guard paths.contains(path) else { return text(404, "not found: \(paths.joined(separator: ", "))\n") }
        guard method == "GET" else { return text(405, "GET only\n") }
        switch path {
        case "/healthz": return isAlive() ? text(200, "alive\n") : text(503, "not alive\n")
        case "/readyz": return isReady() ? text(200, "ready\n") : text(503, "not ready\n")
        default: return (200, "text/plain; version=0.0.4; charset=utf-8", metrics?() ?? [])
        }
    }
}

public struct HealthServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
