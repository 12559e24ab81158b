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
