/// Embeddings already computed, looked up by content before the encoder runs. Implementations are
/// safe to call from several threads at once (the ingest pool and the encoder thread), never
/// throw, and never block a caller for long: a cache that cannot answer answers "miss".
public protocol EmbeddingCache: AnyObject, Sendable {
    /// The embedding filed under `key`, or nil (a miss).
    func embedding(for key: EmbeddingCacheKey) -> [Float]?
    /// Files `embedding` under `key`, replacing what was there. Best effort: a cache may drop it.
    func store(_ embedding: [Float], for key: EmbeddingCacheKey)
    /// Counters since creation, for metrics.
    var statistics: EmbeddingCacheStatistics { get }
}

/// What a cache has done since it was created. Counters only grow, except `bytes` and `entries`.
public struct EmbeddingCacheStatistics: Sendable, Equatable {
    public var hits = 0
    public var misses = 0
    /// Embeddings accepted by `store` (a cache with no room, or a store it dropped, counts none).
    public var stores = 0
    /// Entries removed to make room for newer ones.
    public var evictions = 0
    /// Failed operations against a remote cache (connection refused or lost, timeouts, replies
    /// that make no sense); each one was answered as a miss or a dropped store.
    public var errors = 0
    /// Stores not done: the cache was unreachable or too far behind.
    public var droppedStores = 0
    /// Bytes the cache holds in this process, by the accounting its type documents.
    public var bytes = 0
    /// Entries the cache holds in this process.
    public var entries = 0

    public init() {}
}
