import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

@testable import ClipWorker

/// Dead letters as the worker writes them (OutcomeBuilder), read back, replayed and purged
/// on a real broker.
final class DeadLetterQueueTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        let unique = UInt32.random(in: 0...UInt32.max)
        topology = Topology(requestQueue: "req.\(unique)", deadLetterExchange: "dlx.\(unique)", deadLetterQueue: "dead.\(unique)")
        try topology.declare(on: try connect())
    }

    private func connect() throws -> AMQPConnection {
        try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
    }

    /// Publishes what the worker publishes when it refuses `body` with `error`.
    private func refuse(_ body: String, _ error: ClipError, correlationID: String, expiration: String? = nil) throws {
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["tenant": .string("a")], deliveryMode: 2,
            correlationID: correlationID, replyTo: "replies", expiration: expiration)
        let delivery = AMQPDelivery(
            deliveryTag: 1, redelivered: false, exchange: "", routingKey: topology.requestQueue, consumerTag: "",
            properties: properties, body: Array(body.utf8))
        let job = RequestJob(id: DeliveryID(generation: 1, tag: 1), delivery: delivery, received: .now, deadline: nil)
        let builder = OutcomeBuilder(topology: topology, workerID: "host/1", modelName: "tiny", replies: try ReplyEncoder())
        let outcome = builder.failure(job, error)
        XCTAssertEqual(outcome.publishes.map(\.routingKey), ["replies", topology.requestQueue])
        let connection = try connect()
        try connection.enableConfirms()
        for message in outcome.publishes where message.exchange == topology.deadLetterExchange {
            let sequence = try connection.publish(
                exchange: message.exchange, routingKey: message.routingKey, body: message.body, properties: message.properties)
            while true {
                if case .acked(let s, _)? = try connection.nextEvent(timeout: .seconds(5)), s >= sequence { break }
            }
        }
    }

    private func waitForDeadLetters(_ count: Int) throws -> [DeadLetter] {
        let queue = DeadLetterQueue(connection: try connect(), topology: topology)
        let deadline = ContinuousClock.now + .seconds(10)
        var letters: [DeadLetter] = []
        while ContinuousClock.now < deadline {
            letters = try queue.browse(limit: 100)
            if letters.count >= count { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return letters
    }

    func testBrowseShowsRecordsAndLosesNothing() throws {
        try refuse("{not json", ClipError(.invalidJSON, "unexpected end of input at byte 9"), correlationID: "c1")
        try refuse(#"{"input_data": {}}"#, ClipError(.schemaViolation, "missing data", pointer: "/input_data"), correlationID: "c2",
                   expiration: "1")
        let letters = try waitForDeadLetters(2)
        XCTAssertEqual(letters.map(\.record.error.code), [.invalidJSON, .schemaViolation])
        XCTAssertEqual(letters[1].record.error.pointer, "/input_data")
        XCTAssertEqual(letters[0].record.workerID, "host/1")
        XCTAssertEqual(letters[0].record.body, Array("{not json".utf8))
        XCTAssertEqual(letters[1].delivery.properties.expiration, nil, "a dead letter must not expire")
        let schema = try BuiltinSchema.deadLetter.compiled()
        for letter in letters { XCTAssertEqual(schema.validate(letter.record.json), [], "\(letter.record.json)") }
        Thread.sleep(forTimeInterval: 0.1)  // past the original 1 ms TTL
        XCTAssertEqual(try waitForDeadLetters(2).count, 2, "browsing removed dead letters")
    }

    func testReplayRestoresTheRequestAndPurgeEmpties() throws {
        try refuse("first", ClipError(.imageFetchFailed, "HTTP 503", pointer: "/input_data/data/0/0"), correlationID: "r1",
                   expiration: "60000")
        try refuse("second", ClipError(.deadlineExceeded, "late"), correlationID: "r2")
        _ = try waitForDeadLetters(2)
        let queue = DeadLetterQueue(connection: try connect(), topology: topology)
        XCTAssertEqual(try queue.replay { $0.delivery.properties.correlationID == "r1" }, 1)

        let reader = try connect()
        var replayed: AMQPDelivery?
        let deadline = ContinuousClock.now + .seconds(10)
        while replayed == nil && ContinuousClock.now < deadline {
            replayed = try reader.get(topology.requestQueue)
            if replayed == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let request = try XCTUnwrap(replayed)
        XCTAssertEqual(request.body, Array("first".utf8))
        XCTAssertEqual(request.properties.correlationID, "r1")
        XCTAssertEqual(request.properties.replyTo, "replies")
        // The quorum queue adds its own x-delivery-count on the way out; clipq's headers are gone.
        XCTAssertEqual(request.properties.headers?.filter { $0.key != "x-delivery-count" }, ["tenant": .string("a")])
        XCTAssertNil(request.properties.expiration)

        XCTAssertEqual(try waitForDeadLetters(1).map { $0.delivery.properties.correlationID }, ["r2"])
        XCTAssertEqual(try DeadLetterQueue(connection: try connect(), topology: topology).purge(), 1)
        XCTAssertEqual(try waitForDeadLetters(0).count, 0)
    }

    /// A cluster keeps dead letters in a quorum queue, a single broker in a classic one: browsing,
    /// replaying and purging read either the same way, in the same order, browse after browse.
    func testEitherDeadLetterQueueTypeBrowsesReplaysAndPurgesInOrder() throws {
        for type in DeadLetterQueueType.allCases {
            let unique = UInt32.random(in: 0...UInt32.max)
            topology = Topology(
                requestQueue: "req.\(unique)", deadLetterExchange: "dlx.\(unique)", deadLetterQueue: "dead.\(unique)",
                deadLetterQueueType: type)
            try topology.declare(on: try connect())
            let listed = try broker.ctl(["list_queues", "name", "type", "--no-table-headers"])
            XCTAssertTrue(
                listed.split(separator: "\n").contains { $0.hasPrefix(topology.deadLetterQueue) && $0.contains(type.rawValue) }, listed)
            for id in ["q1", "q2", "q3"] { try refuse(id, ClipError(.invalidJSON, "bad"), correlationID: id) }
            XCTAssertEqual(try waitForDeadLetters(3).map(\.delivery.properties.correlationID), ["q1", "q2", "q3"], "\(type)")
            XCTAssertEqual(try waitForDeadLetters(3).map(\.delivery.properties.correlationID), ["q1", "q2", "q3"], "\(type): browsing reordered")
            let queue = DeadLetterQueue(connection: try connect(), topology: topology)
            XCTAssertEqual(try queue.replay { $0.delivery.properties.correlationID == "q2" }, 1)
            XCTAssertEqual(try waitForDeadLetters(2).map(\.delivery.properties.correlationID), ["q1", "q3"], "\(type)")
            XCTAssertEqual(try DeadLetterQueue(connection: try connect(), topology: topology).purge(), 2)
            XCTAssertEqual(try waitForDeadLetters(0).count, 0)

            // A worker configured for the other type is refused with the reason.
            var other = topology!
            other.deadLetterQueueType = type == .classic ? .quorum : .classic
            XCTAssertThrowsError(try other.declare(on: try connect())) { error in
                XCTAssertEqual((error as? AMQPError)?.replyCode, 406)
                XCTAssertTrue("\(error)".contains("exists as another type than \(other.deadLetterQueueType.rawValue)"), "\(error)")
            }
        }
    }

    func testBrokerDeadLetteredRequestsReadAsInternal() throws {
        let connection = try connect()
        try connection.publish(routingKey: topology.requestQueue, body: Array("poison".utf8),
                               properties: AMQPProperties(correlationID: "p"))
        var delivery: AMQPDelivery?
        while delivery == nil { delivery = try connection.get(topology.requestQueue) }
        try connection.reject(try XCTUnwrap(delivery).deliveryTag, requeue: false)
        let letter = try XCTUnwrap(try waitForDeadLetters(1).first)
        XCTAssertEqual(letter.record.error.code, .internal)
        XCTAssertTrue(letter.record.error.message.contains("rejected"), letter.record.error.message)
        XCTAssertEqual(letter.record.workerID, "broker")
    }
}
