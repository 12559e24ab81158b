import ClipTestSupport
import Foundation
import Synchronization
import XCTest

@testable import ClipPipeline

/// The Redis cache against a real redis-server (Tests/Support/TestRedis.swift), and against the
/// failures it must shrug off: a server killed mid-run, one that accepts but never answers,
/// none at all.
final class RedisEmbeddingCacheTests: XCTestCase {
    /// A test waits at most this much past the cache's timeout for a call to return; generous,
    /// because the test machine is shared and slow.
    let margin: Duration = .milliseconds(400)

    func testARoundTripKeepsEveryFloatBitForBit() throws {
        let redis = try TestRedis()
        let cache = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(2))
        cache.waitForBackgroundWork()
        var vector = testVector(7)
        vector[0] = -0.0
        vector[1] = .infinity
        vector[2] = .leastNonzeroMagnitude
        cache.store(vector, for: testKey(7))
        cache.waitForBackgroundWork()
        let found = try XCTUnwrap(cache.embedding(for: testKey(7)))
        XCTAssertEqual(found.map(\.bitPattern), vector.map(\.bitPattern))
        XCTAssertNil(cache.embedding(for: testKey(8)))

        // The value in Redis: a 8-byte prefix and the floats, under the documented key.
        XCTAssertEqual(try redis.command("STRLEN clipq:emb:v1:\(testKey(7).hex)"), ":\(8 + 768 * 4)")
        XCTAssertEqual(try redis.command("PTTL clipq:emb:v1:\(testKey(7).hex)"), ":-1")  // no TTL asked

        let statistics = cache.statistics
        XCTAssertEqual([statistics.hits, statistics.misses, statistics.stores, statistics.errors, statistics.droppedStores], [1, 1, 1, 0, 0])

