import Synchronization

/// An in-process least-recently-used cache bounded in bytes. Lookups and stores are O(1): a
/// dictionary from key to slot, and a doubly linked list threaded through the slots by index
/// (no node objects, no reference counting on the hot path). One lock guards it all; the
/// critical sections are a few dictionary and array operations.
///
/// Each entry is charged `embedding.count * 4` bytes for its floats plus
/// `overheadBytesPerEntry` for everything else it makes the process hold (see there), so
/// `capacityBytes` bounds the cache's real memory, not just its payload. A capacity of 0
/// disables the cache (it stores nothing); an entry costing more than the capacity is not stored.
public final class MemoryEmbeddingCache: EmbeddingCache {
    /// What an entry costs besides its floats: its slot (key, links, cost, the array reference),
    /// a dictionary entry (key and slot index) at the dictionary's worst load factor of 3/4, the
    /// float array's heap header, and malloc's bookkeeping and rounding for that allocation.
    public static let overheadBytesPerEntry: Int = {
        let slot = MemoryLayout<Slot>.stride
        let dictionaryEntry = (MemoryLayout<EmbeddingCacheKey>.stride + MemoryLayout<Int>.stride) * 4 / 3
        let arrayHeader = 32
        let mallocBookkeeping = 16
        return slot + dictionaryEntry + arrayHeader + mallocBookkeeping
    }()

    public let capacityBytes: Int
    private let state: Mutex<LRUState>

    public init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
        state = Mutex(LRUState())
    }

    /// What storing `embedding` would charge against the capacity.
    /// By the count, not the capacity: an array's capacity follows the allocator's rounding, which
    /// varies from one allocation to the next, and the same embedding must always cost the same.
    public static func cost(of embedding: [Float]) -> Int {
        embedding.count * MemoryLayout<Float>.stride + overheadBytesPerEntry
    }

    public func embedding(for key: EmbeddingCacheKey) -> [Float]? {
        state.withLock { $0.lookup(key) }
    }

    public func store(_ embedding: [Float], for key: EmbeddingCacheKey) {
        let cost = Self.cost(of: embedding)
        guard cost <= capacityBytes else { return }
        let capacity = capacityBytes
        state.withLock { $0.insert(embedding, cost: cost, for: key, capacity: capacity) }
    }

    public var statistics: EmbeddingCacheStatistics {
        state.withLock { $0.statistics }
    }

    /// The keys from most to least recently used (for tests and debugging; O(n)).
    public var keysByRecency: [EmbeddingCacheKey] {
        state.withLock { $0.keysByRecency() }
    }
}

private let none = -1

/// One entry, or a free slot (empty vector, no links) waiting for reuse.
private struct Slot {
    var key: EmbeddingCacheKey
    var embedding: [Float]
    var cost: Int
    var newer: Int
    var older: Int
}

private struct LRUState {
    var slots: [Slot] = []
    var slotOfKey: [EmbeddingCacheKey: Int] = [:]
    var freeSlots: [Int] = []
    var newest = none
    var oldest = none
    var statistics = EmbeddingCacheStatistics()

    mutating func lookup(_ key: EmbeddingCacheKey) -> [Float]? {
        guard let i = slotOfKey[key] else {
            statistics.misses += 1
            return nil
        }
        statistics.hits += 1
        moveToNewest(i)
        return slots[i].embedding
    }

    mutating func insert(_ embedding: [Float], cost: Int, for key: EmbeddingCacheKey, capacity: Int) {
        statistics.stores += 1
        if let i = slotOfKey[key] {
            statistics.bytes += cost - slots[i].cost
            slots[i].embedding = embedding
            slots[i].cost = cost
            moveToNewest(i)
        } else {
            let slot = Slot(key: key, embedding: embedding, cost: cost, newer: none, older: none)
            let i: Int
            if let free = freeSlots.popLast() {
                slots[free] = slot
                i = free
            } else {
                slots.append(slot)
                i = slots.count - 1
            }
            slotOfKey[key] = i
            linkAsNewest(i)
            statistics.bytes += cost
            statistics.entries += 1
        }
        while statistics.bytes > capacity, oldest != none, oldest != newest {
            evict(oldest)
        }
    }

    private mutating func evict(_ i: Int) {
        unlink(i)
        slotOfKey[slots[i].key] = nil
        statistics.bytes -= slots[i].cost
        statistics.entries -= 1
        statistics.evictions += 1
        slots[i].embedding = []
        slots[i].cost = 0
        freeSlots.append(i)
    }

    private mutating func moveToNewest(_ i: Int) {
        guard newest != i else { return }
        unlink(i)
        linkAsNewest(i)
    }

    private mutating func unlink(_ i: Int) {
        let newer = slots[i].newer, older = slots[i].older
        if newer != none { slots[newer].older = older } else { newest = older }
        if older != none { slots[older].newer = newer } else { oldest = newer }
        slots[i].newer = none
        slots[i].older = none
    }

    private mutating func linkAsNewest(_ i: Int) {
        slots[i].older = newest
        slots[i].newer = none
        if newest != none { slots[newest].newer = i }
        newest = i
        if oldest == none { oldest = i }
    }

    func keysByRecency() -> [EmbeddingCacheKey] {
        var keys: [EmbeddingCacheKey] = []
        var i = newest
        while i != none {
            keys.append(slots[i].key)
            i = slots[i].older
        }
        return keys
    }
}
