/// fp32 -> bf16 (the top 16 bits of an fp32, rounded to nearest even): oneDNN 2.6's matmul takes
/// bf16 activations only, so each linear layer converts its fp32 input first.
/// dst[i] = bf16(src[i]). Finite inputs only (a NaN may round to infinity), as activations are.
public func convertToBFloat16(_ dst: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, count: Int) {
    let vectors = count / 16
    let src16 = UnsafeRawPointer(src), dst16 = UnsafeMutableRawPointer(dst)
    for v in 0..<vectors {
        let bits = src16.loadUnaligned(fromByteOffset: 64 * v, as: SIMD16<UInt32>.self)
        let rounded = (bits &+ (0x7FFF &+ ((bits &>> 16) & 1))) &>> 16
        dst16.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded), toByteOffset: 32 * v, as: SIMD16<UInt16>.self)
    }
    for i in (16 * vectors)..<count { dst[i] = bfloat16Reference(src[i]) }
}

/// `convertToBFloat16` split over `workers` threads (in runs of 16 values).
public func convertToBFloat16(_ dst: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, count: Int, workers: Int) {
    inChunks(count / 16, workers: workers, minimum: 16384) { r in
        convertToBFloat16(dst + 16 * r.lowerBound, src + 16 * r.lowerBound, count: 16 * r.count)
    }
    let done = count / 16 * 16
    convertToBFloat16(dst + done, src + done, count: count - done)
}

/// One value, rounded to nearest even the long way: what `convertToBFloat16` must agree with.
public func bfloat16Reference(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let upper = bits >> 16, lower = bits & 0xFFFF
    let roundUp = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
    return UInt16(truncatingIfNeeded: roundUp ? upper + 1 : upper)
}

/// The fp32 a bf16 stands for (exact).
public func float(bfloat16 x: UInt16) -> Float { Float(bitPattern: UInt32(x) << 16) }
