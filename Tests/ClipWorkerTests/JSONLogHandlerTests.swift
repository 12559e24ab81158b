import ClipSchema
import Foundation
import Logging
import XCTest

@testable import ClipWorker

final class JSONLogHandlerTests: XCTestCase {
    /// Lines written through a logger on the write end of a pipe, read back.
    private func lines(level: Logger.Level = .info, _ body: (Logger) -> Void) throws -> [String] {
        let pipe = Pipe()
        let fd = pipe.fileHandleForWriting.fileDescriptor
        let logger = Logger(label: "test") { _ in JSONLogHandler(level: level, metadata: ["worker": "host/1"], fd: fd) }
        body(logger)
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func testOneJSONObjectPerLineWithTypedFieldsInKeyOrder() throws {
        let written = try lines { logger in
            logger.notice("a \"quoted\"\nmessage", metadata: [
                "rows": .stringConvertible(3), "ok": .stringConvertible(true), "ratio": .stringConvertible(0.5),
                "code": "invalid_json", "list": [.stringConvertible(1), "two"], "nested": ["b": "2", "a": .stringConvertible(1)],
            ])
            logger.debug("below the level: not written")
        }
        XCTAssertEqual(written.count, 1, "\(written)")
        let line = try XCTUnwrap(written.first)
        let time = try XCTUnwrap(line.firstMatch(of: /^\{"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)",/)?.1)
        XCTAssertEqual(
            line.dropFirst(#"{"time":""#.count + time.count + 1),
            #","level":"notice","message":"a \"quoted\"\nmessage","code":"invalid_json","list":[1,"two"],"#
                + #""nested":{"a":1,"b":"2"},"ok":true,"ratio":0.5,"rows":3,"worker":"host/1"}"#)
        let parsed = try JSONParser().parse(Array(line.utf8))
        XCTAssertEqual(parsed["message"]?.string, "a \"quoted\"\nmessage")
        let stamp = try XCTUnwrap(ISO8601DateFormatter().date(from: String(time.prefix(19)) + "Z"))
        XCTAssertLessThan(abs(stamp.timeIntervalSinceNow), 60, "the time is now, in UTC")
    }

    func testTheLinesMetadataOverridesTheHandlers() throws {
        let written = try lines(level: .trace) { logger in
            logger.trace("x", metadata: ["worker": "other"])
        }
        XCTAssertEqual(try JSONParser().parse(Array(written[0].utf8))["worker"]?.string, "other")
        XCTAssertEqual(try JSONParser().parse(Array(written[0].utf8))["level"]?.string, "trace")
    }
}
