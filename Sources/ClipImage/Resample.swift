/// Pillow's BICUBIC resampling (src/libImaging/Resample.c), reproduced bit for bit: the same
/// double-precision filter taps, the same 22-bit fixed-point weights and rounding, and the
/// same two passes, horizontal first, each rounded and clipped to 8 bits.
///
/// Each output pixel depends only on its own taps, so a caller may ask for a window of the
/// resized image (the center crop) and get exactly the pixels Pillow would have there.

/// 32 bits minus 8 for the result minus 2 for the overshoot of the filter's negative lobes.
let precisionBits: Int32 = 22

/// The taps of one axis for a range of output positions.
struct ResampleTaps {
    var first: [Int]  // [outputs] first input index used
    var count: [Int]  // [outputs] number of inputs used
    var weights: [Int32]  // [outputs, kernelSize] fixed-point, zero past count
    var kernelSize: Int
}

func bicubicFilter(_ x: Double) -> Double {
    let a = -0.5
    let x = x < 0 ? -x : x
    if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
    if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
    return 0.0
}

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for BICUBIC (support 2), for the output
/// positions in `outputs` of an axis resized from `inSize` to `outSize`.
func bicubicTaps(inSize: Int, outSize: Int, outputs: Range<Int>) -> ResampleTaps {
    // Pillow passes the box edges as C floats: keep that rounding for huge sizes.
    let scale = Double(Float(inSize)) / Double(outSize)
    let filterScale = max(scale, 1.0)
    let support = 2.0 * filterScale
    let kernelSize = Int(support.rounded(.up)) * 2 + 1
    var taps = ResampleTaps(first: [], count: [], weights: [Int32](repeating: 0, count: outputs.count * kernelSize),
                            kernelSize: kernelSize)
    taps.first.reserveCapacity(outputs.count)
    taps.count.reserveCapacity(outputs.count)
    var k = [Double](repeating: 0, count: kernelSize)
    for (row, xx) in outputs.enumerated() {
        let center = (Double(xx) + 0.5) * scale
        let ss = 1.0 / filterScale
        let xmin = max(0, Int(center - support + 0.5))
        let xmax = min(inSize, Int(center + support + 0.5)) - xmin
        var ww = 0.0
        for x in 0..<xmax {
            let w = bicubicFilter((Double(x + xmin) - center + 0.5) * ss)
            k[x] = w
            ww += w
        }
        for x in 0..<xmax {
            let w = ww != 0.0 ? k[x] / ww : k[x]
            taps.weights[row * kernelSize + x] = Int32(w < 0 ? -0.5 + w * Double(1 << precisionBits)
                                                              : 0.5 + w * Double(1 << precisionBits))
        }
        taps.first.append(xmin)
        taps.count.append(max(0, xmax))
    }
    return taps
}

@inline(__always)
func clip8(_ sum: Int32) -> UInt8 {
    UInt8(truncatingIfNeeded: min(255, max(0, sum >> precisionBits)))
}

