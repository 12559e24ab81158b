import Synchronization

/// A growable scratch array. Encoders keep one per intermediate and reuse it between batches,
/// so steady-state encoding allocates nothing.
public final class ScratchBuffer<Element> {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Room for at least `count` values; the old contents are not kept when it grows.
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }
}

/// Scratch floats.
public typealias FloatBuffer = ScratchBuffer<Float>
/// Scratch bf16 values (their bit patterns).
public typealias BFloat16Buffer = ScratchBuffer<UInt16>

/// Scratch arrays shared by every layer of a kind and reused across calls, for kernels that may
/// run on several threads at once (each call borrows its own): a ViT-L pass converts up to
/// 4616 x 4096 values per layer, and allocating that each time costs page faults.
public final class ScratchPool<Element>: Sendable {
    private let free = Mutex<[Buffer]>([])

    public init() {}

    public final class Buffer: @unchecked Sendable {  // used by one borrower at a time
        public let pointer: UnsafeMutablePointer<Element>
        public let capacity: Int
        init(_ capacity: Int) {
            self.capacity = capacity
            pointer = .allocate(capacity: capacity)
        }
        deinit { pointer.deallocate() }
    }

    /// A buffer of at least `count` values, until `giveBack`.
    public func borrow(_ count: Int) -> Buffer {
        let reused = free.withLock { $0.popLast() }
        if let reused, reused.capacity >= count { return reused }
        return Buffer(max(count, reused?.capacity ?? 0, 1))
    }

    public func giveBack(_ buffer: Buffer) {
        free.withLock { $0.append(buffer) }
    }

    /// body(buffer of `count` values), borrowed and given back around it.
    public func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Element>) throws -> R) rethrows -> R {
        let buffer = borrow(count)
        defer { giveBack(buffer) }
        return try body(buffer.pointer)
    }
}
