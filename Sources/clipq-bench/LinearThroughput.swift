import ClipTensor
import Foundation

/// GFLOP/s of the linear kernel `make` builds from an [n, k] weight, at [m, k] x [n, k]ᵀ: the
/// ceiling the encoders' linear layers can reach on this machine. Runs for about `seconds` after
/// one warm-up call and returns the best and the mean rate.
func linearThroughput(m: Int, n: Int, k: Int, seconds: Double = 1,
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
