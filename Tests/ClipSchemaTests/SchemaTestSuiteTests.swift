import ClipSchema
import Foundation
import XCTest

/// The official JSON Schema Test Suite (draft 2020-12), for every keyword the validator
/// supports. Groups whose schema needs what it does not support (remote or metaschema refs,
/// anchors, nested $id) must fail to compile, and are listed with the reason in
/// Tests/Fixtures/json-schema-test-suite/unsupported.txt: nothing passes by being skipped.
final class SchemaTestSuiteTests: XCTestCase {
    func testValidatorAgreesWithTheOfficialSuite() throws {
        let listed = try Set(
            String(contentsOf: Fixtures.url("json-schema-test-suite/unsupported.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
                .map { $0.components(separatedBy: " -- ")[0] })
        var refused: Set<String> = []
        var checked = 0
        for file in try Fixtures.files(in: "json-schema-test-suite/draft2020-12") {
            guard case .array(let groups) = try Fixtures.json(file) else { return XCTFail("\(file) is not a list") }
            for group in groups {
                let name = file.deletingPathExtension().lastPathComponent + ": " + (group["description"]?.string ?? "?")
                let schema: JSONSchema
                do {
                    schema = try JSONSchema(group["schema"] ?? .bool(true))
                } catch {
                    refused.insert(name)
                    XCTAssertTrue(listed.contains(name), "\(name) does not compile: \(error)")
                    continue
                }
                XCTAssertFalse(listed.contains(name), "\(name) is listed as unsupported but compiles")
                for test in group["tests"]?.array ?? [] {
                    let expected = test["valid"]?.bool ?? false
                    let violations = schema.validate(test["data"] ?? .null)
                    XCTAssertEqual(
                        violations.isEmpty, expected,
                        "\(name) / \(test["description"]?.string ?? "?"): \(violations.map(\.description))")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(refused, listed, "unsupported.txt lists groups that are not in the suite")
        XCTAssertGreaterThan(checked, 800)
    }
}
