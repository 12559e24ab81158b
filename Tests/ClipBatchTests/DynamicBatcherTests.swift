import ClipBatch
import Foundation
import XCTest

final class DynamicBatcherTests: XCTestCase {
    enum Lane: Hashable, Sendable { case image, text }

    private func batcher(imageBatch: Int = 4, textBatch: Int = 8, wait: Duration = .milliseconds(200))
        -> DynamicBatcher<Lane, Int>
    {
        DynamicBatcher(policies: [
            .image: BatchPolicy(maxBatch: imageBatch, maxWait: wait), .text: BatchPolicy(maxBatch: textBatch, maxWait: wait),
        ])
    }

    func testAFullBatchLeavesAtOnceAndTheRestWaits() {
        let batcher = batcher(wait: .seconds(30))
        for i in 0..<6 { batcher.submit(i, lane: .image) }
        let start = ContinuousClock.now
        let batch = batcher.nextBatch()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))  // not the 30 s wait
        XCTAssertEqual(batch?.lane, .image)
        XCTAssertEqual(batch?.items, [0, 1, 2, 3])
        XCTAssertEqual(batcher.pendingCount, 2)
    }

    func testAPartialBatchLeavesAfterTheWaitLimitNotBefore() {
        let batcher = batcher(wait: .milliseconds(300))
        let start = ContinuousClock.now
        batcher.submit(1, lane: .text)
        batcher.submit(2, lane: .text)
        let batch = batcher.nextBatch()
        let waited = ContinuousClock.now - start
        XCTAssertEqual(batch?.items, [1, 2])
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(300))
        XCTAssertLessThan(waited, .seconds(10))
    }

    func testLanesNeverMixAndTheOldestLaneGoesFirst() {
        let batcher = batcher(wait: .milliseconds(50))
        batcher.submit(10, lane: .text)
        Thread.sleep(forTimeInterval: 0.01)
        batcher.submit(20, lane: .image)
        batcher.submit(11, lane: .text)
        Thread.sleep(forTimeInterval: 0.1)  // both lanes due now
        let first = batcher.nextBatch()
        let second = batcher.nextBatch()
        XCTAssertEqual(first?.lane, .text)
        XCTAssertEqual(first?.items, [10, 11])
        XCTAssertEqual(second?.lane, .image)
        XCTAssertEqual(second?.items, [20])
    }

    func testADeadlineSoonerThanTheWaitLimitSendsTheBatchEarly() {
        let batcher = batcher(wait: .seconds(30))
        batcher.submit(1, lane: .text)
        batcher.submit(2, lane: .text, deadline: .now + .milliseconds(200))
        let start = ContinuousClock.now
        let batch = batcher.nextBatch()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
        // At the deadline the item is late: it comes back as expired, the other is computed.
        XCTAssertEqual(batch?.items, [1])
        XCTAssertEqual(batch?.expired, [2])
    }

    func testExpiredItemsDoNotTakeBatchSlots() {
        let batcher = batcher(imageBatch: 2, wait: .seconds(30))
        batcher.submit(1, lane: .image, deadline: .now - .seconds(1))
        batcher.submit(2, lane: .image, deadline: .now - .seconds(1))
        batcher.submit(3, lane: .image)
        batcher.submit(4, lane: .image)
        let batch = batcher.nextBatch()
        XCTAssertEqual(batch?.expired, [1, 2])
        XCTAssertEqual(batch?.items, [3, 4])
    }

    func testCloseDrainsThenEnds() {
        let batcher = batcher(wait: .seconds(30))
        batcher.submit(1, lane: .image)
        batcher.submit(2, lane: .text)
        batcher.close()
        XCTAssertFalse(batcher.submit(3, lane: .image))
        let drained = [batcher.nextBatch(), batcher.nextBatch()].compactMap { $0 }
        XCTAssertEqual(Set(drained.flatMap(\.items)), [1, 2])
        XCTAssertNil(batcher.nextBatch())
    }

    func testCloseWakesAWaitingConsumer() {
        let batcher = batcher()
        let done = expectation(description: "consumer returns")
        Thread.detachNewThread {
            XCTAssertNil(batcher.nextBatch())
            done.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.05)
        batcher.close()
        wait(for: [done], timeout: 10)
    }

    func testUnknownLanesAreRefused() {
        let batcher = DynamicBatcher<Lane, Int>(policies: [.text: BatchPolicy(maxBatch: 2, maxWait: .milliseconds(1))])
        XCTAssertFalse(batcher.submit(1, lane: .image))
        XCTAssertEqual(batcher.pendingCount, 0)
    }

    func testManyProducersOneConsumerEveryItemExactlyOnce() {
        let batcher = batcher(imageBatch: 5, textBatch: 7, wait: .milliseconds(2))
        let producers = 4, perProducer = 500
        let group = DispatchGroup()
        for p in 0..<producers {
            DispatchQueue.global().async(group: group) {
                for i in 0..<perProducer { batcher.submit(p * perProducer + i, lane: i.isMultiple(of: 3) ? .image : .text) }
            }
        }
        DispatchQueue.global().async {
            group.wait()
            batcher.close()
        }
        var seen: [Int] = []
        while let batch = batcher.nextBatch() {
            XCTAssertLessThanOrEqual(batch.items.count, batch.lane == .image ? 5 : 7)
            XCTAssertTrue(batch.items.allSatisfy { ($0 % perProducer).isMultiple(of: 3) == (batch.lane == .image) })
            seen += batch.items
        }
        XCTAssertEqual(seen.count, producers * perProducer)
        XCTAssertEqual(Set(seen).count, producers * perProducer)
    }

    func testWithNoWaitTheEncoderTakesWhatIsQueuedAndARequestsItemsArriveTogether() {
        let batcher = batcher(imageBatch: 8, textBatch: 8, wait: .zero)
        XCTAssertTrue(batcher.submit([(1, .text), (2, .text), (3, .image), (4, .text)]))
        let start = ContinuousClock.now
        let batches = [batcher.nextBatch(), batcher.nextBatch()].compactMap { $0 }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        XCTAssertEqual(batches.first { $0.lane == .text }?.items, [1, 2, 4])
        XCTAssertEqual(batches.first { $0.lane == .image }?.items, [3])
    }

    func testASubmissionWithAnUnknownLaneTakesNothing() {
        let batcher = DynamicBatcher<Lane, Int>(policies: [.text: BatchPolicy(maxBatch: 2, maxWait: .zero)])
        XCTAssertFalse(batcher.submit([(1, .text), (2, .image)]))
        XCTAssertEqual(batcher.pendingCount, 0)
    }

    func testUrgentItemsLeadTheBatchAndBackgroundItemsFillTheRest() {
        let batcher = batcher(imageBatch: 4, wait: .zero)
        for i in 100..<106 { batcher.submit(i, lane: .image, urgency: .background) }
        batcher.submit([(1, .image), (2, .image)], urgency: .urgent)
        XCTAssertEqual(batcher.nextBatch()?.items, [1, 2, 100, 101])
        batcher.submit(3, lane: .image, urgency: .urgent)
        XCTAssertEqual(batcher.nextBatch()?.items, [3, 102, 103, 104])
        XCTAssertEqual(batcher.nextBatch()?.items, [105])
    }

    func testALaneWithUrgentItemsIsServedBeforeAnOlderBackgroundLane() {
        let batcher = batcher(wait: .zero)
        batcher.submit(100, lane: .image, urgency: .background)
        Thread.sleep(forTimeInterval: 0.01)
        batcher.submit(1, lane: .text, urgency: .urgent)
        let first = batcher.nextBatch()
        XCTAssertEqual(first?.lane, .text)
        XCTAssertEqual(first?.items, [1])
        XCTAssertEqual(batcher.nextBatch()?.items, [100])
    }
}
