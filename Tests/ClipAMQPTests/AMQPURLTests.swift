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

    func testHeartbeatQueryParameterSetsTheSettingsHeartbeat() throws {
        let url = try AMQPURL("amqp://h:5672/?heartbeat=5")
        XCTAssertEqual(url.heartbeat, 5)
        XCTAssertEqual(AMQPSettings(url: url).heartbeat, 5)
        XCTAssertEqual(AMQPSettings(url: url, heartbeat: 7).heartbeat, 7, "an explicit heartbeat wins over the URL's")
        XCTAssertEqual(AMQPSettings(url: try AMQPURL("amqp://h")).heartbeat, 30)
        for bad in ["amqp://h/?heartbeat=soon", "amqp://h/?heartbeat=-1"] {
            XCTAssertThrowsError(try AMQPURL(bad), bad) { XCTAssertEqual(($0 as? AMQPError)?.kind, .invalidURL) }
        }
    }

    func testNodeNamesHostAndPortOnly() throws {
        XCTAssertEqual(try AMQPURL("amqp://bob:hunter2@10.77.0.2/v").node, "10.77.0.2:5672")
        XCTAssertEqual(try AMQPURL("amqps://[::1]:5000").node, "[::1]:5000")
    }

    func testSettingsOfAClusterKeepEveryNodeAndRefuseNone() throws {
        let urls = try ["amqp://a:1", "amqp://b:2", "amqp://c:3"].map { try AMQPURL($0) }
        let settings = try AMQPSettings(urls: urls)
        XCTAssertEqual(settings.urls, urls)
        XCTAssertEqual(settings.url, urls[0])
        XCTAssertThrowsError(try AMQPSettings(urls: [])) { XCTAssertEqual(($0 as? AMQPError)?.kind, .invalidURL) }
    }
}
