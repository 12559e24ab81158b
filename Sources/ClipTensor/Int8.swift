/// Symmetric int8 quantization, one scale per row: the weights per output channel (a row of the
/// [out, in] matrix) once at load, the activations per token (a row of a linear layer's input) at
/// run time. q = round(x * limit / max|row|) to nearest even, so x ≈ q * scale with
/// scale = max|row| / limit; an all-zero row has scale 0 and q = 0. `limit` is 127 but for
/// weights where oneDNN's kernels need 7 bits (`int8WeightLimit`).
///
/// q[rows, columns] and scales[rows] from x[rows, columns].
public func quantizeRows(_ q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                         rows: Int, columns n: Int, limit: Int8 = 127) {
    let full = n - n % 16
    for r in 0..<rows {
        let xr = x + r * n, qr = q + r * n
        var m = SIMD16<Float>()
        var i = 0
        // (replace(where:) compiles to vector compares and blends; pointwiseMax goes lane by lane.)
        while i < full { let a = magnitude(load16(xr + i)); m.replace(with: a, where: a .> m); i += 16 }
        var absMax = m.max()
        while i < n { absMax = max(absMax, abs(xr[i])); i += 1 }
        let (scale, inverse) = quantizationScale(absMax, limit: limit)
        scales[r] = scale
        i = 0
        while i < full {
            let v = roundToInt32(load16(xr + i) * inverse)
            UnsafeMutableRawPointer(qr + i).storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: v), as: SIMD16<Int8>.self)
            i += 16
        }
        while i < n { qr[i] = Int8((xr[i] * inverse).rounded(.toNearestOrEven)); i += 1 }
    }
}

/// `quantizeRows` split over `workers` threads by rows.
public func quantizeRows(_ q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                         rows: Int, columns: Int, limit: Int8 = 127, workers: Int) {
    inChunks(rows, workers: workers, minimum: max(1, 16384 / max(1, columns))) { r in
        let o = r.lowerBound
        quantizeRows(q + o * columns, scales: scales + o, x + o * columns, rows: r.count, columns: columns, limit: limit)
    }
}

/// The scalar loop `quantizeRows` must agree with, bit for bit.
public func quantizeRowsReference(_ q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                  _ x: UnsafePointer<Float>, rows: Int, columns n: Int, limit: Int8 = 127) {
    for r in 0..<rows {
        var absMax: Float = 0
        for i in 0..<n { absMax = max(absMax, abs(x[r * n + i])) }
        let (scale, inverse) = quantizationScale(absMax, limit: limit)
        scales[r] = scale
        for i in 0..<n { q[r * n + i] = Int8((x[r * n + i] * inverse).rounded(.toNearestOrEven)) }
    }
}

/// (max|row| / limit, limit / max|row|), or zeros for an all-zero row. |x| * inverse <= limit
/// within an ulp, which rounds to at most limit: no clamping needed (activations are finite).
@inline(__always)
func quantizationScale(_ absMax: Float, limit: Int8 = 127) -> (scale: Float, inverse: Float) {
    let l = Float(limit)
    return absMax > 0 && absMax.isFinite ? (absMax / l, l / absMax) : (0, 0)
}

/// |x| per lane (the sign bit cleared).
@inline(__always)
func magnitude(_ x: SIMD16<Float>) -> SIMD16<Float> {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
}

/// Rounds to the nearest integer, ties to even, for |x| < 2^22: adding 1.5 x 2^23 leaves the
/// integer in the low mantissa bits (the rounding is the FPU's own, to nearest even).
@inline(__always)
func roundToInt32(_ x: SIMD16<Float>) -> SIMD16<Int32> {
    let magic = SIMD16<Float>(repeating: 12_582_912)
    return unsafeBitCast(x + magic, to: SIMD16<Int32>.self) &- 0x4B40_0000
}

/// x[rows, columns] = q * scales[row]: what `quantizeRows` stands for.
public func dequantizeRows(_ x: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                           rows: Int, columns n: Int) {
    for r in 0..<rows {
        for i in 0..<n { x[r * n + i] = Float(q[r * n + i]) * scales[r] }
    }
}

/// The fp32 result of an int8 product: y[r, c] = acc[r, c] * (rowScales[r] * columnScales[c])
/// + bias[c], over [rows, columns]; with `adding`, y[r, c] += that instead. y may be acc's memory
/// (each value is read before it is written), except when adding.
///
/// oneDNN could do this in the matmul (output scales per column, the row scales as a binary
/// post-op of a 3-D matmul, bias, activation and residual as further post-ops), but measured
/// 10-40% slower per matmul than the plain int32 product followed by this pass.
public func dequantize(_ y: UnsafeMutablePointer<Float>, _ acc: UnsafePointer<Int32>, rowScales: UnsafePointer<Float>,
                       columnScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, columns n: Int,
                       adding: Bool = false) {
    let full = n - n % 16
    for r in 0..<rows {
        let ar = UnsafeRawPointer(acc + r * n), yr = y + r * n, rs = rowScales[r]
        var i = 0
        while i < full {
            var v = SIMD16<Float>(ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Int32>.self)) * (rs * load16(columnScales + i))
            if let bias { v += load16(bias + i) }
            store16(adding ? load16(yr + i) + v : v, yr + i)
            i += 16
        }
        while i < n {
            var v = Float(ar.load(fromByteOffset: 4 * i, as: Int32.self)) * (rs * columnScales[i])
            if let bias { v += bias[i] }
            yr[i] = adding ? yr[i] + v : v
            i += 1
        }
    }
}

