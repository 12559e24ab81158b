/// exp over 16 lanes at once (Cephes' expf: range reduction by ln 2, a degree-6 polynomial, and
/// the exponent written straight into the bits), within ~2 ulp of libm. Softmax and quick-GELU
/// need ~130 M exponentials per ViT-L image; a libm call each would cost a third of a second.
@inline(__always)
public func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // Below -87.3 the result would be subnormal: clamp so it stays a (tiny) normal number.
    // (replace(where:) compiles to vector compares and blends; the generic clamped() does not.)
    var x = x
    x.replace(with: SIMD16(repeating: -87.3), where: x .< -87.3)
    x.replace(with: SIMD16(repeating: 88.3), where: x .> 88.3)
    // n = round(x / ln 2) via the 1.5 * 2^23 trick: the integer lands in the low mantissa bits.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    var r = x - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    let r2 = r * r
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * r2 + r + 1
    let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD16<Float>.self)
    return p * scale
}
