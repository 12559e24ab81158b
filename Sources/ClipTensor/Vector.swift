// Small helpers for the element-wise kernels: 16-lane loads and stores from unaligned pointers,
// and the scalar loops that every kernel shares.

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func load16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { load16(UnsafePointer(p)) }

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// x[count] *= s
public func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count n: Int) {
    var i = 0
    while i + 16 <= n { store16(load16(x + i) * s, x + i); i += 16 }
    while i < n { x[i] *= s; i += 1 }
}

/// y[count] += x[count] (the residual connections)
public func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
    var i = 0
    while i + 16 <= n { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
    while i < n { y[i] += x[i]; i += 1 }
}

/// `add` split over `workers` threads (in runs of 16 values).
public func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, workers: Int) {
    inChunks(count / 16, workers: workers, minimum: 4096) { r in
        add(y + 16 * r.lowerBound, x + 16 * r.lowerBound, count: 16 * r.count)
    }
    let done = count / 16 * 16
    add(y + done, x + done, count: count - done)
}
