import Foundation

/// y[rows, width] = (x - mean) / sqrt(var + eps) * weight + bias, per row, with the biased
/// variance as torch.nn.LayerNorm computes it. y may be x.
public func layerNorm(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float,
    rows: Int, width n: Int
) {
    let full = n - n % 16
    for r in 0..<rows {
        let xr = x + r * n, yr = y + r * n
        var s = SIMD16<Float>()
        var i = 0
        while i < full { s += load16(xr + i); i += 16 }
        var sum = s.sum()
        while i < n { sum += xr[i]; i += 1 }
        let mean = sum / Float(n)

        // Two passes: the variance of values around a large mean loses everything in one pass.
        var v = SIMD16<Float>()
        i = 0
        while i < full { let d = load16(xr + i) - mean; v += d * d; i += 16 }
        var variance = v.sum()
        while i < n { let d = xr[i] - mean; variance += d * d; i += 1 }
        let rstd = 1 / (variance / Float(n) + eps).squareRoot()

        i = 0
        while i < full {
            let t = (load16(xr + i) - mean) * rstd
            store16(t * load16(weight + i) + load16(bias + i), yr + i)
            i += 16
        }
        while i < n { yr[i] = (xr[i] - mean) * rstd * weight[i] + bias[i]; i += 1 }
    }
}

public func layerNormReference(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float,
    rows: Int, width n: Int
) {
    for r in 0..<rows {
        var mean = 0.0
        for i in 0..<n { mean += Double(x[r * n + i]) }
        mean /= Double(n)
        var variance = 0.0
        for i in 0..<n { let d = Double(x[r * n + i]) - mean; variance += d * d }
        variance /= Double(n)
        let rstd = 1 / (variance + Double(eps)).squareRoot()
        for i in 0..<n {
            y[r * n + i] = Float((Double(x[r * n + i]) - mean) * rstd * Double(weight[i]) + Double(bias[i]))
        }
    }
}
