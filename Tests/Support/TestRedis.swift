import Foundation

/// A real Redis server for tests: its own port and data folder, no persistence. A watchdog
/// shell kills it when the test process goes away, however it goes. It can be killed and
/// started again on the same port, as an outage looks to its clients.
public final class TestRedis: @unchecked Sendable {  // start/kill are called from one test at a time
    public let port: Int
    public let directory: URL
    private var watchdog: Process?

    public var url: String { "redis://127.0.0.1:\(port)" }

    public init() throws {
        guard let server = Self.serverPath() else {
            throw TestBrokerError(message: "redis-server is not installed: run make setup")
        }
        port = try TestBroker.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-redis-\(getpid())-\(port)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.serverPath = server
        try start()
    }

    private let serverPath: String

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts the server (again) on `port`, waiting until it answers.
    public func start() throws {
        kill()
        // The server runs under a shell that outlives neither the test process nor the server.
        let script = """
            "$2" --port \(port) --bind 127.0.0.1 --save "" --appendonly no --dir "$1" > "$1/server.log" 2>&1 &
            server=$!
            echo $server > "$1/pid"
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.2; done
            kill -9 $server 2>/dev/null
            kill -0 \(getpid()) 2>/dev/null || rm -rf "$1"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "redis", directory.path, serverPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        watchdog = process
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? command("PING")) == "+PONG" { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
        throw TestBrokerError(message: "redis-server did not start on port \(port):\n\(log.suffix(2000))")
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits until it is gone.
    public func kill() {
        guard let watchdog, watchdog.isRunning else { return }
        if let text = try? String(contentsOf: directory.appendingPathComponent("pid"), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            Foundation.kill(pid, SIGKILL)
        }
        watchdog.waitUntilExit()
        self.watchdog = nil
    }

    /// Sends one inline command (e.g. "PTTL key") and returns the first line of the reply.
    public func command(_ line: String) throws -> String {
        guard let fd = TestBroker.connectToLoopback(port: port) else {
            throw TestBrokerError(message: "cannot connect to redis on port \(port)")
        }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array((line + "\r\n").utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw TestBrokerError(message: "cannot send to redis")
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !reply.contains(10) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw TestBrokerError(message: "redis closed the connection") }
            reply += buffer.prefix(n)
        }
        return String(decoding: reply.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    }

    private static func serverPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/redis-server" } + ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
