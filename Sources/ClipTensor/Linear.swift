import Foundation

/// A linear layer y = x · wᵀ + b. This is the seam where another backend (oneDNN bf16, int8) can
/// slot in: the encoders only ever see `LinearKernel`, built once per weight at load time.
public protocol LinearKernel: Sendable {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Whether the kernel reads the fp32 weight it was built from on every call; false for those
    /// that keep a converted copy (bf16, int8) and touch the original only in a rare fallback, so
    /// that the model can let its pages go.
    var readsWeightInPlace: Bool { get }
    /// y[rows, outFeatures] = x[rows, inFeatures] · wᵀ + b
    func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int)
    /// y[rows, outFeatures] = act(x · wᵀ + b) (the MLP's first layer), the activation split over
    /// `threads`. A kernel that makes a pass over y anyway folds the activation into it.
    func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, activation: Activation, threads: Int)
    /// residual[rows, outFeatures] += x · wᵀ + b (the residual connections), through
    /// scratch[rows, outFeatures] where the kernel needs it, the sum split over `threads`.
    func applyAdding(to residual: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int,
                     scratch: UnsafeMutablePointer<Float>, threads: Int)
}

/// A linear kernel that keeps a converted copy of its weights (bf16, int8), which a cache file
/// can store and give back to a later load (`convertedParts`, and the kernels' `cached:`
/// initializers), so that processes on one host map one copy instead of converting their own.
public protocol ConvertingLinearKernel: LinearKernel {
    /// The converted weights as a cache stores them: the oneDNN layout's descriptor, the weights
    /// in that layout, then any scales. Valid as long as the kernel lives.
    var convertedParts: [UnsafeRawBufferPointer] { get }
    /// Whether the kernel runs on parts it was given (a mapped cache) rather than its own copy.
    var runsOnGivenParts: Bool { get }
}

extension LinearKernel {
    public var readsWeightInPlace: Bool { true }

    public func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, activation: Activation, threads: Int) {
        apply(y, x, rows: rows)
        inChunks(rows, workers: threads, minimum: 16) { r in
            activate(y + r.lowerBound * outFeatures, activation, count: r.count * outFeatures)
        }
    }

    public func applyAdding(to residual: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int,
                            scratch: UnsafeMutablePointer<Float>, threads: Int) {
        apply(scratch, x, rows: rows)
        add(residual, scratch, count: rows * outFeatures, workers: threads)
    }
}

/// fp32 through `cblas_sgemm`, reading the checkpoint's [out, in] weight in place (no copy, no
/// transpose: BLAS takes it as the transposed operand).
public struct SgemmLinear: LinearKernel, @unchecked Sendable {
    // Read-only memory that outlives the kernel (the model's mapping keeps it alive).
    public let weight: UnsafePointer<Float>  // [out, in]
    public let bias: UnsafePointer<Float>?  // [out]
    public let inFeatures: Int
    public let outFeatures: Int
    /// Cores one product is spread over (`linear`).
    public let threads: Int

    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int, outFeatures: Int,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.threads = max(1, threads)
    }

    public func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int) {
        linear(y, x, weight, bias, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, threads: threads)
    }
}

/// y[rows, out] = x[rows, in] · w[out, in]ᵀ + b[out], spread over `threads` cores: tall products
/// (image tokens) split by rows, short ones (a batch of captions: tens of rows) by output columns,
/// each part one single-threaded sgemm (the parts write disjoint memory).
public func linear(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
    rows: Int, inFeatures K: Int, outFeatures N: Int, threads: Int = 1
) {
    guard rows > 0 else { return }
    let byRows = rows >= 64 * threads
    let parts = max(1, min(threads, byRows ? rows / 32 : N / 64))
    inParallel(workers: parts) { p in
        if byRows {
            let r = (rows * p / parts)..<(rows * (p + 1) / parts)
            linearPart(y + r.lowerBound * N, x + r.lowerBound * K, w, b, rows: r.count, columns: 0..<N, K: K, N: N)
        } else {
            // Column blocks of 16, so that each part's stores stay whole vectors.
            let c = (N / 16 * p / parts * 16)..<(p == parts - 1 ? N : N / 16 * (p + 1) / parts * 16)
            linearPart(y, x, w, b, rows: rows, columns: c, K: K, N: N)
        }
    }
}

/// y[rows, columns] of `linear` (y and x at their first row, row strides N and K).
private func linearPart(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
    rows: Int, columns: Range<Int>, K: Int, N: Int
) {
    guard rows > 0, !columns.isEmpty else { return }
    let c0 = columns.lowerBound
    if let b {
        // Seed y with the bias so BLAS adds the product to it in the same pass (beta = 1).
        for r in 0..<rows { (y + r * N + c0).update(from: b + c0, count: columns.count) }
    }
    gemm(y + c0, x, w + c0 * K, transposeB: true, beta: b == nil ? 0 : 1,
         m: rows, n: columns.count, k: K, lda: K, ldb: K, ldc: N)
}

public func linearReference(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
    rows: Int, inFeatures: Int, outFeatures: Int
) {
    for r in 0..<rows {
        for o in 0..<outFeatures {
            var sum = b.map { Double($0[o]) } ?? 0
            for i in 0..<inFeatures { sum += Double(x[r * inFeatures + i]) * Double(w[o * inFeatures + i]) }
            y[r * outFeatures + o] = Float(sum)
        }
    }
}