/// Horizontal pass: out[r, x, c] = Σ in[firstRow + r, first[x] + t, c] · w[x, t] for each
/// output column x of `taps`, for `rows` input rows. RGB, 3 bytes a pixel.
///
/// The hot loop of a large image. Each 22-bit weight is split as w = hi·256 + lo (hi fits in 16
/// bits, lo in 8) and each row is spread into 16-bit channel planes, so the sums become 16x16-bit
/// dot products that LLVM turns into SIMD multiply-adds (pmaddwd) even on baseline x86-64; the
/// integer result, (Σ p·hi)·256 + Σ p·lo, is exactly Pillow's Σ p·w. BICUBIC's normalized
/// weights stay well under 2, so |w| < 2^23 and hi fits (a test sweeps the sizes).
func resampleHorizontal(_ out: UnsafeMutablePointer<UInt8>, _ input: UnsafePointer<UInt8>, taps: ResampleTaps,
                        firstRow: Int, rows: Int, inWidth: Int)
{
    let outWidth = taps.first.count
    let span = (taps.kernelSize + 7) & ~7  // taps padded with zero weights to whole vectors
    var high = [Int16](repeating: 0, count: outWidth * span)  // [outWidth, span]
    var low = [Int16](repeating: 0, count: outWidth * span)  // [outWidth, span]
    for x in 0..<outWidth {
        for t in 0..<taps.count[x] {
            let w = taps.weights[x * taps.kernelSize + t]
            high[x * span + t] = Int16(truncatingIfNeeded: w >> 8)
            low[x * span + t] = Int16(truncatingIfNeeded: w & 0xFF)
        }
    }
    let planeStride = inWidth + span  // zero tail: padded taps may read past the row
    var planes = [Int16](repeating: 0, count: 3 * planeStride)  // [3, inWidth + span]
    high.withUnsafeBufferPointer { high in
        low.withUnsafeBufferPointer { low in
            planes.withUnsafeMutableBufferPointer { planes in
                guard let hi = high.baseAddress, let lo = low.baseAddress, let plane = planes.baseAddress else { return }
                for r in 0..<rows {
                    let src = input + (firstRow + r) * inWidth * 3
                    for i in 0..<inWidth {
                        plane[i] = Int16(src[3 * i])
                        plane[planeStride + i] = Int16(src[3 * i + 1])
                        plane[2 * planeStride + i] = Int16(src[3 * i + 2])
                    }
                    let dst = out + r * outWidth * 3
                    for x in 0..<outWidth {
                        let h = hi + x * span, l = lo + x * span
                        for c in 0..<3 {
                            let p = plane + c * planeStride + taps.first[x]
                            var sumHigh: Int32 = 0, sumLow: Int32 = 0
                            for t in 0..<span {
                                sumHigh &+= Int32(p[t]) &* Int32(h[t])
                                sumLow &+= Int32(p[t]) &* Int32(l[t])
                            }
                            dst[3 * x + c] = clip8((sumHigh << 8) &+ sumLow &+ (1 << (precisionBits - 1)))
                        }
                    }
                }
            }
        }
    }
}

/// Vertical pass: out[y, x, c] = Σ in[first[y] - firstRow + t, x, c] · w[y, t] for each output
/// row y of `taps`; `input` holds rows from `firstRow` on, `width` pixels each.
func resampleVertical(_ out: UnsafeMutablePointer<UInt8>, _ input: UnsafePointer<UInt8>, taps: ResampleTaps,
                      firstRow: Int, width: Int)
{
    let rowBytes = width * 3, kernelSize = taps.kernelSize
    var sums = [Int32](repeating: 0, count: rowBytes)
    taps.weights.withUnsafeBufferPointer { weights in
        sums.withUnsafeMutableBufferPointer { sums in
            for y in 0..<taps.first.count {
                let k = y * kernelSize
                let src = input + (taps.first[y] - firstRow) * rowBytes
                for i in 0..<rowBytes { sums[i] = 1 << (precisionBits - 1) }
                // Row by row: the same sums as Pillow's per-pixel loop, in cache order.
                for t in 0..<taps.count[y] {
                    let w = weights[k + t], line = src + t * rowBytes
                    for i in 0..<rowBytes { sums[i] &+= Int32(line[i]) &* w }
                }
                let dst = out + y * rowBytes
                for i in 0..<rowBytes { dst[i] = clip8(sums[i]) }
            }
        }
    }
}

/// The naive form, kept for tests: the whole image, horizontal then vertical, one pixel and
/// one channel at a time, as Resample.c reads.
func resizeReference(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    var current = image
    if width != current.width {
        let taps = bicubicTaps(inSize: current.width, outSize: width, outputs: 0..<width)
        var out = [UInt8](repeating: 0, count: current.height * width * 3)
        for y in 0..<current.height {
            for x in 0..<width {
                for c in 0..<3 {
                    var sum: Int32 = 1 << (precisionBits - 1)
                    for t in 0..<taps.count[x] {
                        sum += Int32(current.pixels[(y * current.width + taps.first[x] + t) * 3 + c]) * taps.weights[x * taps.kernelSize + t]
                    }
                    out[(y * width + x) * 3 + c] = clip8(sum)
                }
            }
        }
        current = RGBImage(width: width, height: current.height, pixels: out)
    }
    if height != current.height {
        let taps = bicubicTaps(inSize: current.height, outSize: height, outputs: 0..<height)
        var out = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    var sum: Int32 = 1 << (precisionBits - 1)
                    for t in 0..<taps.count[y] {
                        sum += Int32(current.pixels[((taps.first[y] + t) * width + x) * 3 + c]) * taps.weights[y * taps.kernelSize + t]
                    }
                    out[(y * width + x) * 3 + c] = clip8(sum)
                }
            }
        }
        current = RGBImage(width: width, height: height, pixels: out)
    }
    return current
}
