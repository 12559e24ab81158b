import ClipSchema
import Foundation
import XCTest

/// The validator's verdicts equal Python `jsonschema`'s on every corpus document and every
/// JSON Schema Test Suite case (Tests/Fixtures/jsonschema_verdicts.py computes Python's).
/// `make setup` installs jsonschema; its absence fails this test rather than skipping it.
final class DifferentialTests: XCTestCase {
    func testVerdictsEqualPythonJsonschema() throws {
        let python = try pythonVerdicts()
        var compared = 0

        let corpora: [(BuiltinSchema, [String])] = [
            (.request, ["requests/valid", "requests/invalid"]),
            (.reply, ["contract/reply/valid", "contract/reply/invalid"]),
            (.error, ["contract/error/valid", "contract/error/invalid"]),
            (.deadLetter, ["contract/dead-letter/valid", "contract/dead-letter/invalid"]),
        ]
        for (schema, folders) in corpora {
            let compiled = try schema.compiled()
            for folder in folders {
                for file in try Fixtures.files(in: folder) {
                    let key = "\(schema.rawValue)/\(folder)/\(file.lastPathComponent)"
                    guard let theirs = python[key] else { XCTFail("no Python verdict for \(key)"); continue }
                    guard let document = try? Fixtures.json(file) else {
                        // Stricter than Python's json (duplicate keys, NaN, 1e400, lone surrogates,
                        // depth) is fine; looser is not, and the request corpus pins each case.
                        continue
                    }
                    XCTAssertNotEqual(theirs, .string("unparseable"), "\(key): Python refuses JSON that clipq accepts")
                    XCTAssertEqual(.bool(compiled.isValid(document)), theirs, key)
                    compared += 1
                }
            }
        }

        for file in try Fixtures.files(in: "json-schema-test-suite/draft2020-12") {
            guard case .array(let groups) = try Fixtures.json(file) else { continue }
            for (g, group) in groups.enumerated() {
                guard let schema = try? JSONSchema(group["schema"] ?? true) else { continue }  // unsupported.txt
                for (t, test) in (group["tests"]?.array ?? []).enumerated() {
                    let key = "suite/\(file.lastPathComponent)/\(g)/\(t)"
                    XCTAssertEqual(.bool(schema.isValid(test["data"] ?? .null)), python[key], key)
                    compared += 1
                }
            }
        }
        XCTAssertGreaterThan(compared, 900)
    }

    private func pythonVerdicts() throws -> JSONObject {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Fixtures.url("jsonschema_verdicts.py").path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "jsonschema_verdicts.py failed (is jsonschema installed? make setup)")
        return try XCTUnwrap(try JSONParser().parse(Array(data)).object)
    }
}
