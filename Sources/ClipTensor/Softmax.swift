import Foundation

/// Each of `rows` rows of x (row stride `ld`) becomes softmax over its first `length(row)`
/// entries; the entries after those (a causal mask) become 0. Subtracting the row's maximum first
/// keeps exp from overflowing.
public func softmaxRows(
    _ x: UnsafeMutablePointer<Float>, rows: Int, ld: Int, length: (Int) -> Int
) {
    for r in 0..<rows {
        let row = x + r * ld
        let n = length(r)
        softmax(row, count: n)
        if n < ld { (row + n).update(repeating: 0, count: ld - n) }
    }
}

/// x[count] = softmax(x), in place.
public func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    let lanes = 16
    let full = n - n % lanes
    var maxV = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i < full {
        let v = load16(x + i)
        maxV.replace(with: v, where: v .> maxV)
        i += lanes
    }
    var m = maxV.max()
    while i < n { m = max(m, x[i]); i += 1 }

    var sumV = SIMD16<Float>()
    i = 0
    while i < full {
        let e = vectorExp(load16(x + i) - m)
        store16(e, x + i)
        sumV += e
        i += lanes
    }
    var sum = sumV.sum()
    if i < n {
        // The tail goes through the same exp as the body so that every entry is treated alike.
        var tail = SIMD16<Float>(repeating: -.infinity)
        for j in 0..<(n - i) { tail[j] = x[i + j] - m }
        let e = vectorExp(tail)
        for j in 0..<(n - i) { x[i + j] = e[j]; sum += e[j] }
    }
    let inv = 1 / sum
    scale(x, by: inv, count: n)
}

public func softmaxReference(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var m = -Double.infinity
    for i in 0..<n { m = max(m, Double(x[i])) }
    var sum = 0.0
    for i in 0..<n { sum += Foundation.exp(Double(x[i]) - m) }
    for i in 0..<n { x[i] = Float(Foundation.exp(Double(x[i]) - m) / sum) }
}

/// p[count] = bf16(2^(x - max x)), returning the sum of those powers before rounding: softmax
/// over base-2 logits (natural ones times log2 e), left unnormalized so that the caller divides
/// the product P·V instead (heads x length x headDim values rather than heads x length x length).
/// The powers come from `exp2ForBFloat16`, within 7.5e-5, and are rounded half up rather than to
/// even (ties are 1 in 65536): the bf16 rounding (up to 2^-9) is what sets the accuracy. This is
/// the costliest pass of the image attention after its matrix products; both shortcuts together
/// make it ~25% faster.
public func exponentiateToBFloat16(_ p: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, count n: Int) -> Float {
    let full = n - n % 16
    var maxV = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i < full {
        let v = load16(x + i)
        maxV.replace(with: v, where: v .> maxV)
        i += 16
    }
    var m = maxV.max()
    while i < n { m = max(m, x[i]); i += 1 }

    var sumV = SIMD16<Float>()
    i = 0
    while i < full {
        let e = exp2ForBFloat16(load16(x + i) - m)
        sumV += e
        let rounded = (unsafeBitCast(e, to: SIMD16<UInt32>.self) &+ 0x8000) &>> 16
        UnsafeMutableRawPointer(p + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded), as: SIMD16<UInt16>.self)
        i += 16
    }
    var sum = sumV.sum()
    if i < n {
        var tail = SIMD16<Float>(repeating: -.infinity)
        for j in 0..<(n - i) { tail[j] = x[i + j] }
        let e = exp2ForBFloat16(tail - m)
        for j in 0..<(n - i) { p[i + j] = UInt16(truncatingIfNeeded: (e[j].bitPattern &+ 0x8000) >> 16); sum += e[j] }
    }
    return sum
}

/// 2^t over 16 lanes, for t <= 0 unless `large` (below -126 it gives 2^-126, which no softmax sum
/// notices; with `large`, above 126 it gives 2^126): the integer part goes into the exponent bits,
/// the fraction f in [-1/2, 1/2] through a cubic fitted to 2^f (relative error 7.5e-5, against
/// ~1e-7 for `vectorExp`'s degree 6), for results rounded to bf16 (steps of 2^-8) or int8 next.
@inline(__always)
func exp2ForBFloat16(_ t: SIMD16<Float>, large: Bool = false) -> SIMD16<Float> {
    var t = t
    t.replace(with: SIMD16(repeating: -126), where: t .< -126)  // NaN-free inputs; -inf included
    if large { t.replace(with: SIMD16(repeating: 126), where: t .> 126) }
    let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5 x 2^23: rounds t to an integer
    let shifted = t + magic
    let f = t - (shifted - magic)
    var q = SIMD16<Float>(repeating: 0.055_171_434)  // minimax for relative error on [-1/2, 1/2]
    q = q * f + 0.242_610_81
    q = q * f + 0.693_260_97
    q = q * f + 0.999_928_1
    let n = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    return unsafeBitCast(unsafeBitCast(q, to: SIMD16<Int32>.self) &+ (n &<< 23), to: SIMD16<Float>.self)
}
