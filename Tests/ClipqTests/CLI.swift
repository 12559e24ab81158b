import ClipTestSupport
import Foundation
import XCTest

/// Runs the built `clipq` executable (and `clipq-bench`), as a user would.
enum CLI {
    /// The products folder the test bundle lies in, beside the executables.
    static let products: URL = {
        let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL
            ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return bundle.deletingLastPathComponent()
    }()

    static let executable = products.appendingPathComponent("clipq")
    static let benchExecutable = products.appendingPathComponent("clipq-bench")

    static let fixtures = TestFixtures.root

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `clipq-bench` with these arguments.
    static func bench(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try run(arguments, environment: environment, executable: benchExecutable)
    }

    /// - environment: variables set for this run, on top of the test process's own.
    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                    executable: URL = executable) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
