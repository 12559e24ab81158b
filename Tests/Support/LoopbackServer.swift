import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server on 127.0.0.1 (or another loopback address) and an ephemeral port, one thread per connection, for
/// fetching real bytes over a real socket. Each route answers with a `Reply`.
public final class LoopbackServer: @unchecked Sendable {
    public enum Reply: Sendable {
        case status(Int, headers: [String] = [], body: [UInt8] = [])
        /// `Content-Length: total`, then `chunk` bytes every `every` seconds.
        case trickle(total: Int, chunk: Int, every: Double)
        /// Chunked transfer with no length, 64 KiB at a time, until the client hangs up.
        case endless
        /// Headers promising `declaredLength` bytes, then only `body`, then the connection closes.
        case cut(Int, headers: [String] = [], body: [UInt8], declaredLength: Int)
    }

    /// One request as the route sees it: the path, how many times it was asked for (from 1),
    /// and the header lines (lower-cased names).
    public struct Request: Sendable {
        public var path: String
        public var n: Int
        public var headers: [String: String]
    }

    public let port: UInt16
    public let host: String
    private let listener: Int32
    private let route: @Sendable (Request) -> Reply
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    /// `route(path, n)` answers the n-th request (from 1) for `path`.
    public convenience init(host: String = "127.0.0.1", route: @escaping @Sendable (String, Int) -> Reply) throws {
        try self.init(host: host, requests: { route($0.path, $0.n) })
    }

    /// `requests(request)` answers each request, with its headers (for Range requests). `host`
    /// other than 127.0.0.1 (say 127.0.0.7) lets a test allow the server's address alone and
    /// still see every spelling of 127.0.0.1 refused.
    public init(host: String = "127.0.0.1", requests route: @escaping @Sendable (Request) -> Reply) throws {
        self.route = route
        self.host = host
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw POSIXError(.EADDRNOTAVAIL) }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    public func url(_ path: String) -> String { "http://\(host):\(port)\(path)" }

    /// How many requests `path` has had.
    public func hits(_ path: String) -> Int { lock.withLock { counts[path, default: 0] } }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { break }
            Thread.detachNewThread { [self] in serve(client) }
        }
        close(listener)
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) && request.count < 65536 {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { return }
            request += buffer[0..<n]
        }
        let lines = String(decoding: request, as: UTF8.self).components(separatedBy: "\r\n")
        let line = lines[0].split(separator: " ")
        guard line.count >= 2 else { return }
        var headers: [String: String] = [:]
        for header in lines.dropFirst() {
            guard let colon = header.firstIndex(of: ":") else { continue }
            headers[header[..<colon].lowercased()] = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let path = String(line[1])
        let n = lock.withLock { () -> Int in
            counts[path, default: 0] += 1
            return counts[path, default: 0]
        }
        switch route(Request(path: path, n: n, headers: headers)) {
        case .status(let code, let headers, let body):
            let head = (["HTTP/1.1 \(code) X", "Content-Length: \(body.count)", "Connection: close"] + headers)
                .joined(separator: "\r\n") + "\r\n\r\n"
            _ = send(client, Array(head.utf8) + body)
        case .cut(let code, let headers, let body, let declaredLength):
            let head = (["HTTP/1.1 \(code) X", "Content-Length: \(declaredLength)", "Connection: close"] + headers)
                .joined(separator: "\r\n") + "\r\n\r\n"
            _ = send(client, Array(head.utf8) + body)
        case .trickle(let total, let chunk, let every):
            guard send(client, Array("HTTP/1.1 200 OK\r\nContent-Length: \(total)\r\nConnection: close\r\n\r\n".utf8)) else { return }
            var sent = 0
            while sent < total {
                Thread.sleep(forTimeInterval: every)
                guard send(client, [UInt8](repeating: 0xFF, count: min(chunk, total - sent))) else { return }
                sent += chunk
            }
        case .endless:
            guard send(client, Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8)) else { return }
            let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: 0xD8, count: 65536) + Array("\r\n".utf8)
            while send(client, chunk) {}
        }
    }

    private func send(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
