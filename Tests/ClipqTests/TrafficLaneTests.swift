import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// Both lanes through a real broker and a real worker: a user's request sent while a bulk job
/// is under way is answered long before the job ends.
final class TrafficLaneTests: XCTestCase {
    func testAnInteractiveRequestOvertakesAQueuedBulkJob() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(#function)
        let client = try ReplyCollector(broker: broker)
        try topology.declare(on: client.connection)
        // Images, each decoded and resized (no cache), so that the job lasts.
        let image = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg")).base64EncodedString()
        let bulk = (0..<60).map { "bulk\($0)" }
        for id in bulk { try client.send(requestBody([(image, "")]), id: id, to: topology.bulkQueue) }
        // The broker has them all before the worker starts (publishes on one channel are taken in order).
        XCTAssertTrue(waitUntil { (try? broker.messageCount(queue: topology.bulkQueue)) == bulk.count })

        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: ["--bulk-prefetch", "8", "--cache-bytes", "0"])
        try client.collect(["bulk0"], timeout: .seconds(60))  // the bulk job is under way
        try client.collect(Set(bulk), timeout: .milliseconds(200))  // every reply published so far, in order
        let answeredBefore = client.replyOrder.count
        try client.send(requestBody([("", "a user's query")]), id: "user", to: topology.requestQueue)
        try client.collect(Set(bulk + ["user"]), timeout: .seconds(180))

        let order = client.replyOrder
        XCTAssertEqual(Set(order), Set(bulk + ["user"]), "every request answered")
        let position = try XCTUnwrap(order.firstIndex(of: "user"), "the interactive request was not answered")
        let overtakenBy = position - answeredBefore
        print("traffic lanes: \(overtakenBy) bulk replies between the interactive request and its reply, \(bulk.count - position) bulk after it")
        // Only what the worker already held may finish first: its bulk prefetch (8), one batch, and
        // replies on their way when the request was sent.
        XCTAssertLessThanOrEqual(overtakenBy, 24, "bulk replies ahead of the interactive one: \(overtakenBy)")
        XCTAssertEqual(worker.terminate(), 0)
    }

    private func waitUntil(_ timeout: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }
}
