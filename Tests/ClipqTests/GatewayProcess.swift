import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// A real `clipq gateway` process against the test broker, on a port of its own choosing.
final class GatewayProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private(set) var port = 0

    init(broker: TestBroker, topology: Topology, arguments: [String] = [], environment extra: [String: String] = [:]) throws {
        process.executableURL = CLI.executable
        process.arguments = ["gateway", "--port", "0"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CLIPQ_AMQP_URL"] = broker.url
        environment["CLIPQ_QUEUE"] = topology.requestQueue
        environment["CLIPQ_DLX"] = topology.deadLetterExchange
        environment["CLIPQ_DEAD_QUEUE"] = topology.deadLetterQueue
        environment["CLIPQ_DELIVERY_LIMIT"] = String(topology.deliveryLimit)
        process.environment = environment.merging(extra) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.append(data) }
        }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline && process.isRunning {
            if let line = log.first(where: { $0.contains(#""event":"listening""#) }),
                let value = try? JSONParser().parse(line), let port = value["port"]?.number
            {
                self.port = Int(port)
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port > 0, waitForLog(containing: #""event":"connected""#) else {
            process.terminate()
            throw TestBrokerError(message: "the gateway did not start:\n\(log.joined(separator: "\n"))")
        }
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    private var partial: [UInt8] = []

    /// Whole lines only: a read may end mid-line. Called with `lock` held.
    private func append(_ data: Data) {
        partial += data
        guard let end = partial.lastIndex(of: 0x0A) else { return }
        lines += String(decoding: partial[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
        partial.removeSubrange(...end)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    var log: [String] { lock.withLock { lines } }

    func waitForLog(containing text: String, count: Int = 1, timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.filter({ $0.contains(text) }).count >= count { return true }
            if !process.isRunning { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `timeout`).
    func terminate(timeout: Duration = .seconds(20)) -> Int32? {
        process.terminate()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

/// Real HTTP clients, run as Python scripts (Tests/Fixtures/gateway/): the official `openai`
/// package and `requests`. Each call list runs in one interpreter, results come back as JSON.
enum PythonClient {
    static let directory = CLI.fixtures.appendingPathComponent("gateway")

    /// `calls` for openai_calls.py; returns one result per call.
    static func openAI(baseURL: String, apiKey: String = "unused", calls: [JSONValue]) throws -> [JSONValue] {
        try run("openai_calls.py", ["base_url": .string(baseURL + "/v1"), "api_key": .string(apiKey), "calls": .array(calls)])
    }

    /// `calls` for http_calls.py.
    static func http(_ calls: [JSONValue]) throws -> [JSONValue] {
        try run("http_calls.py", ["calls": .array(calls)])
    }

    private static func run(_ script: String, _ input: JSONValue) throws -> [JSONValue] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", directory.appendingPathComponent(script).path]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(JSONWriter.serialize(input)))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestBrokerError(message: "\(script) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return try JSONParser(maxDepth: 128).parse(Array(output)).array ?? []
    }
}

extension JSONValue {
    /// This document with every `$ref` that starts with `from` starting with `to` instead.
    func rerooted(from: String, to: String) -> JSONValue {
        switch self {
        case .array(let items): return .array(items.map { $0.rerooted(from: from, to: to) })
        case .object(let object):
            var result = JSONObject()
            for (key, value) in object.members {
                if key == "$ref", let target = value.string, target.hasPrefix(from) {
                    result[key] = .string(to + target.dropFirst(from.count))
                } else {
                    result[key] = value.rerooted(from: from, to: to)
                }
            }
            return .object(result)
        default: return self
        }
    }

    /// A JSON array of numbers as floats.
    var floats: [Float]? { array?.map { Float($0.number ?? .nan) } }
}
