import Foundation
import XCTest

final class SchemaCommandTests: XCTestCase {
    private func fixture(_ path: String) -> String { CLI.fixtures.appendingPathComponent(path).path }

    func testValidFilesPrintValidAndExitZero() throws {
        let files = ["doc-url-and-text", "doc-data-uri-with-text", "doc-texts-only"].map { fixture("requests/valid/\($0).json") }
        let result = try CLI.run(["schema", "validate"] + files)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, files.map { "\($0): valid\n" }.joined())
    }

    func testInvalidFilesListTheirErrorsAndExitNonZero() throws {
        let good = fixture("requests/valid/base64-image.json")
        let bad = fixture("requests/invalid/row-neither-image-nor-text.json")
        let result = try CLI.run(["schema", "validate", good, bad])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(
            result.stdout,
            """
            \(good): valid
            \(bad): invalid
              /input_data/data/1: not: a row must carry an image, a text, or both [schema_violation]

            """)
    }

    func testTheRequestSchemaAppliesTheWorkersRules() throws {
        let mismatch = fixture("requests/invalid/index-shorter-than-data.json")
        var result = try CLI.run(["schema", "validate", mismatch])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("/input_data/index: index: index has 1 entries but data has 2 rows"), result.stdout)

        let rows = fixture("requests/valid/max-rows.json")
        XCTAssertEqual(try CLI.run(["schema", "validate", rows]).status, 0)
        result = try CLI.run(["schema", "validate", "--max-rows", "100", rows])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("[too_many_rows]"), result.stdout)
    }

    func testOtherBuiltinSchemasAndSchemaFiles() throws {
        let reply = fixture("contract/reply/valid/both-in-one-row.json")
        XCTAssertEqual(try CLI.run(["schema", "validate", "--schema", "reply", reply]).status, 0)
        XCTAssertEqual(try CLI.run(["schema", "validate", "--schema", "error", reply]).status, 1)
        let dead = fixture("contract/dead-letter/invalid/unknown-error-code.json")
        let result = try CLI.run(["schema", "validate", "--schema", "dead-letter", dead])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("/error/code: enum:"), result.stdout)

        // A schema given by path, whose $ref reaches a built-in schema by its $id.
        let schemaFile = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-test-\(getpid()).json")
        try Data(#"{"$ref": "https://clipq.dev/schemas/error.schema.json"}"#.utf8).write(to: schemaFile)
        defer { try? FileManager.default.removeItem(at: schemaFile) }
        let ok = fixture("contract/error/valid/with-pointer.json")
        XCTAssertEqual(try CLI.run(["schema", "validate", "--schema", schemaFile.path, ok]).status, 0)
        XCTAssertEqual(try CLI.run(["schema", "validate", "--schema", schemaFile.path, reply]).status, 1)
    }

    func testUnreadableAndUnparseableFilesAreInvalid() throws {
        let result = try CLI.run(["schema", "validate", "/nonexistent.json", fixture("requests/invalid/duplicate-key.json")])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("/nonexistent.json: invalid\n  cannot read the file"), result.stdout)
        XCTAssertTrue(result.stdout.contains("invalid_json: duplicate key \"data\""), result.stdout)
    }

    func testPrintAndCodes() throws {
        let printed = try CLI.run(["schema", "print", "request"])
        XCTAssertEqual(printed.status, 0)
        XCTAssertEqual(
            printed.stdout,
            try String(contentsOf: CLI.fixtures.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Schemas/request.schema.json"), encoding: .utf8))
        let codes = try CLI.run(["schema", "codes"])
        XCTAssertEqual(codes.stdout.split(separator: "\n").count, 13)
        XCTAssertTrue(codes.stdout.contains("too_many_rows\t"))
    }
}