/// `dequantize` split over `workers` threads by rows, then `after(rows)` on each few rows
/// while they are in cache (e.g. the activation that follows).
public func dequantize(_ y: UnsafeMutablePointer<Float>, _ acc: UnsafePointer<Int32>, rowScales: UnsafePointer<Float>,
                       columnScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, columns: Int,
                       adding: Bool = false, workers: Int, after: (Range<Int>) -> Void = { _ in }) {
    inChunks(rows, workers: workers, minimum: max(1, 16384 / max(1, columns))) { chunk in
        for r in stride(from: chunk.lowerBound, to: chunk.upperBound, by: 4) {
            let rows = r..<min(r + 4, chunk.upperBound)
            dequantize(y + r * columns, acc + r * columns, rowScales: rowScales + r, columnScales: columnScales,
                       bias: bias, rows: rows.count, columns: columns, adding: adding)
            after(rows)
        }
    }
}

/// `dequantize` rounded to bf16: y[r, c] = bf16(acc[r, c] * (rowScales[r] * columnScales[c]) +
/// bias[c]), bit for bit `dequantize` then `convertToBFloat16`; split over `workers` threads.
public func dequantize(_ y: UnsafeMutablePointer<UInt16>, _ acc: UnsafePointer<Int32>, rowScales: UnsafePointer<Float>,
                       columnScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, columns n: Int,
                       workers: Int) {
    inChunks(rows, workers: workers, minimum: max(1, 16384 / max(1, n))) { chunk in
        let full = n - n % 16
        for r in chunk {
            let ar = UnsafeRawPointer(acc + r * n), yr = y + r * n, rs = rowScales[r]
            var i = 0
            while i < full {
                var v = SIMD16<Float>(ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Int32>.self)) * (rs * load16(columnScales + i))
                if let bias { v += load16(bias + i) }
                let bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
                let rounded = (bits &+ (0x7FFF &+ ((bits &>> 16) & 1))) &>> 16
                UnsafeMutableRawPointer(yr + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded), as: SIMD16<UInt16>.self)
                i += 16
            }
            while i < n {
                var v = Float(ar.load(fromByteOffset: 4 * i, as: Int32.self)) * (rs * columnScales[i])
                if let bias { v += bias[i] }
                yr[i] = bfloat16Reference(v)
                i += 1
            }
        }
    }
}

/// acc[rows, out] = xq[rows, in] · wq[out, in]ᵀ in exact integer arithmetic: what oneDNN's int8
/// matmul must reproduce.
public func int8MatmulReference(_ acc: UnsafeMutablePointer<Int32>, _ xq: UnsafePointer<Int8>, _ wq: UnsafePointer<Int8>,
                                rows: Int, inFeatures: Int, outFeatures: Int) {
    for r in 0..<rows {
        for o in 0..<outFeatures {
            var sum: Int32 = 0
            for i in 0..<inFeatures { sum += Int32(xq[r * inFeatures + i]) * Int32(wq[o * inFeatures + i]) }
            acc[r * outFeatures + o] = sum
        }
    }
}

/// The quantized linear layer the long way: quantize x per row and w per output channel, multiply
/// in integers, scale back, add the bias. y[rows, out] from x[rows, in], w[out, in], b[out].
public func int8LinearReference(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                _ b: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int) {
    let xq = UnsafeMutablePointer<Int8>.allocate(capacity: rows * inFeatures)
    let wq = UnsafeMutablePointer<Int8>.allocate(capacity: outFeatures * inFeatures)
    let xs = UnsafeMutablePointer<Float>.allocate(capacity: rows), ws = UnsafeMutablePointer<Float>.allocate(capacity: outFeatures)
    let acc = UnsafeMutablePointer<Int32>.allocate(capacity: rows * outFeatures)
    defer { xq.deallocate(); wq.deallocate(); xs.deallocate(); ws.deallocate(); acc.deallocate() }
    quantizeRowsReference(xq, scales: xs, x, rows: rows, columns: inFeatures)
    quantizeRowsReference(wq, scales: ws, w, rows: outFeatures, columns: inFeatures, limit: int8WeightLimit)
    int8MatmulReference(acc, xq, wq, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
    for r in 0..<rows {
        for o in 0..<outFeatures {
            y[r * outFeatures + o] = Float(acc[r * outFeatures + o]) * (xs[r] * ws[o]) + (b?[o] ?? 0)
        }
    }
}
