import ClipSchema
import Foundation
import XCTest

/// Tests/Fixtures/requests: every valid request decodes; every invalid one is refused with the
/// code and pointer expected.json names (made by make_corpus.py beside it).
final class RequestCorpusTests: XCTestCase {
    func testValidRequestsDecode() throws {
        let decoder = try RequestDecoder()
        let files = try Fixtures.files(in: "requests/valid")
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for file in files {
            XCTAssertNoThrow(try decoder.decode(try Fixtures.bytes(file)), file.lastPathComponent)
        }
    }

    func testInvalidRequestsAreRefusedWithTheirCodeAndPointer() throws {
        guard case .object(let expected) = try Fixtures.json(Fixtures.url("requests/expected.json")) else {
            return XCTFail("expected.json is not an object")
        }
        let files = try Fixtures.files(in: "requests/invalid")
        XCTAssertEqual(Set(files.map(\.lastPathComponent)), Set(expected.keys), "expected.json and invalid/ differ")
        var codesSeen: Set<ErrorCode> = []
        for file in files {
            let name = file.lastPathComponent
            guard let want = expected[name] else { continue }
            var limits = RequestLimits()
            if let n = want["max_body_bytes"]?.number { limits.maxBodyBytes = Int(n) }
            if let n = want["max_rows"]?.number { limits.maxRows = Int(n) }
            let decoder = try RequestDecoder(limits: limits)
            let body = try Fixtures.bytes(file)
            do throws(ClipError) {
                _ = try decoder.decode(body)
                XCTFail("\(name) was accepted")
            } catch {
                XCTAssertEqual(error.code.rawValue, want["code"]?.string, "\(name): \(error)")
                XCTAssertEqual(error.pointer, want["pointer"]?.string, "\(name): \(error)")
                XCTAssertFalse(error.message.isEmpty)
                codesSeen.insert(error.code)
            }
        }
        XCTAssertEqual(codesSeen, [.messageTooLarge, .invalidJSON, .schemaViolation, .tooManyRows])
    }

    func testDecodedRowsKeepOrderAndTreatEmptyCellsAsAbsent() throws {
        let body = #"{"input_data":{"columns":["image","text"],"index":[0,1,2],"#
            + #""data":[["https://example.com/a.jpg",""],["","a cat"],["aGVsbG8=","both"]]}}"#
        let request = try RequestDecoder().decode(Array(body.utf8))
        XCTAssertEqual(
            request.rows,
            [
                .init(image: "https://example.com/a.jpg", text: nil), .init(image: nil, text: "a cat"),
                .init(image: "aGVsbG8=", text: "both"),
            ])
    }

    func testEveryViolationIsListedForTheCLI() throws {
        let decoder = try RequestDecoder()
        let document = try decoder.parse(try Fixtures.bytes(Fixtures.url("requests/invalid/bad-row-after-good-ones.json")))
        let violations = decoder.violations(of: document)
        XCTAssertEqual(violations.map(\.pointer), ["/input_data/data/5/1"])
        XCTAssertEqual(violations.first?.keyword, "type")
    }

    /// The contract corpora: documents under valid/ pass their schema, under invalid/ fail it.
    func testContractCorpora() throws {
        for schema in [BuiltinSchema.reply, .error, .deadLetter] {
            let compiled = try schema.compiled()
            for verdict in ["valid", "invalid"] {
                let files = try Fixtures.files(in: "contract/\(schema.rawValue)/\(verdict)")
                XCTAssertGreaterThanOrEqual(files.count, 4)
                for file in files {
                    let violations = compiled.validate(try Fixtures.json(file))
                    XCTAssertEqual(
                        violations.isEmpty, verdict == "valid", "\(schema.rawValue)/\(verdict)/\(file.lastPathComponent): \(violations)")
                }
            }
        }
    }
}
