import ClipSchema
import XCTest

final class JSONWriterTests: XCTestCase {
    func testRoundTripsDocuments() throws {
        let document: JSONValue = [
            "text": "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 猫 😀",
            "numbers": [0, -1, 1.5, 1e-7, 123456789012, -0.25], "flags": [true, false, nil], "empty": [:],
        ]
        let bytes = JSONWriter.serialize(document)
        XCTAssertEqual(try JSONParser().parse(bytes), document)
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains(#"\u0000"#))
    }

    func testIntegersHaveNoFraction() {
        XCTAssertEqual(JSONWriter.string([1, -7, 0, 1e14]), "[1,-7,0,100000000000000]")
    }

    func testFloatsUseTheShortestFormThatRoundTrips() throws {
        var writer = JSONWriter()
        writer.writeFloats([0.1, 1, -2.5, 1e-5, 3.4028235e38, .leastNonzeroMagnitude])
        XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), "[0.1,1.0,-2.5,1e-05,3.4028235e+38,1e-45]")

        var generator = SystemRandomNumberGenerator()
        var values: [Float] = (0..<20_000).map { _ in Float(bitPattern: generator.next()) }.filter(\.isFinite)
        values += [0, -0.0, .greatestFiniteMagnitude, -.leastNormalMagnitude, .ulpOfOne]
        writer = JSONWriter()
        writer.writeFloats(values)
        let parsed = try XCTUnwrap(try JSONParser().parse(writer.bytes).array)
        XCTAssertEqual(parsed.count, values.count)
        for (value, json) in zip(values, parsed) {
            let number = try XCTUnwrap(json.number)
            XCTAssertEqual(Float(number).bitPattern, value.bitPattern, "\(value)")
        }
    }
}
