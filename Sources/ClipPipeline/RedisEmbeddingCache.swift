import Dispatch
import Foundation
import Synchronization

/// An embedding cache shared by every worker through a Redis server (RESP2 over one TCP
/// connection of its own; no client library).
///
/// It fails open: a lookup that cannot be answered within `timeout` (no server, a server that
/// does not reply, a lost connection, a reply that makes no sense) is a miss, and a store that
/// cannot be done is dropped; nothing is thrown and no call waits longer than `timeout`. After a
/// failure the connection is dropped and remade in the background at most once per
/// `reconnectInterval`; until then calls return at once, so a dead Redis costs nothing.
/// `statistics.errors` counts the failures.
///
/// Threads: lookups share the one connection behind a lock, each holding it for one GET
/// (about 30 µs on loopback, one network round trip elsewhere); a caller that cannot get the
/// lock before its deadline misses. Stores and connecting run on a serial background queue, so they never slow the
/// caller; at most `maxPendingStores` wait there, and further stores are dropped
/// (`droppedStores`). Connecting (name resolution included, which has no timeout of its own)
/// never happens on a caller's thread.
///
/// A value is `"CQE" 0x01`, the float count as a little-endian UInt32, then the floats as
/// little-endian float32, under the key `keyPrefix + key.hex`; SET with PX when `ttl` is given.
public final class RedisEmbeddingCache: EmbeddingCache, @unchecked Sendable {  // mutable state behind `lock`, counters in Mutexes
    public let endpoint: RedisEndpoint
    public let timeout: Duration
    public let ttl: Duration?
    public let keyPrefix: String
    public let reconnectInterval: Duration
    public let maxPendingStores: Int

    static let valueMagic: [UInt8] = [0x43, 0x51, 0x45, 0x01]  // "CQE", format 1

    private let lock = NSLock()
    private var connection: RESPConnection?
    private var connecting = false
    private var nextConnectAttempt = ContinuousClock.now

    private let counters = Mutex(EmbeddingCacheStatistics())
    private let pendingStores = Mutex(0)
    private let background = DispatchQueue(label: "clipq.redis-embedding-cache")

    /// `url`: `redis://[[user]:password@]host[:port][/db]` (AUTH and SELECT are sent when given).
    /// Throws only for a URL that cannot be parsed; an unreachable server is not an error here.
    public init(
        url: String, timeout: Duration = .milliseconds(50), ttl: Duration? = nil, keyPrefix: String = "clipq:emb:v1:",
        reconnectInterval: Duration = .seconds(1), maxPendingStores: Int = 1024
    ) throws(RedisCacheError) {
        endpoint = try RedisEndpoint(url: url)
        self.timeout = timeout
        self.ttl = ttl
        self.keyPrefix = keyPrefix
        self.reconnectInterval = reconnectInterval
        self.maxPendingStores = maxPendingStores
        lock.lock()
        scheduleConnect()
        lock.unlock()
    }

    public func embedding(for key: EmbeddingCacheKey) -> [Float]? {
        let found = withConnection { connection, deadline throws(RedisCacheError) -> [Float]? in
            let reply = try connection.command([Array("GET".utf8), redisKey(key)], deadline: deadline)
            switch reply {
            case .bulkString(nil): return nil
            case .bulkString(let bytes?):
                guard let embedding = Self.decode(bytes) else { throw RedisCacheError(.protocolError, "a cached value in an unknown format") }
                return embedding
            case .error(let message): throw RedisCacheError(.protocolError, "GET: \(message)")
            default: throw RedisCacheError(.protocolError, "GET: unexpected reply")
            }
        }
        counters.withLock {
            if case .some(.some) = found { $0.hits += 1 } else { $0.misses += 1 }
        }
        return found ?? nil
    }

    public func store(_ embedding: [Float], for key: EmbeddingCacheKey) {
        let accepted = pendingStores.withLock { pending in
            guard pending < maxPendingStores else { return false }
            pending += 1
            return true
        }
        guard accepted else {
            counters.withLock { $0.droppedStores += 1 }
            return
        }
        background.async { [self] in
            defer { pendingStores.withLock { $0 -= 1 } }
            let done = withConnection { connection, deadline throws(RedisCacheError) -> Bool in
                var arguments = [Array("SET".utf8), redisKey(key), Self.encode(embedding)]
                if let ttl {
                    let (seconds, attoseconds) = ttl.components
                    let milliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
                    arguments += [Array("PX".utf8), Array(String(milliseconds).utf8)]
                }
                let reply = try connection.command(arguments, deadline: deadline)
                guard reply == .simpleString("OK") else { throw RedisCacheError(.protocolError, "SET: unexpected reply") }
                return true
            }
            counters.withLock { if done == true { $0.stores += 1 } else { $0.droppedStores += 1 } }
        }
    }

    /// Counters since creation. `bytes` and `entries` are 0: the entries live in Redis.
    public var statistics: EmbeddingCacheStatistics {
        counters.withLock { $0 }
    }

    /// Returns once every store and connection attempt queued so far has finished (tests, shutdown).
    public func waitForBackgroundWork() {
        background.sync {}
    }

    /// Runs `operation` on the connection, within `timeout` of now including the wait for the
    /// lock. nil when there is no connection (one is then made in the background), the lock was
    /// busy, or the operation failed (the connection is then dropped and the failure counted).
    private func withConnection<T>(
        _ operation: (RESPConnection, ContinuousClock.Instant) throws(RedisCacheError) -> T
    ) -> T? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let (seconds, attoseconds) = timeout.components
        guard lock.lock(before: Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) * 1e-18)) else { return nil }
        defer { lock.unlock() }
        guard let connection else {
            scheduleConnect()
            return nil
        }
        do {
            return try operation(connection, deadline)
        } catch {
            self.connection = nil
            nextConnectAttempt = ContinuousClock.now.advanced(by: reconnectInterval)
            counters.withLock { $0.errors += 1 }
            return nil
        }
    }

    /// Queues one connection attempt unless one is queued or the last failed too recently. Call
    /// with `lock` held.
    private func scheduleConnect() {
        let now = ContinuousClock.now
        guard !connecting, now >= nextConnectAttempt else { return }
        connecting = true
        nextConnectAttempt = now.advanced(by: reconnectInterval)
        background.async { [self] in
            let result = Result { () throws(RedisCacheError) in
                try RESPConnection.open(endpoint, deadline: ContinuousClock.now.advanced(by: timeout))
            }
            lock.lock()
            defer { lock.unlock() }
            connecting = false
            switch result {
            case .success(let opened): connection = opened
            case .failure: counters.withLock { $0.errors += 1 }
            }
        }
    }

    private func redisKey(_ key: EmbeddingCacheKey) -> [UInt8] {
        Array((keyPrefix + key.hex).utf8)
    }

    static func encode(_ embedding: [Float]) -> [UInt8] {
        var bytes = valueMagic
        bytes.reserveCapacity(8 + embedding.count * 4)
        let count = UInt32(truncatingIfNeeded: embedding.count)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: count >> (8 * UInt32($0))) }
        for value in embedding {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        }
        return bytes
    }

    /// The floats of a value `encode` made, or nil for anything else.
    static func decode(_ bytes: [UInt8]) -> [Float]? {
        guard bytes.count >= 8, Array(bytes[0..<4]) == valueMagic else { return nil }
        let count = bytes[4..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard bytes.count == 8 + count * 4 else { return nil }
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8 + 4 * $0, as: UInt32.self))) }
        }
    }
}
