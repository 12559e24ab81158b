import ClipSchema
import XCTest

/// JSON and JSON Schema compare strings by code points. Swift's `String ==` (and a `[String: X]`
/// dictionary) uses canonical equivalence, under which the precomposed "é" (U+00E9) and "e"
/// followed by a combining acute accent (U+0065 U+0301) are one string. These tests hold each
/// place the contract compares strings to the code-point rule, in values and in keys.
final class CodePointTests: XCTestCase {
    /// The escapes keep the two forms apart in this file whatever an editor normalizes to.
    private let composed = "caf\u{E9}"
    private let decomposed = "cafe\u{301}"

    private func schema(_ text: String) throws -> JSONSchema {
        try JSONSchema(try JSONParser().parse(Array(text.utf8)))
    }

    private func json(_ text: String) throws -> JSONValue {
        try JSONParser().parse(Array(text.utf8))
    }

    func testTheTwoFormsAreCanonicallyEquivalentInSwiftButNotEqualHere() {
        XCTAssertEqual(composed, decomposed, "the premise: Swift's String == merges them")
        XCTAssertNotEqual(JSONValue.string(composed), JSONValue.string(decomposed))
        XCTAssertNotEqual(ScalarString(composed), ScalarString(decomposed))
        XCTAssertEqual(ScalarString(composed), ScalarString("caf\u{E9}"))
        XCTAssertEqual(Set([JSONValue.string(composed), .string(decomposed)]).count, 2)
    }

    func testConstComparesCodePoints() throws {
        let s = try schema(#"{"const": "caf\u00e9"}"#)
        XCTAssertTrue(s.isValid(.string(composed)))
        XCTAssertFalse(s.isValid(.string(decomposed)))
        let d = try schema(#"{"const": "cafe\u0301"}"#)
        XCTAssertTrue(d.isValid(.string(decomposed)))
        XCTAssertFalse(d.isValid(.string(composed)))
    }

    func testEnumComparesCodePoints() throws {
        let s = try schema(#"{"enum": ["caf\u00e9", "tea"]}"#)
        XCTAssertTrue(s.isValid(.string(composed)))
        XCTAssertFalse(s.isValid(.string(decomposed)))
        // Inside arrays and objects too.
        let nested = try schema(#"{"enum": [["caf\u00e9"], {"k": "caf\u00e9"}]}"#)
        XCTAssertTrue(nested.isValid(try json(#"["caf\u00e9"]"#)))
        XCTAssertFalse(nested.isValid(try json(#"["cafe\u0301"]"#)))
        XCTAssertFalse(nested.isValid(try json(#"{"k": "cafe\u0301"}"#)))
    }

    func testUniqueItemsComparesCodePoints() throws {
        let s = try schema(#"{"uniqueItems": true}"#)
        XCTAssertTrue(s.isValid(try json(#"["caf\u00e9", "cafe\u0301"]"#)))
        XCTAssertFalse(s.isValid(try json(#"["caf\u00e9", "caf\u00e9"]"#)))
        XCTAssertTrue(s.isValid(try json(#"[{"caf\u00e9": 1}, {"cafe\u0301": 1}]"#)))
    }

    func testKeysInBothFormsAreTwoKeysNotADuplicate() throws {
        let object = try XCTUnwrap(try json(#"{"caf\u00e9": 1, "cafe\u0301": 2}"#).object)
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object[composed], .number(1))
        XCTAssertEqual(object[decomposed], .number(2))
        XCTAssertThrowsError(try json(#"{"caf\u00e9": 1, "caf\u00e9": 2}"#))
        XCTAssertThrowsError(try json(#"{"cafe\u0301": 1, "cafe\u0301": 2}"#))
    }

    func testObjectsWithKeysInDifferentFormsAreNotEqual() throws {
        XCTAssertNotEqual(try json(#"{"caf\u00e9": 1}"#), try json(#"{"cafe\u0301": 1}"#))
        XCTAssertEqual(try json(#"{"caf\u00e9": 1, "b": 2}"#), try json(#"{"b": 2, "caf\u00e9": 1}"#))
    }

    func testPropertiesAndAdditionalPropertiesMatchNamesByCodePoints() throws {
        let s = try schema(#"{"properties": {"caf\u00e9": {"type": "integer"}}, "additionalProperties": false}"#)
        XCTAssertTrue(s.isValid(try json(#"{"caf\u00e9": 1}"#)))
        // The decomposed name is another property: not declared, so refused, and not typed by "é"'s schema.
        let violations = s.validate(try json(#"{"cafe\u0301": "x"}"#))
        XCTAssertEqual(violations.map(\.keyword), ["additionalProperties"])
    }

    func testRequiredMatchesNamesByCodePoints() throws {
        let s = try schema(#"{"required": ["caf\u00e9"]}"#)
        XCTAssertTrue(s.isValid(try json(#"{"caf\u00e9": 1}"#)))
        XCTAssertEqual(s.validate(try json(#"{"cafe\u0301": 1}"#)).map(\.keyword), ["required"])
    }

    func testDependentRequiredAndSchemasMatchNamesByCodePoints() throws {
        let r = try schema(#"{"dependentRequired": {"caf\u00e9": ["b"]}}"#)
        XCTAssertFalse(r.isValid(try json(#"{"caf\u00e9": 1}"#)))
        XCTAssertTrue(r.isValid(try json(#"{"cafe\u0301": 1}"#)))
        let d = try schema(#"{"dependentSchemas": {"caf\u00e9": false}}"#)
        XCTAssertFalse(d.isValid(try json(#"{"caf\u00e9": 1}"#)))
        XCTAssertTrue(d.isValid(try json(#"{"cafe\u0301": 1}"#)))
    }

    func testPatternsStepThroughCodePoints() throws {
        // As ECMA-262 reads it: "e\u0301" is two code points, so "^cafe" matches it and "^caf.$" does not.
        let prefix = try schema(#"{"pattern": "^cafe"}"#)
        XCTAssertTrue(prefix.isValid(.string(decomposed)))
        XCTAssertFalse(prefix.isValid(.string(composed)))
        let oneMore = try schema(#"{"pattern": "^caf.$"}"#)
        XCTAssertTrue(oneMore.isValid(.string(composed)))
        XCTAssertFalse(oneMore.isValid(.string(decomposed)))
    }

    func testTheRequestColumnsCheckComparesCodePoints() throws {
        // No lowercase ASCII letter has a canonical decomposition, so "image" and "text" have no
        // second form; the request's check is `const` on an array of names, held here with names
        // that have one. The real request still refuses a look-alike column.
        let columns = try schema(#"{"properties": {"columns": {"const": ["caf\u00e9", "text"]}}}"#)
        XCTAssertTrue(columns.isValid(try json(#"{"columns": ["caf\u00e9", "text"]}"#)))
        XCTAssertFalse(columns.isValid(try json(#"{"columns": ["cafe\u0301", "text"]}"#)))
        let decoder = try RequestDecoder()
        let good = #"{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "a cat"]]}}"#
        XCTAssertNoThrow(try decoder.decode(Array(good.utf8)))
        let bad = #"{"input_data": {"columns": ["i\u0308mage", "text"], "index": [0], "data": [["", "a cat"]]}}"#
        XCTAssertThrowsError(try decoder.decode(Array(bad.utf8))) { error in
            XCTAssertEqual((error as? ClipError)?.code, .schemaViolation)
        }
    }
}
