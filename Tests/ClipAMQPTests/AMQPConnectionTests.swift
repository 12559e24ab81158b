import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// Against a real rabbitmq-server on a private port (TestBroker), shared by these tests; each
/// test uses its own queue names.
final class AMQPConnectionTests: XCTestCase {
    private var broker: TestBroker!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
    }

    private func connect(heartbeat: Int = 30) throws -> AMQPConnection {
        try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url), heartbeat: heartbeat))
    }

    private func uniqueName(_ base: String = #function) -> String {
        "test.\(base.prefix { $0 != "(" }).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Polls until `match` returns a value or the timeout passes.
    private func wait<T>(
        _ connection: AMQPConnection, timeout: Duration = .seconds(10), for match: (AMQPEvent) -> T?
    ) throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = try connection.nextEvent(timeout: .milliseconds(100)), let value = match(event) { return value }
        }
        throw TestBrokerError(message: "no matching event within \(timeout)")
    }

    func testPublishConfirmConsumeAckRoundTrip() throws {
        let connection = try connect()
        let queue = uniqueName()
        try connection.declareQueue(queue, durable: false)
        defer { try? connect().deleteQueue(queue) }
        try connection.enableConfirms()
        let properties = AMQPProperties(
            contentType: "application/json", headers: [
                "x-deadline": .int(1_796_000_000_000), "flag": .bool(true), "ratio": .double(0.5), "name": .string("é猫"),
                "list": .array([.int(1), .string("two")]), "nested": .table(["k": .int(-3)]), "raw": .bytes([0, 255]),
            ], deliveryMode: 2, priority: 3, correlationID: "corr-1", replyTo: "replies", expiration: "60000",
            messageID: "m-1", timestamp: 1_796_000_000, type: "embed", appID: "tests")
        let body: [UInt8] = Array(#"{"input_data": {}}"#.utf8) + [0, 255]
        let first = try connection.publish(routingKey: queue, body: body, properties: properties)
        let second = try connection.publish(routingKey: queue, body: [], properties: AMQPProperties())
        XCTAssertEqual([first, second], [1, 2])
        var confirmed = Set<UInt64>()
        while confirmed.count < 2 {
            try wait(connection) { event -> Void? in
                guard case .acked(let sequence, let multiple) = event else { return nil }
                confirmed.formUnion(multiple ? Set(1...sequence) : [sequence])
                return ()
            }
        }

        try connection.setPrefetch(10)
        let tag = try connection.consume(queue)
        XCTAssertFalse(tag.isEmpty)
        let delivery = try wait(connection) { if case .delivery(let d) = $0 { d } else { nil } }
        XCTAssertEqual(delivery.body, body)
        XCTAssertEqual(delivery.properties, properties)
        XCTAssertEqual(delivery.routingKey, queue)
        XCTAssertFalse(delivery.redelivered)
        let empty = try wait(connection) { if case .delivery(let d) = $0 { d } else { nil } }
        XCTAssertEqual(empty.body, [])
        XCTAssertEqual(empty.properties, AMQPProperties())
        try connection.ack(empty.deliveryTag, multiple: true)
        try connection.cancel(consumerTag: tag)
        XCTAssertEqual(try connection.declareQueue(queue, durable: false, passive: true).messageCount, 0)
        connection.close()
        XCTAssertFalse(connection.isOpen)
    }

    func testUnroutableMandatoryPublishIsReturnedThenConfirmed() throws {
        let connection = try connect()
        try connection.enableConfirms()
        let sequence = try connection.publish(
            routingKey: uniqueName("no.such.queue"), body: [1, 2, 3], properties: AMQPProperties(correlationID: "lost"),
            mandatory: true)
        let returned = try wait(connection) { if case .returned(let r) = $0 { r } else { nil } }
        XCTAssertEqual(returned.replyCode, 312)  // NO_ROUTE
        XCTAssertEqual(returned.body, [1, 2, 3])
        XCTAssertEqual(returned.properties.correlationID, "lost")
        let acked = try wait(connection) { if case .acked(let s, _) = $0 { s } else { nil } }
        XCTAssertEqual(acked, sequence)
    }

    func testTopologyIsIdempotentAndDeadLettersRejectedAndPoisonMessages() throws {
        let topology = Topology(
            requestQueue: uniqueName("requests"), deadLetterExchange: uniqueName("dlx"),
            deadLetterQueue: uniqueName("dead"), deliveryLimit: 2)
        let connection = try connect()
        try topology.declare(on: connection)
        try topology.declare(on: connection)  // a second worker starting: no error
        let listed = try broker.ctl(["list_queues", "name", "type", "arguments", "--no-table-headers"])
        let line = try XCTUnwrap(listed.split(separator: "\n").first { $0.hasPrefix(topology.requestQueue) })
        XCTAssertTrue(line.contains("quorum"), String(line))
        XCTAssertTrue(line.contains("x-delivery-limit"), String(line))

        try connection.enableConfirms()
        try connection.publish(routingKey: topology.requestQueue, body: Array("rejected".utf8))
        try connection.publish(routingKey: topology.requestQueue, body: Array("poison".utf8))
        try connection.consume(topology.requestQueue)
        // Reject the first outright; keep requeueing the second, as a crashing worker would.
        var requeues = 0
        var seen: [String] = []
        while seen.count < 2 || (seen.last == "poison" && requeues <= topology.deliveryLimit) {
            guard let delivery = try? wait(connection, timeout: .seconds(3), for: { if case .delivery(let d) = $0 { d } else { nil } })
            else { break }
            let text = String(decoding: delivery.body, as: UTF8.self)
            seen.append(text)
            if text == "rejected" {
                try connection.reject(delivery.deliveryTag, requeue: false)
            } else {
                requeues += 1
                try connection.reject(delivery.deliveryTag, requeue: true)
            }
        }
        XCTAssertEqual(requeues, topology.deliveryLimit + 1, "\(seen)")

        // Dead-lettering is asynchronous: read both records as they arrive.
        let reader = try connect()
        try reader.consume(topology.deadLetterQueue)
        var bodies: Set<String> = []
        for _ in 0..<2 {
            let delivery = try wait(reader) { if case .delivery(let d) = $0 { d } else { nil } }
            bodies.insert(String(decoding: delivery.body, as: UTF8.self))
            XCTAssertNotNil(delivery.properties.headers?["x-death"] ?? delivery.properties.headers?["x-first-death-reason"])
            try reader.ack(delivery.deliveryTag)
        }
        XCTAssertEqual(bodies, ["rejected", "poison"])
    }

    func testConflictingDeclarationIsAClearChannelErrorAndAReconnectRecovers() throws {
        let topology = Topology(requestQueue: uniqueName("requests"), deadLetterExchange: uniqueName("dlx"),
                                deadLetterQueue: uniqueName("dead"), deliveryLimit: 3)
        try topology.declare(on: try connect())
        var other = topology
        other.deliveryLimit = 4
        let connection = try connect()
        XCTAssertThrowsError(try other.declare(on: connection)) { error in
            let error = error as? AMQPError
            XCTAssertEqual(error?.kind, .channelClosed)
            XCTAssertEqual(error?.replyCode, 406)
            XCTAssertTrue(error?.message.contains("exists with other arguments") ?? false, "\(String(describing: error))")
        }
        XCTAssertFalse(connection.isOpen)
        XCTAssertThrowsError(try connection.publish(routingKey: "x", body: []))
        XCTAssertNoThrow(try topology.declare(on: try connect()))
    }

    /// RabbitMQ (3.10) checks the initial group size as it checks the other arguments: a worker
    /// configured with another size, or with none, is refused with the reason.
    func testQuorumGroupSizeIsDeclaredAndAnotherOrNoneIsRefused() throws {
        let topology = Topology(
            requestQueue: uniqueName("requests"), deadLetterExchange: uniqueName("dlx"),
            deadLetterQueue: uniqueName("dead"), quorumGroupSize: 1)
        try topology.declare(on: try connect())
        try topology.declare(on: try connect())
        let listed = try broker.ctl(["list_queues", "name", "arguments", "--no-table-headers"])
        let line = try XCTUnwrap(listed.split(separator: "\n").first { $0.hasPrefix(topology.requestQueue) })
        XCTAssertTrue(line.contains("x-quorum-initial-group-size"), String(line))
        for size in [3, nil] {
            var other = topology
            other.quorumGroupSize = size
            XCTAssertThrowsError(try other.declare(on: try connect()), "group size \(String(describing: size))") { error in
                XCTAssertEqual((error as? AMQPError)?.replyCode, 406)
                XCTAssertTrue("\(error)".contains("inequivalent arg 'x-quorum-initial-group-size'"), "\(error)")
            }
        }
    }

    func testConnectionClosedByTheBrokerIsReported() throws {
        let name = uniqueName("closing")
        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url), connectionName: name))
        var closed = false
        for _ in 0..<50 where !closed {
            let connections = try broker.ctl(["list_connections", "pid", "client_properties", "--no-table-headers"])
            if let line = connections.split(separator: "\n").first(where: { $0.contains(name) }),
                let pid = line.split(separator: "\t").first
            {
                try broker.ctl(["close_connection", String(pid), "test says goodbye"])
                closed = true
            } else {
                _ = try connection.nextEvent(timeout: .milliseconds(100))
            }
        }
        XCTAssertTrue(closed, "the broker never listed the connection")
        XCTAssertThrowsError(try wait(connection) { _ in () }) { error in
            XCTAssertEqual((error as? AMQPError)?.kind, .connectionClosed, "\(error)")
            XCTAssertEqual((error as? AMQPError)?.replyCode, 320)
        }
        XCTAssertFalse(connection.isOpen)
    }

    func testWrongPasswordAndNoBrokerFailToConnect() throws {
        var url = try AMQPURL(broker.url)
        url.password = "wrong"
        XCTAssertThrowsError(try AMQPConnection(AMQPSettings(url: url))) { error in
            XCTAssertNotEqual((error as? AMQPError)?.kind, .invalidURL)
            XCTAssertFalse("\(error)".contains("wrong"), "the password leaked into \(error)")
        }
        url = try AMQPURL(broker.url)
        url.port = try TestBroker.freePort()
        XCTAssertThrowsError(try AMQPConnection(AMQPSettings(url: url, connectTimeout: .seconds(2)))) { error in
            XCTAssertEqual((error as? AMQPError)?.kind, .connection)
        }
    }

    func testAConnectionToSeveralNodesPassesOverTheDeadOnes() throws {
        let live = try AMQPURL(broker.url)
        var dead = [live, live]
        for i in dead.indices { dead[i].port = try TestBroker.freePort() }
        let settings = try AMQPSettings(urls: [dead[0], live, dead[1]], connectTimeout: .seconds(2))
        // The order is random: several connections meet the dead nodes first, last and between.
        for _ in 0..<6 {
            let connection = try AMQPConnection(settings)
            XCTAssertEqual(connection.node, live)
            XCTAssertTrue(connection.isOpen)
            connection.close()
        }
        XCTAssertThrowsError(try AMQPConnection(try AMQPSettings(urls: dead, connectTimeout: .seconds(2)))) { error in
            XCTAssertEqual((error as? AMQPError)?.kind, .connection)
            XCTAssertTrue("\(error)".contains("no node of 2 answered"), "\(error)")
            for url in dead { XCTAssertTrue("\(error)".contains(":\(url.port)"), "\(error) names no \(url.node)") }
        }
    }

    func testHeartbeatsKeepAnIdleConnectionAlive() throws {
        let connection = try connect(heartbeat: 1)
        let queue = uniqueName()
        try connection.declareQueue(queue, durable: false, autoDelete: true)
        // The broker drops a peer silent for two heartbeat intervals; polling services them.
        let until = ContinuousClock.now + .seconds(4)
        while ContinuousClock.now < until { _ = try connection.nextEvent(timeout: .milliseconds(200)) }
        try connection.enableConfirms()
        let sequence = try connection.publish(routingKey: queue, body: [1])
        XCTAssertEqual(try wait(connection) { if case .acked(let s, _) = $0 { s } else { nil } }, sequence)
    }
}
