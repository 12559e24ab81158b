import ClipTestSupport
import CCurl
import ClipSchema
import Foundation
import XCTest
@testable import ClipImage

/// Every code of the contract's closed list, reached through the worker's entry point where
/// one can be, and the raw strings the error schema names.
final class ErrorCodeTests: XCTestCase {
    func testRawValuesAreTheContractsStrings() {
        XCTAssertEqual(ImageError.codes.map(\.rawValue), [
            "invalid_base64", "url_not_allowed", "image_fetch_failed", "unsupported_image_format",
            "image_decode_failed", "image_too_large", "deadline_exceeded", "internal",
        ])
    }

    func testEveryCodeHasACase() throws {
        let server = try LoopbackServer { path, _ in path == "/404" ? .status(404) : .status(200, body: [0xFF, 0xD8, 0xFF]) }
        defer { server.stop() }
        var settings = IngestSettings()
        settings.fetch.addressPolicy.allowedAddresses = ["127.0.0.1"]
        settings.fetch.maxBytes = 2
        settings.limits.maxPixels = 1000
        let ingest = ImageIngest(config: try Fixtures.config(), settings: settings)
        let png = try Fixtures.bytes("inputs/coffee.png"), tiny = try Fixtures.bytes("inputs/gray2.png")

        let cases: [(String, ErrorCode)] = [
            ("not base64!", .invalidBase64),
            ("file:///etc/passwd", .urlNotAllowed),
            ("http://10.0.0.1/a.jpg", .urlNotAllowed),
            (server.url("/404"), .imageFetchFailed),
            (Data("GIF89a....".utf8).base64EncodedString(), .unsupportedImageFormat),
            (Data(tiny[..<70]).base64EncodedString(), .imageDecodeFailed),
            (Data(png).base64EncodedString(), .imageTooLarge),  // pixel cap
            (server.url("/big"), .imageTooLarge),  // byte cap
        ]
        var seen = Set<ErrorCode>()
        for (cell, expected) in cases {
            let result = ingest.ingest(cell)
            XCTAssertThrowsError(try result.get(), cell) { XCTAssertEqual(($0 as? ImageError)?.code, expected, cell) }
            if case .failure(let error) = result { seen.insert(error.code) }
        }
        if case .failure(let error) = ingest.ingest(server.url("/x"), deadline: .now - .milliseconds(1)) { seen.insert(error.code) }
        // internal: what no request can cause, a broken install or configuration.
        let outOfMemory = classifyFetch(code: CURLE_OUT_OF_MEMORY, status: 0, url: "http://x")
        seen.insert(outOfMemory.error.code)
        XCTAssertEqual(outOfMemory.error.code, .internal)
        XCTAssertThrowsError(try PreprocessorConfig(contentsOfFile: "/nonexistent/preprocessor_config.json")) {
            XCTAssertEqual(($0 as? ImageError)?.code, .internal)
        }
        XCTAssertEqual(seen, Set(ImageError.codes))
    }

    func testCurlOutcomesMapToCodes() {
        func code(_ c: CURLcode, _ status: Int = 0) -> ErrorCode { classifyFetch(code: c, status: status, url: "u").error.code }
        XCTAssertEqual(code(CURLE_OK, 404), .imageFetchFailed)
        XCTAssertTrue(classifyFetch(code: CURLE_OK, status: 503, url: "u").transient)
        XCTAssertFalse(classifyFetch(code: CURLE_OK, status: 404, url: "u").transient)
        XCTAssertEqual(code(CURLE_UNSUPPORTED_PROTOCOL), .urlNotAllowed)
        XCTAssertEqual(code(CURLE_TOO_MANY_REDIRECTS), .imageFetchFailed)
        XCTAssertEqual(code(CURLE_FILESIZE_EXCEEDED), .imageTooLarge)
        XCTAssertEqual(code(CURLE_FAILED_INIT), .internal)
        XCTAssertEqual(classifyFetch(code: CURLE_COULDNT_CONNECT, status: 0, url: "u", refused: IPAddress("10.0.0.1")).error.code, .urlNotAllowed)
        XCTAssertTrue(classifyFetch(code: CURLE_COULDNT_CONNECT, status: 0, url: "u").transient)
    }
}