        // Another worker's cache (another connection) sees it too.
        let other = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(2))
        other.waitForBackgroundWork()
        XCTAssertEqual(other.embedding(for: testKey(7))?.map(\.bitPattern), vector.map(\.bitPattern))
    }

    func testEntriesExpireAfterTheTTL() throws {
        let redis = try TestRedis()
        let cache = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(2), ttl: .milliseconds(600))
        cache.waitForBackgroundWork()
        cache.store(testVector(1), for: testKey(1))
        cache.waitForBackgroundWork()
        let ttl = try XCTUnwrap(Int(try redis.command("PTTL clipq:emb:v1:\(testKey(1).hex)").dropFirst()))
        XCTAssertTrue((1...600).contains(ttl), "PTTL \(ttl)")
        XCTAssertEqual(cache.embedding(for: testKey(1)), testVector(1))
        Thread.sleep(forTimeInterval: 0.9)
        XCTAssertNil(cache.embedding(for: testKey(1)))
    }

    func testTheDatabaseAndPasswordOfTheURLAreUsed() throws {
        let redis = try TestRedis()
        let inDatabase3 = try RedisEmbeddingCache(url: redis.url + "/3", timeout: .seconds(2))
        let inDatabase0 = try RedisEmbeddingCache(url: redis.url + "/0", timeout: .seconds(2))
        inDatabase3.waitForBackgroundWork()
        inDatabase0.waitForBackgroundWork()
        inDatabase3.store(testVector(3), for: testKey(3))
        inDatabase3.waitForBackgroundWork()
        XCTAssertEqual(inDatabase3.embedding(for: testKey(3)), testVector(3))
        XCTAssertNil(inDatabase0.embedding(for: testKey(3)))
        XCTAssertEqual(try redis.command("EXISTS clipq:emb:v1:\(testKey(3).hex)"), ":0")  // the test's connection is on 0

        XCTAssertEqual(try redis.command("CONFIG SET requirepass s3cret"), "+OK")
        let withPassword = try RedisEmbeddingCache(url: "redis://:s3cret@127.0.0.1:\(redis.port)/3", timeout: .seconds(2))
        withPassword.waitForBackgroundWork()
        XCTAssertEqual(withPassword.embedding(for: testKey(3)), testVector(3))
        XCTAssertEqual(withPassword.statistics.errors, 0)

        let wrongPassword = try RedisEmbeddingCache(url: "redis://default:nope@127.0.0.1:\(redis.port)/3", timeout: .seconds(2))
        wrongPassword.waitForBackgroundWork()
        XCTAssertNil(wrongPassword.embedding(for: testKey(3)))
        XCTAssertGreaterThan(wrongPassword.statistics.errors, 0)
    }

    func testAValueInAnotherFormatIsAMissAndAnError() throws {
        let redis = try TestRedis()
        let cache = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(2))
        cache.waitForBackgroundWork()
        XCTAssertEqual(try redis.command("SET clipq:emb:v1:\(testKey(5).hex) garbage"), "+OK")
        XCTAssertNil(cache.embedding(for: testKey(5)))
        XCTAssertEqual(cache.statistics.errors, 1)
        XCTAssertNil(RedisEmbeddingCache.decode(RedisEmbeddingCache.encode(testVector(1)).dropLast()))
    }

    /// Redis killed mid-run: lookups miss within the timeout, stores are dropped, nothing throws,
    /// calls stop touching the network until the next reconnect attempt, and once Redis is
    /// back on the same port the cache works again.
    func testRedisKilledMidRunFailsOpenAndRecovers() throws {
        let redis = try TestRedis()
        let timeout: Duration = .milliseconds(200)
        let cache = try RedisEmbeddingCache(url: redis.url, timeout: timeout, reconnectInterval: .milliseconds(500))
        cache.waitForBackgroundWork()
        cache.store(testVector(1), for: testKey(1))
        cache.waitForBackgroundWork()
        XCTAssertEqual(cache.embedding(for: testKey(1)), testVector(1))

        redis.kill()
        for i in 0..<20 {
            let (found, took) = timed { cache.embedding(for: testKey(1)) }
            XCTAssertNil(found)
            XCTAssertLessThan(took, timeout + margin, "lookup \(i)")
            let (_, storeTook) = timed { cache.store(testVector(2), for: testKey(2)) }
            XCTAssertLessThan(storeTook, timeout + margin, "store \(i)")
        }
        cache.waitForBackgroundWork()
        let down = cache.statistics
        XCTAssertGreaterThan(down.errors, 0)
        XCTAssertEqual(down.stores, 1)
        XCTAssertEqual(down.droppedStores, 20)
        XCTAssertEqual(down.hits, 1)
        XCTAssertEqual(down.misses, 20)
        // Back off: far fewer failed attempts than calls.
        XCTAssertLessThan(down.errors, 10)

        try redis.start()
        let deadline = ContinuousClock.now + .seconds(10)
        var recovered = false
        while ContinuousClock.now < deadline, !recovered {
            cache.store(testVector(3), for: testKey(3))
            cache.waitForBackgroundWork()
            recovered = cache.embedding(for: testKey(3)) == testVector(3)
            if !recovered { Thread.sleep(forTimeInterval: 0.1) }
        }
        XCTAssertTrue(recovered, "the cache did not reconnect after Redis came back")
        XCTAssertNil(cache.embedding(for: testKey(1)))  // the restarted server kept nothing
    }

    /// A server that accepts connections but never answers: every call returns within the
    /// timeout (plus scheduling slack), as a miss or a dropped store.
    func testAServerThatNeverAnswersCostsAtMostTheTimeout() throws {
        let listener = try SilentListener()
        let timeout: Duration = .milliseconds(150)
        let cache = try RedisEmbeddingCache(url: "redis://127.0.0.1:\(listener.port)", timeout: timeout, reconnectInterval: .milliseconds(100))
        cache.waitForBackgroundWork()
        let start = ContinuousClock.now
        for i in 0..<10 {
            let (found, took) = timed { cache.embedding(for: testKey(i)) }
            XCTAssertNil(found)
            XCTAssertLessThan(took, timeout + margin, "lookup \(i)")
            let (_, storeTook) = timed { cache.store(testVector(i), for: testKey(i)) }
            XCTAssertLessThan(storeTook, .milliseconds(50), "a store only queues")
            Thread.sleep(forTimeInterval: 0.12)  // let the back-off pass, so calls reach the server again
        }
        cache.waitForBackgroundWork()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
        let statistics = cache.statistics
        XCTAssertEqual(statistics.hits, 0)
        XCTAssertEqual(statistics.misses, 10)
        XCTAssertEqual(statistics.stores, 0)
        XCTAssertEqual(statistics.droppedStores, 10)
        XCTAssertGreaterThanOrEqual(statistics.errors, 2, "timeouts are counted")
    }

    /// Threads queued behind a lookup that hangs wait for the connection only until their own
    /// deadline: contention does not stretch a call past the timeout.
    func testCallersWaitingForAHungConnectionStillReturnWithinTheTimeout() throws {
        let listener = try SilentListener()
        let timeout: Duration = .milliseconds(200)
        let cache = try RedisEmbeddingCache(url: "redis://127.0.0.1:\(listener.port)", timeout: timeout, reconnectInterval: .milliseconds(50))
        cache.waitForBackgroundWork()
        let slowest = Mutex(Duration.zero)
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            for round in 0..<3 {
                let (found, took) = timed { cache.embedding(for: testKey(i * 10 + round)) }
                XCTAssertNil(found)
                slowest.withLock { $0 = max($0, took) }
                Thread.sleep(forTimeInterval: 0.06)
            }
        }
        XCTAssertLessThan(slowest.withLock { $0 }, timeout + margin)
        XCTAssertEqual(cache.statistics.misses, 18)
        XCTAssertGreaterThan(cache.statistics.errors, 0)
    }

    func testNoServerAtAllIsAMissAtOnce() throws {
        let port = try TestBroker.freePort()
        let cache = try RedisEmbeddingCache(url: "redis://127.0.0.1:\(port)", timeout: .milliseconds(200), reconnectInterval: .seconds(60))
        cache.waitForBackgroundWork()
        let (found, took) = timed { cache.embedding(for: testKey(1)) }
        XCTAssertNil(found)
        XCTAssertLessThan(took, .milliseconds(50), "no connection: no network call")
        cache.store(testVector(1), for: testKey(1))
        cache.waitForBackgroundWork()
        XCTAssertEqual(cache.statistics.errors, 1, "one refused connection attempt in the back-off interval")
        XCTAssertEqual(cache.statistics.droppedStores, 1)
    }

    func testSeveralThreadsShareTheConnection() throws {
        let redis = try TestRedis()
        let cache = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(5))
        cache.waitForBackgroundWork()
        for i in 0..<20 { cache.store(testVector(i, count: 64), for: testKey(i)) }
        cache.waitForBackgroundWork()
        let wrong = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for i in 0..<40 {
                let found = cache.embedding(for: testKey(i % 20))
                if found != testVector(i % 20, count: 64) { wrong.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(wrong.withLock { $0 }, 0)
        XCTAssertEqual(cache.statistics.hits, 160)
        XCTAssertEqual(cache.statistics.errors, 0)
    }

    func testURLs() throws {
        let full = try RedisEndpoint(url: "redis://me:p%40ss@cache.internal:6380/2")
        XCTAssertEqual([full.host, full.user, full.password], ["cache.internal", "me", "p@ss"])
        XCTAssertEqual([full.port, full.database], [6380, 2])
        XCTAssertFalse(full.description.contains("p@ss"))
        let plain = try RedisEndpoint(url: "redis://localhost")
        XCTAssertEqual([plain.port, plain.database], [6379, 0])
        XCTAssertNil(plain.password)
        XCTAssertEqual(try RedisEndpoint(url: "redis://:secret@[::1]:7000").host, "::1")
        XCTAssertEqual(try RedisEndpoint(url: "redis://:secret@[::1]:7000").password, "secret")
        for bad in ["http://localhost", "redis://", "redis://host:port", "redis://host:70000", "redis://host/x", "redis://[::1"] {
            XCTAssertThrowsError(try RedisEmbeddingCache(url: bad), bad) { error in
                XCTAssertEqual((error as? RedisCacheError)?.code, .invalidURL, bad)
            }
        }
    }

    func testTieredLooksInMemoryThenRedisAndFillsMemory() throws {
        let redis = try TestRedis()
        let shared = try RedisEmbeddingCache(url: redis.url, timeout: .seconds(2))
        shared.waitForBackgroundWork()
        let writer = TieredEmbeddingCache(first: MemoryEmbeddingCache(capacityBytes: 1 << 20), second: shared)
        writer.store(testVector(1), for: testKey(1))
        shared.waitForBackgroundWork()
        XCTAssertEqual(writer.first.statistics.entries, 1)
        XCTAssertEqual(shared.statistics.stores, 1)

        // Another worker: an empty memory tier in front of the same Redis.
        let memory = MemoryEmbeddingCache(capacityBytes: 1 << 20)
        let reader = TieredEmbeddingCache(first: memory, second: shared)
        XCTAssertEqual(reader.embedding(for: testKey(1)), testVector(1))
        XCTAssertEqual(shared.statistics.hits, 1)
        XCTAssertEqual(memory.statistics.entries, 1)
        XCTAssertEqual(reader.embedding(for: testKey(1)), testVector(1))
        XCTAssertEqual(shared.statistics.hits, 1, "the second lookup is served from memory")
        XCTAssertNil(reader.embedding(for: testKey(2)))
        let statistics = reader.statistics
        XCTAssertEqual([statistics.hits, statistics.misses, statistics.entries], [2, 1, 1])
        XCTAssertEqual(statistics.bytes, memory.statistics.bytes)

        // With Redis gone the memory tier still answers.
        redis.kill()
        XCTAssertEqual(reader.embedding(for: testKey(1)), testVector(1))
        XCTAssertNil(reader.embedding(for: testKey(3)))
    }
}

/// How long `body` took, with its result.
private func timed<T>(_ body: () -> T) -> (T, Duration) {
    let start = ContinuousClock.now
    let result = body()
    return (result, ContinuousClock.now - start)
}

/// A TCP listener on loopback that never accepts or answers: the kernel completes the handshake,
/// then nothing.
private final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw TestBrokerError(message: "cannot listen on loopback")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
