import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// Both lanes through a real broker and a real worker: a user's request sent after a bulk job
/// was queued is answered long before the job ends.
final class TrafficLaneTests: XCTestCase {
    func testAnInteractiveRequestOvertakesAQueuedBulkJob() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(#function)
        let client = try ReplyCollector(broker: broker)
        try topology.declare(on: client.connection)
        // Images: each costs a decode and a resize, so the job outlasts the test's first second.
        let image = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg")).base64EncodedString()
        let bulk = (0..<300).map { "bulk\($0)" }
        for id in bulk { try client.send(requestBody([(image, "")]), id: id, to: topology.bulkQueue) }
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: ["--bulk-prefetch", "8"])
        Thread.sleep(forTimeInterval: 0.3)  // the bulk job is under way
        let held = try broker.ctl(["list_queues", "name", "messages_unacknowledged", "--no-table-headers"])
            .split(separator: "\n").first { $0.hasPrefix(topology.bulkQueue + "\t") }
        XCTAssertLessThanOrEqual(Int(held?.split(separator: "\t").last ?? "") ?? -1, 8, "bulk deliveries held: \(held ?? "?")")
        try client.send(requestBody([("", "a user's query")]), id: "user", to: topology.requestQueue)
        try client.collect(Set(bulk + ["user"]), timeout: .seconds(120))

        let order = client.replyOrder
        let position = try XCTUnwrap(order.firstIndex(of: "user"), "the interactive request was not answered")
        print("traffic lanes: the interactive reply came \(position + 1)th of \(order.count); bulk held at its arrival: \(held ?? "?")")
        let answeredBefore = try broker.messageCount(queue: topology.bulkQueue)
        XCTAssertEqual(answeredBefore, 0, "the bulk job finished")
        XCTAssertEqual(Set(order), Set(bulk + ["user"]), "every request answered")
        // Ahead of it: the bulk replies sent before it arrived, at most a prefetch window and a batch.
        XCTAssertLessThan(position, order.count / 2, "answered at \(position) of \(order.count)")
        XCTAssertEqual(worker.terminate(), 0)
    }
}
