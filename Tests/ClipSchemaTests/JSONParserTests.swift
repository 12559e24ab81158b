import ClipSchema
import XCTest

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String, maxDepth: Int = 64) throws -> JSONValue {
        try JSONParser(maxDepth: maxDepth).parse(Array(text.utf8))
    }

    private func refusal(_ bytes: [UInt8], maxDepth: Int = 64) -> JSONParseError? {
        do {
            _ = try JSONParser(maxDepth: maxDepth).parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    func testScalarsAndContainers() throws {
        XCTAssertEqual(try parse(#" {"a": [1, -2.5e3, true, false, null, "x"], "b": {}} "#),
                       ["a": [1, -2500, true, false, nil, "x"], "b": [:]])
        XCTAssertEqual(try parse("0"), 0)
        XCTAssertEqual(try parse("-0.0"), .number(-0.0))
        XCTAssertEqual(try parse("1E+2"), 100)
        XCTAssertEqual(try parse("[]"), [])
    }

    func testObjectsKeepDocumentOrder() throws {
        XCTAssertEqual(try parse(#"{"z": 1, "a": 2, "m": 3}"#).object?.keys, ["z", "a", "m"])
    }

    func testEscapesAndUnicode() throws {
        XCTAssertEqual(try parse(#""\"\\\/\b\f\n\r\t""#), .string("\"\\/\u{8}\u{c}\n\r\t"))
        XCTAssertEqual(try parse(#""\u00e9\u732b\ud83d\ude00""#), .string("é猫😀"))
        XCTAssertEqual(try parse("\"é猫😀\""), .string("é猫😀"))
        XCTAssertEqual(try parse(#""a\u0000b""#), .string("a\u{0}b"))
    }

    func testRefusesWhatRFC8259Refuses() {
        let cases = [
            "", " ", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]", "[-]", "NaN", "Infinity",
            "{'a':1}", "{a:1}", "[1 2]", "{\"a\" 1}", "\"abc", "[\"\\x\"]", "[\"\\u12\"]", "tru", "nul",
            "[1] [2]", "// c\n1", "\u{FEFF}[]",
        ]
        for text in cases {
            XCTAssertNotNil(refusal(Array(text.utf8)), "accepted \(text.debugDescription)")
        }
    }

    func testRefusesDuplicateKeysAndSaysWhere() throws {
        let error = try XCTUnwrap(refusal(Array(#"{"a": 1, "b": {"c": 1, "c": 2}}"#.utf8)))
        XCTAssertEqual(error.offset, 23)
        XCTAssertTrue(error.message.contains("duplicate key \"c\""), error.message)
    }

    func testRefusesInvalidUTF8AndLoneSurrogates() {
        XCTAssertNotNil(refusal([0x22, 0xC3, 0x28, 0x22]))  // bad continuation byte
        XCTAssertNotNil(refusal([0x22, 0xED, 0xA0, 0x80, 0x22]))  // encoded surrogate
        XCTAssertNotNil(refusal([0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22]))  // 5-byte form
        XCTAssertNotNil(refusal([0xFF]))
        XCTAssertNotNil(refusal(Array(#""\ud800""#.utf8)))
        XCTAssertNotNil(refusal(Array(#""\udc00\ud800""#.utf8)))
        XCTAssertNotNil(refusal(Array(#""\ud800\u0041""#.utf8)))
    }

    func testRefusesRawControlCharactersInStrings() {
        for byte: UInt8 in [0x00, 0x01, 0x0A, 0x1F] {
            XCTAssertNotNil(refusal([0x22, byte, 0x22]), "byte \(byte)")
        }
    }

    func testNumbersMustFitADouble() throws {
        XCTAssertNotNil(refusal(Array("1e400".utf8)))
        XCTAssertNotNil(refusal(Array("-1e400".utf8)))
        XCTAssertEqual(try parse("1e-400"), 0)  // underflow rounds to zero, as every parser does
        XCTAssertEqual(try parse("9007199254740993"), .number(9007199254740992))
    }

    func testDepthIsBounded() throws {
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertNotNil(refusal(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)))
        // Hundreds of thousands of levels: refused at the limit, without exhausting the stack.
        let hostile = [UInt8](repeating: UInt8(ascii: "["), count: 500_000)
        XCTAssertEqual(refusal(hostile)?.offset, 64)
        let objects = Array(String(repeating: #"{"a":"#, count: 200_000).utf8)
        XCTAssertNotNil(refusal(objects))
    }

    func testLongStringsParseInOnePass() throws {
        let payload = String(repeating: "QUJD", count: 2_000_000)  // 8 MB of base64
        let value = try parse("[\"\(payload)\"]")
        XCTAssertEqual(value.array?.first?.string?.utf8.count, payload.utf8.count)
    }

    func testErrorsSayWhere() throws {
        let error = try XCTUnwrap(refusal(Array(#"{"a": [1, 2,, 3]}"#.utf8)))
        XCTAssertEqual(error.offset, 12)
        XCTAssertEqual(error.description, "unexpected character ',' at byte 12")
    }
}
