import ClipAMQP
import Foundation
import XCTest

/// When a request stops being worth computing.
final class DeadlineTests: XCTestCase {
    /// Read at each use: XCTest makes every test object before it runs the first test.
    private var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func remaining(_ properties: AMQPProperties) -> Double? {
        properties.deadline().map { ($0 - .now) / .milliseconds(1) }
    }

    func testXDeadlineIsEpochMilliseconds() throws {
        let left = try XCTUnwrap(remaining(AMQPProperties(headers: ["x-deadline": .int(now + 10_000)])))
        XCTAssertEqual(left, 10_000, accuracy: 1_000)
        XCTAssertLessThan(try XCTUnwrap(remaining(AMQPProperties(headers: ["x-deadline": .string(String(now - 5))]))), 0)
        XCTAssertNil(remaining(AMQPProperties(headers: ["x-deadline": .string("soon")])))
        XCTAssertNil(remaining(AMQPProperties()))
    }

    func testExpirationCountsFromTheTimestampAndTheSoonerWins() throws {
        let sentTwoSecondsAgo = UInt64(now / 1000 - 2)
        let left = try XCTUnwrap(remaining(AMQPProperties(expiration: "5000", timestamp: sentTwoSecondsAgo)))
        XCTAssertEqual(left, 3_000, accuracy: 1_100)
        let both = try XCTUnwrap(remaining(AMQPProperties(headers: ["x-deadline": .int(now + 1_000)], expiration: "60000")))
        XCTAssertEqual(both, 1_000, accuracy: 500)
    }
}

extension DeadlineTests {
    func testDeadlinesFarInThePastOrFutureDoNotOverflow() throws {
        XCTAssertLessThan(try XCTUnwrap(remaining(AMQPProperties(headers: ["x-deadline": .int(.min)]))), 0)
        XCTAssertGreaterThan(try XCTUnwrap(remaining(AMQPProperties(headers: ["x-deadline": .int(.max)]))), 1e9)
        XCTAssertGreaterThan(try XCTUnwrap(remaining(AMQPProperties(expiration: "9223372036854775807", timestamp: .max))), 1e9)
        XCTAssertNil(remaining(AMQPProperties(headers: ["x-deadline": .double(1e300)])))
    }
}
