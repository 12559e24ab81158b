import ClipAMQP
import XCTest

final class AMQPURLTests: XCTestCase {
    func testFullURL() throws {
        let url = try AMQPURL("amqp://alice:s%40cret@broker.example:5673/prod%2Fa")
        XCTAssertEqual(url, AMQPURL(host: "broker.example", port: 5673, user: "alice", password: "s@cret", vhost: "prod/a"))
    }

    func testDefaults() throws {
        XCTAssertEqual(try AMQPURL("amqp://localhost"), AMQPURL())
        XCTAssertEqual(try AMQPURL("amqp://localhost/"), AMQPURL())
        XCTAssertEqual(try AMQPURL("amqps://h").port, 5671)
        XCTAssertTrue(try AMQPURL("AMQPS://h").isTLS)
        XCTAssertEqual(try AMQPURL("amqp://h/%2F").vhost, "/")
        XCTAssertEqual(try AMQPURL("amqp://[::1]:5000").host, "::1")
    }

    func testRefusals() {
        for bad in ["http://h", "h:5672", "amqp://", "amqp://h/a/b", "amqp://h:99999", ""] {
            XCTAssertThrowsError(try AMQPURL(bad), bad) { XCTAssertEqual(($0 as? AMQPError)?.kind, .invalidURL) }
        }
    }

    func testDescriptionHidesThePassword() throws {
        let url = try AMQPURL("amqp://bob:hunter2@h:1/v")
        XCTAssertEqual(url.description, "amqp://bob:***@h:1/v")
        XCTAssertFalse("\(url)".contains("hunter2"))
    }
}
