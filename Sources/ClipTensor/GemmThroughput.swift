import Foundation

/// GFLOP/s of `linear` (one sgemm with the weight as the transposed operand) at [m, k] x [n, k]ᵀ:
/// the ceiling the encoders' fp32 linear layers can reach on this machine. Runs for about
/// `seconds` after one warm-up call and returns the best and the mean rate.
public func sgemmThroughput(m: Int, n: Int, k: Int, seconds: Double = 1) -> (best: Double, mean: Double) {
    linearThroughput(m: m, n: n, k: k, seconds: seconds) { w in
        SgemmLinear(weight: w, bias: nil, inFeatures: k, outFeatures: n)
    }
}

/// The same for the kernel `make` builds from an [n, k] weight (e.g. a `BFloat16Linear`).
public func linearThroughput(m: Int, n: Int, k: Int, seconds: Double = 1,
                             make: (UnsafePointer<Float>) throws -> any LinearKernel) rethrows -> (best: Double, mean: Double) {
    let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
    let w = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer { a.deallocate(); w.deallocate(); c.deallocate() }
    for i in 0..<(m * k) { a[i] = Float(i % 17) * 0.01 - 0.08 }
    for i in 0..<(n * k) { w[i] = Float(i % 13) * 0.01 - 0.06 }
    let flop = 2.0 * Double(m) * Double(n) * Double(k)
    let kernel = try make(w)
    kernel.apply(c, a, rows: m)
    var best = 0.0, total = 0.0, runs = 0
    let start = Date()
    repeat {
        let t = Date()
        kernel.apply(c, a, rows: m)
        let dt = Date().timeIntervalSince(t)
        best = max(best, flop / dt / 1e9)
        total += dt
        runs += 1
    } while Date().timeIntervalSince(start) < seconds
    return (best, flop * Double(runs) / total / 1e9)
}

/// GFLOP/s of `attention` over one sequence of `length` tokens (Q·Kᵀ and P·V, 4·L²·D FLOP), with
/// Q, K and V side by side in one matrix as the encoders keep them, heads spread over `workers`.
public func attentionThroughput(length: Int, heads: Int, headDim: Int, workers: Int, seconds: Double = 1) -> Double {
    let width = heads * headDim
    let qkv = UnsafeMutablePointer<Float>.allocate(capacity: length * 3 * width)
    let out = UnsafeMutablePointer<Float>.allocate(capacity: length * 3 * width)  // row stride as qkv
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: workers * length * length)
    defer { qkv.deallocate(); out.deallocate(); scores.deallocate() }
    for i in 0..<(length * 3 * width) { qkv[i] = Float(i % 23) * 0.02 - 0.2 }
    let flop = 4.0 * Double(length) * Double(length) * Double(width)
    var runs = 0
    let start = Date()
    repeat {
        inParallel(workers: workers) { w in
            for h in stride(from: w, to: heads, by: workers) {
                let col = h * headDim
                attentionHead(out + col, q: qkv + col, k: qkv + width + col, v: qkv + 2 * width + col,
                              scores: scores + w * length * length, causal: false, length: length,
                              queries: length, headDim: headDim, ld: 3 * width)
            }
        }
        runs += 1
    } while Date().timeIntervalSince(start) < seconds
    return flop * Double(runs) / Date().timeIntervalSince(start) / 1e9
}
