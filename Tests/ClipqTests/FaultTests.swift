import ClipAMQP
import ClipClient
import ClipFixtures
import ClipSchema
import ClipTestSupport
import ClipWorker
import Foundation
import XCTest

/// The fault suite: real `clipq worker` processes on the tiny model and the real test broker,
/// requests published persistent and confirmed by an `OutcomeLedger`, and one fault per test.
/// Each test proves the DESIGN §2 guarantee under its fault: every confirmed request ends as a
/// reply or a dead letter (lost = 0), duplicates only where a connection died between reply
/// and ack, the worker stays up or comes back, and its memory does not grow.
final class FaultTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!
    /// rabbitmqctl commands that put back what a test changed on the shared broker.
    private var restore: [[String]] = []

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = Topology.unique(name, deliveryLimit: 5)
        // Quorum queues report their counts to list_queues each tick (5 s by default); the
        // tick is fixed when a queue is declared.
        try setBrokerEnvironment("quorum_tick_interval", "100")
    }

    override func tearDownWithError() throws {
        for command in restore.reversed() { try broker.ctl(command) }
        for queue in [topology.requestQueue, topology.deadLetterQueue] { _ = try? broker.ctl(["delete_queue", queue]) }
    }

    private static let image = (try? Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg")))?
        .base64EncodedString() ?? ""

    /// Requests of one text each, and of one image too every `imageEvery`-th: image rows cost
    /// ~0.2 s each in a debug build, texts a few ms.
    static func requests(_ count: Int, _ prefix: String, imageEvery: Int = 0) -> [(id: String, body: [UInt8])] {
        (0..<count).map { i in
            let images = imageEvery > 0 && i % imageEvery == 0 ? [image] : []
            return ("\(prefix)\(i)", RequestEncoder.encode(images: images, texts: ["caption \(prefix)\(i)"]))
        }
    }

    private func assertNothingLost(_ tally: Tally, duplicatesAllowed: Bool, file: StaticString = #filePath, line: UInt = #line) {
        print("fault tally \(name): \(tally)")
        XCTAssertEqual(tally.lost, [], "lost requests", file: file, line: line)
        XCTAssertEqual(tally.strays, [], "replies to requests never published", file: file, line: line)
        if !duplicatesAllowed { XCTAssertEqual(tally.duplicates, 0, "duplicate replies", file: file, line: line) }
        XCTAssertEqual(try messagesLeft(), 0, "nothing left in the request queue, ready or unacked", file: file, line: line)
    }

    /// Memory after the run against memory once warm: a bound with room for allocator noise,
    /// far below what a per-request leak over hundreds of requests would add.
    private func assertMemoryFlat(_ warm: Int?, _ pid: Int32, file: StaticString = #filePath, line: UInt = #line) {
        guard let warm, let end = residentMemory(pid: pid)?.current else { return XCTFail("no /proc/\(pid)/status", file: file, line: line) }
        print("worker RSS \(name): warm \(warm >> 20) MiB, end \(end >> 20) MiB")
        XCTAssertLessThan(end, warm + warm / 4 + (16 << 20), "worker memory grew", file: file, line: line)
    }

    /// Pumps the ledger until it has `count` more replies than it had.
    private func awaitReplies(_ ledger: OutcomeLedger, _ count: Int, timeout: Duration = .seconds(30)) throws {
        let target = ledger.replies.count + count
        let deadline = ContinuousClock.now + timeout
        while ledger.replies.count < target && ContinuousClock.now < deadline { try ledger.pump(.milliseconds(20)) }
        XCTAssertGreaterThanOrEqual(ledger.replies.count, target, "replies did not come")
    }

    /// The request queue's messages (ready and unacked) and unacked deliveries, as the broker
    /// counted them at its last tick.
    private func queueCounts() throws -> (messages: Int, unacknowledged: Int) {
        Thread.sleep(forTimeInterval: 0.15)  // at least one tick
        for line in try broker.ctl(["list_queues", "name", "messages", "messages_unacknowledged", "--no-table-headers"])
            .split(separator: "\n")
        {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.count == 3, fields[0] == topology.requestQueue { return (Int(fields[1]) ?? -1, Int(fields[2]) ?? -1) }
        }
        return (-1, -1)
    }

    /// Deliveries the worker holds unacked; between two batches it may hold none for a moment,
    /// so a zero is read again (up to ten times).
    private func unacknowledged() throws -> Int {
        var held = try queueCounts().unacknowledged
        for _ in 0..<10 where held == 0 { held = try queueCounts().unacknowledged }
        return held
    }

    /// Messages left in the request queue, after up to 3 s for acks still on their way.
    private func messagesLeft() throws -> Int {
        var left = try queueCounts().messages
        for _ in 0..<20 where left != 0 { left = try queueCounts().messages }
        return left
    }

    /// The broker's ids of the connections whose client name contains `name`.
    private func connections(named name: String) throws -> [String] {
        try broker.ctl(["list_connections", "pid", "client_properties", "--no-table-headers"]).split(separator: "\n")
            .filter { $0.contains(name) }.compactMap { $0.split(separator: "\t").first.map(String.init) }
    }

    /// Sets one of the broker's `rabbit` application settings, and puts the old value back in teardown.
    private func setBrokerEnvironment(_ key: String, _ value: String) throws {
        let old = try broker.ctl(["eval", "application:get_env(rabbit, \(key))."]).trimmingCharacters(in: .whitespacesAndNewlines)
        if old.hasPrefix("{ok,") && old.hasSuffix("}") {
            restore.append(["eval", "application:set_env(rabbit, \(key), \(old.dropFirst(4).dropLast()))."])
        } else {
            XCTAssertEqual(old, "undefined")
            restore.append(["eval", "application:unset_env(rabbit, \(key))."])
        }
        try broker.ctl(["eval", "application:set_env(rabbit, \(key), \(value))."])
    }

    // MARK: - Faults

    /// Batches of up to 16 requests (the prefetch) that wait 300 ms to fill: on the tiny model
    /// a worker spends its time holding batches, so a fault finds work in hand. No embedding
    /// cache: the repeated image would be answered at once, and these tests are about the link.
    static let busy = ["--prefetch", "16", "--max-wait-ms", "300", "--cache-bytes", "0"]

    func testAWorkerSIGKILLedMidBatchThreeTimesLosesNothing() throws {
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        var worker = try WorkerProcess(broker: broker, topology: topology, arguments: Self.busy)
        for round in 0..<3 {
            try ledger.publish(Self.requests(80, "r\(round).", imageEvery: 20))
            try awaitReplies(ledger, 10)
            Thread.sleep(forTimeInterval: .random(in: 0...0.3))  // anywhere in a batch's life
            XCTAssertGreaterThan(try unacknowledged(), 0, "round \(round): the worker holds work when killed")
            worker.kill()
            worker = try WorkerProcess(broker: broker, topology: topology, arguments: Self.busy)
        }
        let tally = try ledger.settle()
        assertNothingLost(tally, duplicatesAllowed: true)
        XCTAssertEqual(tally.replied + tally.deadLettered, 240)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testTheBrokerStoppedAndStartedUnderLoadLosesNothing() throws {
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: Self.busy)
        try ledger.publish(Self.requests(100, "before."))
        try awaitReplies(ledger, 10)
        let warm = residentMemory(pid: worker.process.processIdentifier)?.current
        // The broker goes down and comes back while the worker answers and the ledger publishes.
        let restarted = DispatchSemaphore(value: 0)
        let broker = broker!
        DispatchQueue.global().async {
            try? broker.restart()
            restarted.signal()
        }
        var chunk = 0
        repeat {  // ten at a time until the broker is back: some publishes meet the outage
            try ledger.publish(Self.requests(10, "during\(chunk)."))
            chunk += 1
        } while restarted.wait(timeout: .now() + 0.1) == .timedOut && chunk < 300
        try ledger.publish(Self.requests(30, "after."))
        let tally = try ledger.settle(timeout: .seconds(90))
        assertNothingLost(tally, duplicatesAllowed: true)
        XCTAssertGreaterThan(ledger.reconnects, 0, "the ledger was publishing when the broker went")
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"connection_lost""#) }, "the worker saw the broker go")
        XCTAssertTrue(worker.waitForLog(containing: #""event":"connected""#, count: 2), "and reconnected")
        assertMemoryFlat(warm, worker.process.processIdentifier)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testConnectionsClosedByTheBrokerLoseNothing() throws {
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: Self.busy)
        try ledger.publish(Self.requests(200, "c."))
        try awaitReplies(ledger, 10)
        let warm = residentMemory(pid: worker.process.processIdentifier)?.current
        for closure in 1...3 {
            XCTAssertTrue(worker.waitForLog(containing: #""event":"connected""#, count: closure, timeout: .seconds(30)))
            for pid in try connections(named: "clipq worker") { try broker.ctl(["close_connection", pid, "fault test"]) }
            try awaitReplies(ledger, 10)
        }
        let tally = try ledger.settle()
        assertNothingLost(tally, duplicatesAllowed: true)
        XCTAssertEqual(worker.log.filter { $0.contains(#""event":"connection_lost""#) }.count, 3)
        assertMemoryFlat(warm, worker.process.processIdentifier)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testAReplyQueueDeletedInFlightLeavesNothingStuck() throws {
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: Self.busy)
        try ledger.publish(Self.requests(100, "q."))
        try awaitReplies(ledger, 5)
        try broker.ctl(["delete_queue", ledger.replyQueue])
        Thread.sleep(forTimeInterval: 0.5)  // replies now go nowhere; the ledger redeclares when it next looks
        // Replies the broker returned to the worker are logged with their correlation id; replies
        // that were in the queue when it was deleted went with it (the worker logged them replied).
        func logged(_ event: String) -> Set<String> {
            Set(worker.log.filter { $0.contains(event) }.compactMap { line in
                (try? JSONParser().parse(Array(line.utf8)))?["correlation_id"]?.string
            })
        }
        try ledger.publish(Self.requests(20, "after."))
        let gone = { logged(#""event":"reply_unroutable""#).union(logged(#""event":"replied""#).filter { !$0.hasPrefix("after.") }) }
        let tally = try ledger.settle(elsewhere: gone())
        assertNothingLost(tally, duplicatesAllowed: false)
        let unroutable = logged(#""event":"reply_unroutable""#)
        let unreceived = tally.published.filter { tally.replies[$0] == nil }
        print("reply queue deleted: \(unroutable.count) replies returned unroutable, \(unreceived.count) answered but not received")
        XCTAssertGreaterThan(unroutable.count, 0, "some replies found no queue")
        XCTAssertEqual(tally.published.filter { $0.hasPrefix("after.") && tally.replies[$0] == 1 }.count, 20, "the worker serves on")
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testAConsumerTimeoutShorterThanABatchRedeliversAndAnswersOnce() throws {
        // The broker takes deliveries back when they are held unacked past consumer_timeout
        // (checked each channel tick); both are read when a channel opens, so set them first.
        try setBrokerEnvironment("consumer_timeout", "2000")
        try setBrokerEnvironment("channel_tick_interval", "250")
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        // The first batch waits 3.5 s to fill: the broker closes the channel at 2-2.25 s and
        // redelivers; the redelivered rows join the batch due at 3.5 s, about 1 s after they came,
        // and are acked in time.
        let port = try TestBroker.freePort()
        let worker = try WorkerProcess(
            broker: broker, topology: topology, arguments: ["--max-wait-ms", "3500", "--http-port", String(port)])
        try ledger.publish(Self.requests(20, "t."))
        let tally = try ledger.settle()
        assertNothingLost(tally, duplicatesAllowed: false)
        XCTAssertEqual(tally.replied, 20)
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"connection_lost""#) && $0.contains("timed out") }, "\(worker.log)")
        // The first deliveries' work is void once the broker took them back: not computed at all.
        for id in tally.published {
            XCTAssertEqual(worker.log.filter { $0.contains(#""event":"replied""#) && $0.contains("\"\(id)\"") }.count, 1, id)
        }
        // Each void first delivery ended as requeued, so nothing stays in flight.
        let metrics = Scrape(try XCTUnwrap(DeployTests.get(port: port, path: "/metrics")).body)
        XCTAssertEqual(metrics.value("clipq_requests_in_flight"), 0)
        XCTAssertGreaterThanOrEqual(metrics.value("clipq_requests_total", ["outcome": "requeued", "code": "none"]) ?? 0, 20)
        XCTAssertEqual(metrics.value("clipq_requests_total", ["outcome": "success", "code": "none"]), 20)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testAMemoryAlarmHoldsRepliesUntilItClears() throws {
        let original = try broker.ctl(["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotNil(Double(original), "a relative watermark: \(original)")
        restore.append(["set_vm_memory_high_watermark", original])

        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        try ledger.publish(Self.requests(40, "m."))
        try broker.ctl(["set_vm_memory_high_watermark", "0.000001"])  // every publisher is blocked now
        let worker = try WorkerProcess(broker: broker, topology: topology)
        XCTAssertTrue(worker.waitForLog(containing: #""event":"broker_blocked""#))
        try ledger.pump(.seconds(2))
        XCTAssertEqual(ledger.replies.count, 0, "nothing is published while the alarm lasts")
        XCTAssertTrue(worker.process.isRunning)
        XCTAssertGreaterThan(try unacknowledged(), 0, "the worker holds what it computed, unacked")

        try broker.ctl(["set_vm_memory_high_watermark", original])
        let tally = try ledger.settle()
        assertNothingLost(tally, duplicatesAllowed: false)
        XCTAssertEqual(tally.replied, 40)
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"broker_unblocked""#) })
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testAPoisonMessageThatKillsEveryWorkerStopsAtTheDeliveryLimit() throws {
        // Whatever worker takes the poison request dies (SIGKILL, as a crash would) while it
        // holds it unacked: its image fetch reaches this server, which tells the test.
        topology = Topology.unique(name, deliveryLimit: 2)
        let fetched = DispatchSemaphore(value: 0)
        let server = try LoopbackServer { _, _ in
            fetched.signal()
            Thread.sleep(forTimeInterval: 20)
            return .status(404)
        }
        let ledger = try OutcomeLedger(broker: broker, topology: topology)
        var worker = try WorkerProcess(broker: broker, topology: topology)
        let poison = RequestEncoder.encode(images: [server.url("/poison.jpg")], texts: [])
        try ledger.publish([("poison", poison)] + Self.requests(10, "good."))
        var kills = 0
        XCTAssertEqual(fetched.wait(timeout: .now() + 20), .success, "a worker took the poison request")
        while kills <= topology.deliveryLimit + 1 {
            XCTAssertGreaterThan(try unacknowledged(), 0, "the worker holds the poison unacked")
            worker.kill()
            kills += 1
            worker = try WorkerProcess(broker: broker, topology: topology)
            // Either the new worker takes the request again, or the broker dead-lettered it.
            var takenAgain = false
            let deadline = ContinuousClock.now + .seconds(20)
            while try ContinuousClock.now < deadline && (broker.messageCount(queue: topology.deadLetterQueue) ?? 0) == 0 {
                if fetched.wait(timeout: .now() + 0.1) == .success {
                    takenAgain = true
                    break
                }
            }
            if !takenAgain { break }
        }
        try ledger.publish(Self.requests(10, "later."))
        let tally = try ledger.settle()
        assertNothingLost(tally, duplicatesAllowed: true)
        // Delivered once, then redelivered up to the limit: the broker dead-letters it after that.
        XCTAssertEqual(kills, topology.deliveryLimit + 1)
        XCTAssertEqual(server.hits("/poison.jpg"), topology.deliveryLimit + 1)
        XCTAssertNil(tally.replies["poison"])
        let letter = try XCTUnwrap(tally.deadLetters["poison"]?.first, "the poison request is in the dead-letter queue")
        XCTAssertEqual(tally.deadLetters["poison"]?.count, 1)
        XCTAssertEqual(letter.record.body, poison, "kept byte for byte, ready for replay")
        XCTAssertEqual(letter.record.workerID, "broker")
        XCTAssertEqual(letter.record.error.code, .internal)
        XCTAssertTrue(letter.record.error.message.contains("delivery_limit"), letter.record.error.message)
        XCTAssertEqual(tally.replied, 20, "the others were served")
        XCTAssertEqual(worker.terminate(), 0)
    }
}
