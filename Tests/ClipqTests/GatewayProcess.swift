import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// A real `clipq gateway` process against the test broker, on a port of its own choosing.
final class GatewayProcess: ClipqProcess, @unchecked Sendable {
    private(set) var port = 0

    init(broker: TestBroker, topology: Topology, arguments: [String] = [], environment extra: [String: String] = [:]) throws {
        try super.init(["gateway", "--port", "0"] + arguments, brokerURL: broker.url, topology: topology, environment: extra)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline && process.isRunning {
            if let line = log.first(where: { $0.contains(#""event":"listening""#) }),
                let value = try? JSONParser().parse(Array(line.utf8)), let port = value["port"]?.number
            {
                self.port = Int(port)
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port > 0, waitForLog(containing: #""event":"connected""#, timeout: .seconds(30)) else {
            process.terminate()
            throw TestBrokerError(message: "the gateway did not start:\n\(log.joined(separator: "\n"))")
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
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
