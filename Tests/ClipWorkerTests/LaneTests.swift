import ClipAMQP
import ClipSchema
import Foundation
import XCTest

@testable import ClipWorker

/// Interactive and bulk traffic through one worker: interactive rows go first, bulk rows fill
/// what is left, and a bulk flood never stands between an interactive request and the encoder
/// for more than the batch already in it.
final class LaneTests: XCTestCase {
    func testInteractiveRowsOvertakeQueuedBulkRows() throws {
        let encoder = FakeEncoder(pixelsPerImage: 1)
        let gate = DispatchSemaphore(value: 0)
        encoder.hold(on: gate)
        let harness = try WorkerHarness(textBatch: 4, bulkPrefetch: 8, encoder: encoder)
        harness.send("bulk-first", [("", "occupies the encoder")], lane: .bulk)
        Thread.sleep(forTimeInterval: 0.1)
        for i in 0..<7 { harness.send("bulk\(i)", [("", "bulk \(i)")], lane: .bulk) }
        Thread.sleep(forTimeInterval: 0.1)  // seven bulk rows wait in the batcher
        harness.send("user", [("", "a user waits for this")])
        Thread.sleep(forTimeInterval: 0.1)
        encoder.hold(on: nil)
        gate.signal()
        _ = harness.awaitReplies(["user"] + (0..<7).map { "bulk\($0)" })
        let order = harness.replies.map(\.id)
        XCTAssertEqual(order.first, "bulk-first")
        // The next batch: the interactive row first, three bulk rows filling it.
        XCTAssertEqual(order.dropFirst().first, "user", "\(order)")
        XCTAssertEqual(encoder.computed.map(\.count), [1, 4, 4])
    }

    func testABulkFloodNeverStarvesInteractiveRequests() throws {
        let encoder = FakeEncoder(pixelsPerImage: 1)
        encoder.setDelay(.milliseconds(20))
        let harness = try WorkerHarness(textBatch: 8, bulkPrefetch: 8, encoder: encoder)
        let bulk = (0..<400).map { "bulk\($0)" }
        for id in bulk { harness.send(id, [("", "indexing \(id)")], lane: .bulk) }
        Thread.sleep(forTimeInterval: 0.2)
        var waits: [Duration] = []
        for i in 0..<5 {
            let start = ContinuousClock.now
            harness.send("user\(i)", [("", "query \(i)")])
            _ = harness.awaitReplies(["user\(i)"])
            waits.append(ContinuousClock.now - start)
        }
        // One batch in the encoder (20 ms) and one more for the interactive row, with room for a
        // loaded machine; far from the 50 bulk batches queued.
        XCTAssertLessThan(waits.max() ?? .zero, .milliseconds(400), "\(waits)")
        XCTAssertGreaterThan(harness.transport.queuedCount, 100, "the bulk job was still running")
    }

    func testBulkDeliveriesAreHeldFewAtATime() throws {
        let encoder = FakeEncoder(pixelsPerImage: 1)
        let gate = DispatchSemaphore(value: 0)
        encoder.hold(on: gate)
        let harness = try WorkerHarness(bulkPrefetch: 3, encoder: encoder)
        for i in 0..<20 { harness.send("bulk\(i)", [("", "bulk \(i)")], lane: .bulk) }
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(harness.transport.unsettledCount, 3)
        XCTAssertEqual(harness.transport.queuedCount, 17)
        encoder.hold(on: nil)
        gate.signal()
    }
}
