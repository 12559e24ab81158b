import Foundation
import XCTest

final class TokenizeCommandTests: XCTestCase {
    private let model = CLI.fixtures.appendingPathComponent("clip-vocab").path

    func testArgumentsPrintOneJSONArrayEach() throws {
        let result = try CLI.run(["tokenize", "--model", model, "a photo of a cat", "Tom &amp; Jerry"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "[49406,320,1125,539,320,2368,49407]\n[49406,2435,261,9164,49407]\n")
    }

    func testStdinLinesAndJSONStrings() throws {
        let plain = try CLI.run(["tokenize", "--model", model], stdin: Data("a photo of a dog\n\n".utf8))
        XCTAssertEqual(plain.stdout, "[49406,320,1125,539,320,1929,49407]\n[49406,49407]\n")
        // With --json a text can hold a line break, which cleaning turns into a space.
        let json = try CLI.run(["tokenize", "--model", model, "--json"], stdin: Data("\"line one\\nline two\"\n".utf8))
        XCTAssertEqual(json.stdout, "[49406,1148,637,1148,1237,49407]\n")
    }

    func testBadInputFailsWithAMessage() throws {
        let notJSON = try CLI.run(["tokenize", "--model", model, "--json"], stdin: Data("not json\n".utf8))
        XCTAssertEqual(notJSON.status, 1)
        XCTAssertTrue(notJSON.stderr.contains("stdin line 1 is not a JSON string"), notJSON.stderr)
        let noModel = try CLI.run(["tokenize", "--model", "/nonexistent-clipq-model", "x"])
        XCTAssertEqual(noModel.status, 1)
        XCTAssertTrue(noModel.stderr.contains("tokenizer_file_unreadable"), noModel.stderr)
    }
}
