import Foundation

/// A real RabbitMQ broker for tests: its own node name, ports, data folder and Erlang cookie,
/// so it never touches (or needs) the machine's own broker. A watchdog shell stops it when
/// the test process goes away, however it goes.
public final class TestBroker: @unchecked Sendable {
    public let amqpPort: Int
    public let nodeName: String
    public let directory: URL
    private let environment: [String: String]
    private let watchdog: Process

    public var url: String { "amqp://guest:guest@127.0.0.1:\(amqpPort)/" }

    /// One broker for the whole test process, started on first use (about 5-10 s).
    public static let shared: Result<TestBroker, Error> = Result { try TestBroker() }

    public init(extraConfig: String = "") throws {
        let ports = try (0..<3).map { _ in try Self.freePort() }
        amqpPort = ports[0]
        nodeName = "clipq-test-\(getpid())-\(ports[0])@localhost"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-broker-\(getpid())-\(ports[0])")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "[].\n".write(to: directory.appendingPathComponent("enabled_plugins"), atomically: true, encoding: .utf8)
        let config = """
            listeners.tcp.default = 127.0.0.1:\(ports[0])
            loopback_users = none
            log.console = false
            log.file.level = warning
            \(extraConfig)
            """
        try config.write(to: directory.appendingPathComponent("rabbitmq.conf"), atomically: true, encoding: .utf8)

        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = directory.path  // the Erlang cookie lives here, for server and rabbitmqctl alike
        environment["RABBITMQ_NODENAME"] = nodeName
        environment["RABBITMQ_NODE_PORT"] = String(ports[0])
        environment["RABBITMQ_DIST_PORT"] = String(ports[1])
        environment["ERL_EPMD_PORT"] = String(ports[2])
        environment["RABBITMQ_MNESIA_BASE"] = directory.appendingPathComponent("mnesia").path
        environment["RABBITMQ_LOG_BASE"] = directory.appendingPathComponent("log").path
        environment["RABBITMQ_CONFIG_FILE"] = directory.appendingPathComponent("rabbitmq").path
        environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = directory.appendingPathComponent("enabled_plugins").path
        environment["RABBITMQ_PID_FILE"] = directory.appendingPathComponent("pid").path
        self.environment = environment

        // The broker runs under a shell that outlives neither the test process nor the broker.
        let script = """
            /usr/lib/rabbitmq/bin/rabbitmq-server > "$1/server.log" 2>&1 &
            server=$!
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.5; done
            /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || kill -9 $server
            for i in 1 2 3 4 5 6 7 8 9 10; do epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 && break; sleep 0.5; done
            rm -rf "$1"
            """
        watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", script, "broker", directory.path]
        watchdog.environment = environment
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
        try waitUntilListening(timeout: 60)
    }

    deinit {
        stop()
    }

    /// Stops the broker (and its watchdog), waiting for it to go.
    public func stop() {
        guard watchdog.isRunning else { return }
        _ = try? ctl(["stop"])
        watchdog.waitUntilExit()
    }

    /// Runs `rabbitmqctl` against this node; returns its standard output.
    @discardableResult
    public func ctl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl")
        process.arguments = ["-q", "-n", nodeName] + arguments
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestBrokerError(message: "rabbitmqctl \(arguments.joined(separator: " ")): \(text)")
        }
        return text
    }

    /// Stops and starts the broker application (connections drop; durable queues and
    /// persistent messages stay), as a broker restart looks to its clients.
    public func restart() throws {
        try ctl(["stop_app"])
        try ctl(["start_app"])
        try waitUntilListening(timeout: 60)
    }

    /// Messages ready in a queue, as the broker counts them.
    public func messageCount(queue: String) throws -> Int? {
        for line in try ctl(["list_queues", "name", "messages_ready", "--no-table-headers"]).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.count == 2, fields[0] == queue { return Int(fields[1]) }
        }
        return nil
    }

    private func waitUntilListening(timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if Self.canConnect(port: amqpPort) { return }
            guard watchdog.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
        throw TestBrokerError(message: "rabbitmq-server did not start within \(Int(timeout)) s:\n\(log.suffix(2000))")
    }

    static func canConnect(port: Int) -> Bool {
        guard let fd = connectToLoopback(port: port) else { return false }
        close(fd)
        return true
    }

    /// A TCP socket connected to 127.0.0.1:`port` (close it when done), or nil.
    public static func connectToLoopback(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }


    /// A port nothing listens on now (the kernel's choice of an ephemeral one).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestBrokerError(message: "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct TestBrokerError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
