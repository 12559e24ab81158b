import Foundation

/// The ids of pre-tokens already merged, shared by every thread that tokenizes.
///
/// Captions repeat words, so most pre-tokens are found here. The lock guards only the lookup
/// and the insert, never the merging. On arbitrary user text an unbounded cache would grow
/// without end, so this one holds at most `capacity` entries, starts over when full, and leaves
/// long pre-tokens (rare, and cheap to miss) out.
final class BPECache: @unchecked Sendable {  // every access to `entries` holds `lock`
    static let longestKey = 64

    private let lock = NSLock()
    private var entries: [[UInt8]: [Int32]] = [:]
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func ids(for bytes: [UInt8]) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[bytes]
    }

    func insert(_ ids: [Int32], for bytes: [UInt8]) {
        guard bytes.count <= Self.longestKey, capacity > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[bytes] = ids
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
