import ClipAMQP
import ClipTestSupport
import Foundation
import Synchronization
import XCTest

/// The link thread against a real broker, with a small echo service as its pipeline.
final class BrokerLinkTests: XCTestCase {
    private var broker: TestBroker!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
    }

    private func topology(_ name: String = #function) -> Topology {
        let unique = "\(name.prefix { $0 != "(" }).\(UInt32.random(in: 0...UInt32.max))"
        return Topology(requestQueue: "req.\(unique)", deadLetterExchange: "dlx.\(unique)", deadLetterQueue: "dead.\(unique)")
    }

    private func configuration(_ topology: Topology, name: String = "clipq-link-test") throws -> BrokerLink.Configuration {
        BrokerLink.Configuration(
            settings: AMQPSettings(url: try AMQPURL(broker.url), connectionName: name), topology: topology, prefetch: 8,
            initialBackoff: .milliseconds(100))
    }

    /// Collects the link's events for assertions.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var _events: [LinkEvent] = []
        func record(_ event: LinkEvent) { lock.withLock { _events.append(event) } }
        var events: [LinkEvent] { lock.withLock { _events } }
        var connections: Int { events.filter { if case .connected = $0 { true } else { false } }.count }
    }

    /// A client: publishes requests with reply_to and gathers the replies by correlation id.
    final class Client {
        let connection: AMQPConnection
        let replyQueue: String

        init(url: String) throws {
            connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(url)))
            replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
            try connection.consume(replyQueue)
        }

        func send(_ text: String, id: String, to queue: String) throws {
            try connection.publish(
                routingKey: queue, body: Array(text.utf8),
                properties: AMQPProperties(deliveryMode: 2, correlationID: id, replyTo: replyQueue))
        }

        func replies(count: Int, timeout: Duration = .seconds(20)) throws -> [String: String] {
            var replies: [String: String] = [:]
            let deadline = ContinuousClock.now + timeout
            while replies.count < count && ContinuousClock.now < deadline {
                if case .delivery(let d) = try connection.nextEvent(timeout: .milliseconds(50)) {
                    replies[d.properties.correlationID ?? "?"] = String(decoding: d.body, as: UTF8.self)
                    try connection.ack(d.deliveryTag)
                }
            }
            return replies
        }
    }

    /// Starts a link whose pipeline is `handle`, given the link to finish outcomes on.
    private func startLink(
        _ topology: Topology, name: String = "clipq-link-test", recorder: Recorder = Recorder(),
        handle: @escaping @Sendable (BrokerLink, DeliveryID, AMQPDelivery) -> Void
    ) throws -> BrokerLink {
        try startLink(topology, name: name, recorder: recorder) { link, id, delivery, _ in handle(link, id, delivery) }
    }

    private func startLink(
        _ topology: Topology, name: String = "clipq-link-test", recorder: Recorder = Recorder(),
        handle: @escaping @Sendable (BrokerLink, DeliveryID, AMQPDelivery, TrafficLane) -> Void
    ) throws -> BrokerLink {
        final class Box: @unchecked Sendable { var link: BrokerLink? }
        let box = Box()
        let link = BrokerLink(try configuration(topology, name: name))
        box.link = link
        link.start(onDelivery: { id, delivery, lane in if let link = box.link { handle(link, id, delivery, lane) } }, onEvent: recorder.record)
        // Requests published before the link has declared the queue would be dropped.
        XCTAssertTrue(waitUntil { recorder.connections >= 1 }, "the link did not connect")
        return link
    }

    /// A thread-safe list.
    final class Locked<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [T] = []
        func append(_ item: T) { lock.withLock { items.append(item) } }
        var all: [T] { lock.withLock { items } }
    }

    private static func echo(_ delivery: AMQPDelivery, _ id: DeliveryID) -> Outcome {
        let reply = OutgoingMessage(
            routingKey: delivery.properties.replyTo ?? "", body: delivery.body.reversed(),
            properties: AMQPProperties(correlationID: delivery.properties.correlationID))
        return Outcome(delivery: id, publishes: [reply])
    }

    private func waitUntil(_ timeout: Duration = .seconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func testEveryRequestIsAnsweredAndAckedOnce() throws {
        let topology = topology()
        let recorder = Recorder()
        let link = try startLink(topology, recorder: recorder) { link, id, delivery in link.finish(Self.echo(delivery, id)) }
        let client = try Client(url: broker.url)
        for i in 0..<50 { try client.send("request \(i)", id: "c\(i)", to: topology.requestQueue) }
        let replies = try client.replies(count: 50)
        XCTAssertEqual(replies.count, 50)
        XCTAssertEqual(replies["c7"], String("request 7".reversed()))
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
        let settled = recorder.events.filter { if case .settled(_, .ack) = $0 { true } else { false } }
        XCTAssertEqual(settled.count, 50)
        XCTAssertEqual(recorder.connections, 1)
    }

    func testALinkGivenSeveralNodesMovesPastTheDeadOnesAndNamesTheOneItReached() throws {
        let topology = topology()
        let live = try AMQPURL(broker.url)
        var dead = [live, live]
        for i in dead.indices { dead[i].port = try TestBroker.freePort() }
        let recorder = Recorder()
        let link = BrokerLink(BrokerLink.Configuration(
            settings: try AMQPSettings(urls: [dead[0], live, dead[1]], connectTimeout: .seconds(2)), topology: topology,
            initialBackoff: .milliseconds(50)))
        let start = ContinuousClock.now
        link.start(onDelivery: { [unowned link] id, delivery, _ in link.finish(Self.echo(delivery, id)) }, onEvent: recorder.record)
        XCTAssertTrue(waitUntil { recorder.connections >= 1 }, "the link did not connect: \(recorder.events)")
        // At most two dead nodes, each refusing at once, and backoffs of 50 and 100 ms before the live one.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        let nodes = recorder.events.compactMap { if case .connected(_, let node) = $0 { node } else { nil } }
        XCTAssertEqual(nodes, [live.node])
        let refused = recorder.events.filter { if case .connectionLost = $0 { true } else { false } }
        XCTAssertLessThanOrEqual(refused.count, 2, "each dead node is tried once before the live one: \(refused)")
        let client = try Client(url: broker.url)
        try client.send("cluster", id: "k", to: topology.requestQueue)
        XCTAssertEqual(try client.replies(count: 1)["k"], "retsulc")
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
    }

    func testAnUnroutableReplyIsReportedAndTheRequestStillSettled() throws {
        let topology = topology()
        let recorder = Recorder()
        let link = try startLink(topology, recorder: recorder) { link, id, delivery in link.finish(Self.echo(delivery, id)) }
        let client = try Client(url: broker.url)
        try client.connection.publish(
            routingKey: topology.requestQueue, body: Array("x".utf8),
            properties: AMQPProperties(correlationID: "gone", replyTo: "no-such-reply-queue"))
        XCTAssertTrue(waitUntil {
            recorder.events.contains { if case .settled = $0 { true } else { false } }
        })
        XCTAssertTrue(recorder.events.contains { if case .returned(let r) = $0 { r.routingKey == "no-such-reply-queue" } else { false } })
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
    }

    func testRequeuedDeliveriesComeBackRedelivered() throws {
        let topology = topology()
        let flags = Locked<Bool>()
        let link = try startLink(topology) { link, id, delivery in
            flags.append(delivery.redelivered)
            link.finish(delivery.redelivered ? Self.echo(delivery, id) : Outcome(delivery: id, publishes: [], settlement: .requeue))
        }
        let client = try Client(url: broker.url)
        try client.send("again", id: "r1", to: topology.requestQueue)
        XCTAssertEqual(try client.replies(count: 1)["r1"], "niaga")
        XCTAssertEqual(flags.all, [false, true])
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
    }

    func testReconnectsAfterTheBrokerClosesTheConnectionAndDropsStaleOutcomes() throws {
        let topology = topology()
        let recorder = Recorder()
        let held = Locked<(DeliveryID, AMQPDelivery)>()
        let name = "clipq-link-reconnect-\(UInt32.random(in: 0...UInt32.max))"
        let link = try startLink(topology, name: name, recorder: recorder) { link, id, delivery in
            if id.generation == 1 {
                held.append((id, delivery))  // held across the reconnect
            } else {
                link.finish(Self.echo(delivery, id))
            }
        }
        let client = try Client(url: broker.url)
        try client.send("before", id: "b", to: topology.requestQueue)
        XCTAssertTrue(waitUntil { held.all.count == 1 })

        let pid = try XCTUnwrap(
            try broker.ctl(["list_connections", "pid", "client_properties", "--no-table-headers"])
                .split(separator: "\n").first { $0.contains(name) }?.split(separator: "\t").first)
        try broker.ctl(["close_connection", String(pid), "test: reconnect"])
        XCTAssertTrue(waitUntil { recorder.connections == 2 })
        // The held delivery was redelivered on the new connection and answered there.
        XCTAssertEqual(try client.replies(count: 1)["b"], "erofeb")
        // Finishing it late, on its dead generation, publishes nothing.
        for (id, delivery) in held.all { link.finish(Self.echo(delivery, id)) }
        XCTAssertTrue(waitUntil { recorder.events.contains { if case .staleOutcome = $0 { true } else { false } } })
        XCTAssertEqual(try client.replies(count: 1, timeout: .seconds(1)).count, 0)
        XCTAssertTrue(recorder.events.contains {
            if case .connectionLost(1, let error, _) = $0 { error.replyCode == 320 } else { false }
        })
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
    }

    func testStopWaitsForInFlightWorkThenCloses() throws {
        let topology = topology()
        let link = try startLink(topology) { link, id, delivery in
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { link.finish(Self.echo(delivery, id)) }
        }
        let client = try Client(url: broker.url)
        for i in 0..<5 { try client.send("slow \(i)", id: "s\(i)", to: topology.requestQueue) }
        Thread.sleep(forTimeInterval: 0.2)  // delivered, not finished
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
        XCTAssertEqual(try client.replies(count: 5).count, 5)
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
        // No consumer remains: a new request waits in the queue.
        try client.send("after stop", id: "late", to: topology.requestQueue)
        XCTAssertTrue(waitUntil { (try? broker.messageCount(queue: topology.requestQueue)) == 1 })
    }

    func testStopAtTheDeadlineClosesAndTheBrokerRequeuesWhatIsUnsettled() throws {
        let topology = topology()
        let held = Locked<(DeliveryID, AMQPDelivery)>()
        let link = try startLink(topology) { link, id, delivery in
            if delivery.properties.correlationID == "quick" { link.finish(Self.echo(delivery, id)) } else { held.append((id, delivery)) }
        }
        let client = try Client(url: broker.url)
        try client.send("quick", id: "quick", to: topology.requestQueue)
        XCTAssertEqual(try client.replies(count: 1)["quick"], "kciuq")
        for i in 0..<3 { try client.send("stuck \(i)", id: "stuck\(i)", to: topology.requestQueue) }
        XCTAssertTrue(waitUntil { held.all.count == 3 })
        let start = ContinuousClock.now
        let report = link.stop(deadline: .now + .milliseconds(500))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2), "stop outlived its deadline")
        XCTAssertEqual(report, StopReport(settled: 0, requeued: 3, drained: false))
        XCTAssertFalse(link.isRunning)
        // Nothing is lost: the broker has them back, ready for the next worker.
        XCTAssertTrue(waitUntil { (try? broker.messageCount(queue: topology.requestQueue)) == 3 })
    }

    /// Bulk deliveries are held a few at a time, and an interactive one is delivered at once beside them.
    func testBothLanesAreConsumedAndBulkDeliveriesAreHeldFewAtATime() throws {
        let topology = topology()
        let client = try Client(url: broker.url)
        try topology.declare(on: client.connection)
        for i in 0..<40 { try client.send("bulk \(i)", id: "b\(i)", to: topology.bulkQueue) }
        XCTAssertTrue(waitUntil { (try? broker.messageCount(queue: topology.bulkQueue)) == 40 })
        let arrivals = Locked<(String, TrafficLane, ContinuousClock.Instant)>()
        let held = Locked<(DeliveryID, AMQPDelivery)>()
        // The first bulk deliveries are held; once they are let go, later ones (the broker sends
        // more as those are acked) are answered at once, so that stop has nothing left to wait for.
        let holding = Mutex(true)
        let link = try startLink(topology) { link, id, delivery, lane in
            arrivals.append((delivery.properties.correlationID ?? "?", lane, .now))
            if lane == .bulk, holding.withLock({ $0 }) { held.append((id, delivery)) } else { link.finish(Self.echo(delivery, id)) }
        }
        XCTAssertTrue(waitUntil { held.all.count == 8 })
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(held.all.count, 8, "the bulk prefetch")
        let sent = ContinuousClock.now
        try client.send("a user waits", id: "user", to: topology.requestQueue)
        XCTAssertEqual(try client.replies(count: 1, timeout: .seconds(5))["user"], String("a user waits".reversed()))
        let user = try XCTUnwrap(arrivals.all.first { $0.0 == "user" })
        XCTAssertEqual(user.1, .interactive)
        XCTAssertLessThan(user.2 - sent, .seconds(1))
        holding.withLock { $0 = false }
        for (id, delivery) in held.all { link.finish(Self.echo(delivery, id)) }
        XCTAssertEqual(try client.replies(count: 8, timeout: .seconds(10)).count, 8)
        XCTAssertTrue(link.stop(deadline: .now + .seconds(10)).drained)
    }
}
