import CBLAS
import Dispatch

/// c[m, n] = alpha * a[m, k] · op(b) + beta * c, row-major with explicit leading dimensions so that
/// one head's columns of a wider matrix can be used in place. `op(b)` is bᵀ when `transposeB` (b
/// stored [n, k], as PyTorch stores linear weights), else b stored [k, n].
@inline(__always)
public func gemm(
    _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    transposeB: Bool, alpha: Float = 1, beta: Float = 0,
    m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
) {
    _ = blasSingleThreaded
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// The triple loop `gemm` must agree with; accumulates in Double so it is the more exact of the two.
public func gemmReference(
    _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    transposeB: Bool, alpha: Float = 1, beta: Float = 0,
    m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(a[i * lda + p]) * Double(bv)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * sum + old)
        }
    }
}

/// OpenBLAS runs single-threaded in this process, set once before its first product and never
/// changed: the callers spread products over their own threads (`linear`'s parts, attention heads
/// side by side in `inParallel`), so that no encode changes a process-wide thread count while
/// another runs, and each model uses the cores it was given.
private let blasSingleThreaded: Void = openblas_set_num_threads(1)

/// OpenBLAS's thread count (1 once any product ran: see `gemm`).
public var blasThreads: Int { Int(openblas_get_num_threads()) }

/// Runs `body(worker)` for worker in 0..<workers on as many threads, each worker's BLAS calls on
/// its own core (OpenBLAS is single-threaded). Small products (one attention head: K or N = 64)
/// reach about the same rate on one core as on two, so running heads side by side nearly doubles
/// their speed.
public func inParallel(workers: Int, _ body: (Int) -> Void) {
    guard workers > 1 else { return body(0) }
    // The workers write disjoint memory (the callers' contract), which the compiler cannot see.
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { shared.value($0) }
    }
}

/// Splits 0..<count into one contiguous chunk per worker and runs the chunks side by side: the
/// element-wise kernels (layer norm, GELU, residual adds) over all rows of a batch. Below
/// `minimum` items per worker it runs on the calling thread, where the hand-off would cost more.
public func inChunks(_ count: Int, workers: Int, minimum: Int, _ body: (Range<Int>) -> Void) {
    let workers = max(1, min(workers, count / max(1, minimum)))
    guard workers > 1 else { return body(0..<count) }
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            shared.value((count * w / workers)..<(count * (w + 1) / workers))
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
