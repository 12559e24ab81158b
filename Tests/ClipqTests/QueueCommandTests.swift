import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// `clipq queue status` and `clipq queue purge`, against the real broker.
final class QueueCommandTests: XCTestCase {
    func testStatusCountsReadyMessagesAndConsumersAndPurgeNeedsYes() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(name)
        let environment = ["CLIPQ_AMQP_URL": broker.url, "CLIPQ_QUEUE": topology.requestQueue,
                           "CLIPQ_DEAD_QUEUE": topology.deadLetterQueue]
        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        defer { connection.close() }
        try topology.declare(on: connection)
        for i in 0..<3 { try connection.publish(routingKey: topology.requestQueue, body: Array("request \(i)".utf8)) }
        let consumer = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        defer { consumer.close() }
        try consumer.consume(topology.deadLetterQueue)  // one consumer, on the dead-letter queue

        var rows: [[String]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {  // the broker counts publishes asynchronously
            let status = try CLI.run(["queue", "status"], environment: environment)
            XCTAssertEqual(status.status, 0, status.stderr)
            rows = status.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        } while rows.count > 1 && rows[1] != [topology.requestQueue, "3", "0"] && ContinuousClock.now < deadline
        XCTAssertEqual(rows.first, ["QUEUE", "READY", "CONSUMERS"])
        XCTAssertEqual(Array(rows.dropFirst().prefix(2)), [[topology.requestQueue, "3", "0"], [topology.deadLetterQueue, "0", "1"]])
        XCTAssertTrue(rows.last?.joined(separator: " ").contains("unacknowledged messages: not available") ?? false, "\(rows)")

        let refused = try CLI.run(["queue", "purge"], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--yes"), refused.stderr)
        XCTAssertEqual(try connection.queueStatus(topology.requestQueue).messages, 3, "nothing purged without --yes")
        let purged = try CLI.run(["queue", "purge", "--yes"], environment: environment)
        XCTAssertEqual(purged.status, 0, purged.stderr)
        XCTAssertEqual(purged.stdout, "purged 3 from \(topology.requestQueue)\n")
        XCTAssertEqual(try connection.queueStatus(topology.requestQueue).messages, 0)

        let missing = try CLI.run(["queue", "status"], environment: environment.merging(["CLIPQ_QUEUE": "no.such.queue"]) { $1 })
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("error: not_found: no queue no.such.queue"), missing.stderr)
    }
}
