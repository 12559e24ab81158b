import ClipSchema
import ClipTestSupport
import XCTest

@testable import ClipJobs

final class InputTests: XCTestCase {
    static let fixtures = TestFixtures.url("jobs")

    func testCSVRecords() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\n\"two\nlines\",,z"
        XCTAssertEqual(csvRecords(Array(text.utf8)), [["a", "b", "c"], ["x, y", "say \"hi\"", ""], ["two\nlines", "", "z"]])
        XCTAssertEqual(csvRecords(Array("h\n".utf8)), [["h"]])
        XCTAssertEqual(csvRecords([]), [])
        XCTAssertEqual(csvRecords(Array((csvField("a,\"b\"\nc") + ",d\n").utf8)), [["a,\"b\"\nc", "d"]])
    }

    func testCSVFolder() throws {
        let input = try BatchInput.load(Self.fixtures.appendingPathComponent("csv").path)
        XCTAssertEqual(input.rows.map { "\($0.file):\($0.row)" }, ["a.csv:0", "a.csv:1", "a.csv:2", "a.csv:3", "b.csv:0", "b.csv:1", "b.csv:2"])
        XCTAssertEqual(input.rows[1].text, "a caption, with a comma and \"quotes\"")
        XCTAssertNil(input.rows[1].image)
        XCTAssertEqual(input.rows[4].text, "a multi-line\ncaption", "columns found by name, in any order")
        XCTAssertEqual(input.rows[5].problem?.code, .schemaViolation)
        XCTAssertNil(input.rows[0].problem)
        let excel = try BatchInput.csvRows([0xEF, 0xBB, 0xBF] + Array("image,text\r\n,hello\r\n".utf8), file: "x.csv")
        XCTAssertEqual(excel.map(\.text), ["hello"], "a byte-order mark does not hide the header")
        XCTAssertThrowsError(try BatchInput.csvRows(Array("a,b\n1,2\n".utf8), file: "x.csv"))
    }

    func testJSONLFile() throws {
        let input = try BatchInput.load(Self.fixtures.appendingPathComponent("jsonl/rows.jsonl").path)
        XCTAssertEqual(input.rows.map(\.row), [0, 1, 2, 3, 5], "the blank line is skipped but counted")
        XCTAssertEqual(input.rows[2].problem?.code, .invalidJSON)
        XCTAssertEqual(input.rows[1].text, "only a text")
        XCTAssertEqual(input.rows[3].image, .cell("%%%"))
        let odd = BatchInput.jsonlRows(Array("[1]\n{\"text\": 3}\n".utf8), file: "x")
        XCTAssertEqual(odd.map { $0.problem?.code }, [.schemaViolation, .schemaViolation])
    }

    func testImageFolderWithCaptions() throws {
        let input = try BatchInput.load(Self.fixtures.appendingPathComponent("images").path)
        XCTAssertEqual(input.rows.map(\.file), ["a.png", "b.png", "c.png"])
        XCTAssertEqual(input.rows.map(\.text), ["a green square", nil, "a blue square"])
        guard case .success(let row) = input.rows[1].requestRow() else { return XCTFail("b.png unreadable") }
        XCTAssertEqual(row.image, try Data(contentsOf: Self.fixtures.appendingPathComponent("images/b.png")).base64EncodedString())
    }

    func testMissingInputIsAnError() {
        XCTAssertThrowsError(try BatchInput.load("/nonexistent/x")) { XCTAssertEqual(($0 as? JobError)?.kind, .input) }
    }

    func testKarpathySplitKeepsOnlyTheSplit() throws {
        let karpathy = Self.fixtures.appendingPathComponent("karpathy")
        let split = try KarpathySplit(path: karpathy.appendingPathComponent("dataset_tiny.json").path, split: "test")
        XCTAssertEqual(split.images.map(\.filename), ["img0.png", "img1.png", "img2.png", "img3.png"])
        let rows = split.rows(imageFolder: karpathy.appendingPathComponent("images").path)
        XCTAssertEqual(rows.count, 24)
        XCTAssertEqual(rows[1].text, "caption 0 of picture number 0")
        XCTAssertThrowsError(try KarpathySplit(path: karpathy.appendingPathComponent("dataset_tiny.json").path, split: "val"))
    }
}
