import Synchronization

/// Two caches as one: lookups try `first` (in process, fast), then `second` (shared, e.g. Redis),
/// copying what `second` had into `first`; stores go to both. Its statistics count hits and
/// misses of the pair, stores into `first`, and take evictions, bytes and entries from `first`
/// and errors and dropped stores from both; each tier's own counters stay readable.
public final class TieredEmbeddingCache: EmbeddingCache {
    public let first: any EmbeddingCache
    public let second: any EmbeddingCache
    private let counters = Mutex((hits: 0, misses: 0, stores: 0))

    public init(first: any EmbeddingCache, second: any EmbeddingCache) {
        self.first = first
        self.second = second
    }

    public func embedding(for key: EmbeddingCacheKey) -> [Float]? {
        if let embedding = first.embedding(for: key) {
            counters.withLock { $0.hits += 1 }
            return embedding
        }
        if let embedding = second.embedding(for: key) {
            first.store(embedding, for: key)
            counters.withLock { $0.hits += 1 }
            return embedding
        }
        counters.withLock { $0.misses += 1 }
        return nil
    }

    public func store(_ embedding: [Float], for key: EmbeddingCacheKey) {
        first.store(embedding, for: key)
        second.store(embedding, for: key)
        counters.withLock { $0.stores += 1 }
    }

    public var statistics: EmbeddingCacheStatistics {
        let (a, b) = (first.statistics, second.statistics)
        var total = EmbeddingCacheStatistics()
        (total.hits, total.misses, total.stores) = counters.withLock { ($0.hits, $0.misses, $0.stores) }
        total.evictions = a.evictions
        total.bytes = a.bytes
        total.entries = a.entries
        total.errors = a.errors + b.errors
        total.droppedStores = a.droppedStores + b.droppedStores
        return total
    }
}
