import ClipAMQP
import ClipModel
import ClipModelTestSupport
import ClipPipeline
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

@testable import ClipWorker

/// The embedding cache in the worker: identical rows are computed once, repeated content is not
/// computed again, a dead shared cache costs nothing, and replies are the same bytes either way.
final class CacheTests: XCTestCase {
    private func identity() throws -> ModelIdentity {
        try ModelIdentity(modelDirectory: TinyModel.directory, precision: "fp32")
    }

    private func memoryCache(_ bytes: Int = 1 << 20) throws -> PreparationCache {
        PreparationCache(model: try identity(), cache: MemoryEmbeddingCache(capacityBytes: bytes))
    }

    func testIdenticalRowsInABatchAreComputedOnce() throws {
        let encoder = FakeEncoder(pixelsPerImage: 1)
        let gate = DispatchSemaphore(value: 0)
        encoder.hold(on: gate)
        let harness = try WorkerHarness(encoder: encoder, cache: PreparationCache(model: try identity(), cache: nil))
        harness.send("first", [("", "occupies the encoder")])
        Thread.sleep(forTimeInterval: 0.1)
        for i in 0..<5 { harness.send("same\(i)", [("", "a photo of a cat")]) }
        harness.send("other", [("", "dogs")])
        Thread.sleep(forTimeInterval: 0.2)
        encoder.hold(on: nil)
        gate.signal()
        let replies = harness.awaitReplies((0..<5).map { "same\($0)" } + ["other", "first"])
        XCTAssertEqual(encoder.computed.map(\.count), [1, 2], "six rows, two distinct")
        let same = try (0..<5).map { try XCTUnwrap(replies["same\($0)"]).get() }
        XCTAssertTrue(same.allSatisfy { $0 == same[0] })
        XCTAssertNotEqual(try XCTUnwrap(replies["other"]).get(), same[0])
    }

    func testRepeatedContentIsAnsweredFromTheCacheWithTheSameBytes() throws {
        let harness = try WorkerHarness(cache: try memoryCache())
        let image = try TinyModel.Reference.load().imageCell(0)
        harness.send("a", [(image, "a photo of a cat")])
        _ = harness.awaitReplies(["a"])
        // The same image and a text that tokenizes the same: nothing to compute.
        harness.send("b", [(image, "  A photo of a CAT ")])
        _ = harness.awaitReplies(["b"])
        XCTAssertEqual(harness.encoder.computed.map(\.lane).sorted(), ["image", "text"], "computed once, for a")
        let bodies = Dictionary(harness.replies.map { ($0.id, $0.body) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(bodies["a"], bodies["b"])
        _ = harness.events.outcomes(count: 2)
        let cached = harness.events.all.compactMap { event -> Int? in
            if case .replied(let request, _, let cached, _) = event, request.correlationID == "b" { cached } else { nil }
        }
        XCTAssertEqual(cached, [2])
    }

    func testTheLeastRecentlyUsedEmbeddingsLeaveWhenTheCacheIsFull() throws {
        // Room for two text embeddings of the fake encoder (4 floats each) and no more.
        let room = 2 * MemoryEmbeddingCache.cost(of: [0, 0, 0, 0])
        let harness = try WorkerHarness(cache: try memoryCache(room))
        for (i, text) in ["one", "two", "one", "three", "one", "two"].enumerated() {
            harness.send("r\(i)", [("", text)])
            _ = harness.awaitReplies(["r\(i)"])
        }
        // one, two computed; one hit; three computed (evicts two); one hit; two computed again.
        XCTAssertEqual(harness.encoder.computed.count, 4)
    }

    /// Bit for bit: the real tiny model answers a stream with repeats the same with the cache on
    /// and off. (Each request is computed alone here: BLAS may round the same row differently
    /// inside batches of other sizes, cache or no cache, by a few units in the last place.)
    func testRepliesAreTheSameWithAndWithoutTheCache() throws {
        let embedder = try TinyModel.embedder.get()
        let image = try TinyModel.Reference.load().imageCell(1)
        let stream: [(String, [(String, String)])] = [
            ("1", [(image, "a cat")]), ("2", [("", "a dog"), (image, "")]), ("3", [(image, "a cat")]), ("4", [("", "a dog")]),
            ("5", [("", "a cat")]), ("6", [(image, "a dog")]),
        ]
        func replies(cache: PreparationCache?) throws -> [String: [UInt8]] {
            let transport = InMemoryTransport()
            let worker = try Worker(
                settings: WorkerSettings(modelName: "tiny"), transport: transport, encoder: embedder.encoder, preparer: embedder.preparer,
                cache: cache)
            worker.start()
            defer { worker.stop(timeout: .seconds(5)) }
            for (id, rows) in stream {
                transport.enqueue(
                    RequestEncoder.encode(rows.map { EmbeddingRequest.Row(image: $0.0, text: $0.1) }),
                    properties: AMQPProperties(correlationID: id, replyTo: "replies"))
                XCTAssertTrue(transport.waitForPublished { $0.contains { $0.properties.correlationID == id } })
            }
            return Dictionary(transport.published.map { ($0.properties.correlationID ?? "", $0.body) }, uniquingKeysWith: { a, _ in a })
        }
        let uncached = try replies(cache: nil)
        let cached = try replies(cache: try memoryCache())
        XCTAssertEqual(uncached.count, stream.count)
        for (id, _) in stream { XCTAssertEqual(cached[id], uncached[id], "reply \(id) differs with the cache") }
    }

    /// A shared cache that goes away mid-run: requests are still answered, on time.
    func testRequestsAreAnsweredWhileTheSharedCacheIsDown() throws {
        let redis = try TestRedis()
        let shared = try RedisEmbeddingCache(url: redis.url, timeout: .milliseconds(50))
        let harness = try WorkerHarness(cache: PreparationCache(model: try identity(), cache: shared))
        harness.send("before", [("", "a cat")])
        _ = harness.awaitReplies(["before"])
        redis.kill()
        let start = ContinuousClock.now
        for i in 0..<10 { harness.send("down\(i)", [("", "caption \(i)")]) }
        let replies = harness.awaitReplies((0..<10).map { "down\($0)" })
        XCTAssertEqual(replies.values.filter { (try? $0.get()) != nil }.count, 10)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        try redis.start()
        harness.send("after", [("", "a cat")])
        XCTAssertNoThrow(try XCTUnwrap(harness.awaitReplies(["after"])["after"]).get())
    }
}
