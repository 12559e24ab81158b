import Foundation
import Synchronization
import XCTest

@testable import ClipPipeline

/// Keys for tests: distinct, deterministic.
func testKey(_ i: Int) -> EmbeddingCacheKey {
    EmbeddingCacheKey(digest: SHA256.hash(Array("key \(i)".utf8)))
}

/// A vector that says which key it was stored under.
func testVector(_ i: Int, count: Int = 768) -> [Float] {
    (0..<count).map { Float(i) + Float($0) / 1024 }
}

final class MemoryEmbeddingCacheTests: XCTestCase {
    func testAnEntryCostsItsFloatsPlusADocumentedOverhead() {
        let vector = testVector(1)
        XCTAssertGreaterThanOrEqual(MemoryEmbeddingCache.overheadBytesPerEntry, 32 + 32)  // at least the key twice
        XCTAssertEqual(MemoryEmbeddingCache.cost(of: vector), vector.count * 4 + MemoryEmbeddingCache.overheadBytesPerEntry)
        let cache = MemoryEmbeddingCache(capacityBytes: 1 << 20)
        cache.store(vector, for: testKey(1))
        XCTAssertEqual(cache.statistics.bytes, MemoryEmbeddingCache.cost(of: vector))
        XCTAssertEqual(cache.statistics.entries, 1)
        XCTAssertEqual(cache.embedding(for: testKey(1)), vector)
        XCTAssertNil(cache.embedding(for: testKey(2)))
        var expected = EmbeddingCacheStatistics()
        (expected.hits, expected.misses, expected.stores, expected.entries) = (1, 1, 1, 1)
        expected.bytes = MemoryEmbeddingCache.cost(of: vector)
        XCTAssertEqual(cache.statistics, expected)

        // Storing again under the same key replaces the entry and its cost.
        let shorter = testVector(1, count: 16)
        cache.store(shorter, for: testKey(1))
        XCTAssertEqual(cache.embedding(for: testKey(1)), shorter)
        XCTAssertEqual(cache.statistics.bytes, MemoryEmbeddingCache.cost(of: shorter))
        XCTAssertEqual(cache.statistics.entries, 1)
    }

    func testTheLeastRecentlyUsedGoFirstUntilTheBytesFit() {
        let small = testVector(0, count: 64)
        let smallCost = MemoryEmbeddingCache.cost(of: small)
        let cache = MemoryEmbeddingCache(capacityBytes: 4 * smallCost)
        for i in 0..<4 { cache.store(testVector(i, count: 64), for: testKey(i)) }
        XCTAssertEqual(cache.keysByRecency, [3, 2, 1, 0].map(testKey))
        XCTAssertEqual(cache.statistics.evictions, 0)

        // One entry costing between one and two small ones pushes out the two oldest.
        let mediumCount = (smallCost * 3 / 2 - MemoryEmbeddingCache.overheadBytesPerEntry) / 4
        let medium = testVector(10, count: mediumCount)
        XCTAssertGreaterThan(MemoryEmbeddingCache.cost(of: medium), smallCost)
        XCTAssertLessThanOrEqual(MemoryEmbeddingCache.cost(of: medium), 2 * smallCost)
        cache.store(medium, for: testKey(10))
        XCTAssertEqual(cache.keysByRecency, [10, 3, 2].map(testKey))
        XCTAssertEqual(cache.statistics.evictions, 2)
        XCTAssertEqual(cache.statistics.bytes, 2 * smallCost + MemoryEmbeddingCache.cost(of: medium))
        XCTAssertNil(cache.embedding(for: testKey(0)))
        XCTAssertNil(cache.embedding(for: testKey(1)))
        XCTAssertEqual(cache.embedding(for: testKey(2)), testVector(2, count: 64))
    }

    func testALookupMakesAnEntryRecent() {
        let cost = MemoryEmbeddingCache.cost(of: testVector(0))
        let cache = MemoryEmbeddingCache(capacityBytes: 3 * cost)
        for i in 0..<3 { cache.store(testVector(i), for: testKey(i)) }
        XCTAssertEqual(cache.embedding(for: testKey(0)), testVector(0))
        cache.store(testVector(3), for: testKey(3))
        XCTAssertEqual(cache.keysByRecency, [3, 0, 2].map(testKey))
        XCTAssertNil(cache.embedding(for: testKey(1)))
        XCTAssertEqual(cache.embedding(for: testKey(0)), testVector(0))
        // Freed slots are reused: the cache keeps working through many evictions.
        for i in 4..<100 { cache.store(testVector(i), for: testKey(i)) }
        XCTAssertEqual(cache.keysByRecency, [99, 98, 97].map(testKey))
        XCTAssertEqual(cache.statistics.entries, 3)
        XCTAssertEqual(cache.statistics.evictions, 97)
        XCTAssertEqual(cache.statistics.bytes, 3 * cost)
    }

    func testCapacityZeroStoresNothing() {
        let cache = MemoryEmbeddingCache(capacityBytes: 0)
        cache.store(testVector(1), for: testKey(1))
        XCTAssertNil(cache.embedding(for: testKey(1)))
        XCTAssertEqual(cache.statistics.stores, 0)
        XCTAssertEqual(cache.statistics.bytes, 0)
        XCTAssertEqual(cache.statistics.misses, 1)
    }

    func testAnEntryLargerThanTheCapacityIsNotStoredAndEvictsNothing() {
        let cost = MemoryEmbeddingCache.cost(of: testVector(0, count: 16))
        let cache = MemoryEmbeddingCache(capacityBytes: 2 * cost)
        cache.store(testVector(0, count: 16), for: testKey(0))
        cache.store(testVector(1, count: 768), for: testKey(1))
        XCTAssertNil(cache.embedding(for: testKey(1)))
        XCTAssertEqual(cache.embedding(for: testKey(0)), testVector(0, count: 16))
        XCTAssertEqual(cache.statistics.evictions, 0)
        XCTAssertEqual(cache.statistics.stores, 1)
    }

    /// Several threads looking up and storing at once: every hit is the vector stored under its
    /// key, the counters add up, and the bytes stay within the capacity.
    func testConcurrentUseKeepsEntriesAndCountersConsistent() {
        let cost = MemoryEmbeddingCache.cost(of: testVector(0, count: 64))
        let cache = MemoryEmbeddingCache(capacityBytes: 50 * cost)
        let threads = 8, rounds = 2000
        let wrongHits = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var generator = SplitMix64(seed: UInt64(thread))
            for _ in 0..<rounds {
                let i = Int.random(in: 0..<200, using: &generator)
                if let found = cache.embedding(for: testKey(i)) {
                    if found != testVector(i, count: 64) { wrongHits.add(1, ordering: .relaxed) }
                } else {
                    cache.store(testVector(i, count: 64), for: testKey(i))
                }
            }
        }
        let statistics = cache.statistics
        XCTAssertEqual(wrongHits.load(ordering: .relaxed), 0)
        XCTAssertEqual(statistics.hits + statistics.misses, threads * rounds)
        XCTAssertEqual(statistics.stores, statistics.misses)
        XCTAssertGreaterThan(statistics.hits, 0)
        XCTAssertEqual(statistics.entries, cache.keysByRecency.count)
        XCTAssertEqual(statistics.entries, 50)
        XCTAssertEqual(statistics.bytes, 50 * cost)
        XCTAssertEqual(Set(cache.keysByRecency).count, 50)
        // Two threads missing one key at once both store it: the second replaces the first.
        XCTAssertGreaterThanOrEqual(statistics.stores - statistics.evictions, statistics.entries)
    }
}
