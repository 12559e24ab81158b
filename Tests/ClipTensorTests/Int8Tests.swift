import ClipTensor
import Foundation
import XCTest

/// Quantization and oneDNN's int8 linear layer against naive references.
final class Int8Tests: XCTestCase {
    var rng = SplitMix(seed: 13)

    func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }

    func testQuantizationMatchesTheReferenceAndRoundTripsWithinHalfAStep() {
        // Widths with and without a vector tail; a zero row; a row whose largest value is negative;
        // exact ties (x * 127 / max = k + 0.5) that must round to even as the scalar loop does.
        for width in [1, 16, 37, 1024] {
            let rows = 6
            var x = random(rows * width, scale: 3)
            for i in 0..<width { x[i] = 0 }
            x[width] = -100  // row 1: largest magnitude negative
            if width >= 3 { x[2 * width] = 127; x[2 * width + 1] = 2.5; x[2 * width + 2] = -3.5 }
            var fast = [Int8](repeating: 99, count: x.count), slow = fast
            var fastScales = [Float](repeating: .nan, count: rows), slowScales = fastScales
            quantizeRows(&fast, scales: &fastScales, x, rows: rows, columns: width)
            quantizeRowsReference(&slow, scales: &slowScales, x, rows: rows, columns: width)
            XCTAssertEqual(fast, slow, "width \(width)")
            XCTAssertEqual(fastScales, slowScales, "width \(width)")
            XCTAssertEqual(fastScales[0], 0)
            XCTAssertTrue(fast[0..<width].allSatisfy { $0 == 0 })
            XCTAssertEqual(fast[width], -127)
            if width >= 3 { XCTAssertEqual(Array(fast[(2 * width)..<(2 * width + 3)]), [127, 2, -4]) }  // ties to even
            var back = [Float](repeating: .nan, count: x.count)
            dequantizeRows(&back, fast, scales: fastScales, rows: rows, columns: width)
            for r in 0..<rows {
                let row = (r * width)..<((r + 1) * width)
                if fastScales[r] > 0 { XCTAssertEqual(fast[row].map { abs(Int($0)) }.max(), 127, "row \(r)") }
                for i in row {
                    XCTAssertLessThanOrEqual(abs(back[i] - x[i]), fastScales[r] * 0.5001, "row \(r), column \(i - row.lowerBound)")
                }
            }
            // Split over threads: the same bytes.
            var parallel = [Int8](repeating: 99, count: x.count), parallelScales = fastScales
            quantizeRows(&parallel, scales: &parallelScales, x, rows: rows, columns: width, workers: 2)
            XCTAssertEqual(parallel, fast)
        }
    }

    func testDequantizationScalesBothWaysAndAddsTheBias() {
        let rows = 3, columns = 21
        let acc: [Int32] = (0..<(rows * columns)).map { Int32($0 * 7919 % 40001) - 20000 }
        let rowScales: [Float] = [0.5, 0.001, 0], columnScales = random(columns), bias = random(columns)
        for b in [bias, nil] as [[Float]?] {
            for adding in [false, true] {
                let start = random(acc.count)
                var y = start
                b.withOptionalBuffer { bp in
                    dequantize(&y, acc, rowScales: rowScales, columnScales: columnScales, bias: bp, rows: rows, columns: columns,
                               adding: adding)
                }
                for r in 0..<rows {
                    for c in 0..<columns {
                        let v = Float(acc[r * columns + c]) * (rowScales[r] * columnScales[c]) + (b?[c] ?? 0)
                        XCTAssertEqual(y[r * columns + c], adding ? start[r * columns + c] + v : v, "[\(r), \(c)]")
                    }
                }
            }
        }
    }

    /// The int32 sums oneDNN computes equal the integer triple loop's exactly, on every row count
    /// (the load-time one, new ones, evicted and made again); the fp32 output equals the naive
    /// int8 layer's, and is within quantization error of the fp32 layer.
    func testLinearMatchesTheNaiveKernelExactlyOnEachRowCount() throws {
        guard cpuRunsInt8 else { throw XCTSkip("oneDNN has no int8 kernels below AVX2 (Precision.int8.available)") }
        let inF = 72, outF = 40
        let w = random(outF * inF), b = random(outF)
        // The kernel reads weight and bias where they lie for as long as it lives (as the model's mapping).
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: w.count), bp = UnsafeMutablePointer<Float>.allocate(capacity: b.count)
        defer { wp.deallocate(); bp.deallocate() }
        wp.update(from: w, count: w.count)
        bp.update(from: b, count: b.count)
        var wq = [Int8](repeating: 0, count: w.count), ws = [Float](repeating: 0, count: outF)
        quantizeRowsReference(&wq, scales: &ws, w, rows: outF, columns: inF, limit: int8WeightLimit)
        for bias in [b, nil] as [[Float]?] {
            let kernel = try Int8Linear(weight: wp, bias: bias == nil ? nil : UnsafePointer(bp), inFeatures: inF,
                                        outFeatures: outF, rows: 16, threads: 2)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: kernel.weightScales, count: outF)), ws)
            for rows in [16, 1, 37, 16] + (2...(Int8Linear.keptRowCounts + 3)) + [1, 37] {
                let x = random(rows * inF, scale: 2)
                var xq = [Int8](repeating: 0, count: x.count), xs = [Float](repeating: 0, count: rows)
                quantizeRowsReference(&xq, scales: &xs, x, rows: rows, columns: inF)
                var got = [Int32](repeating: -1, count: rows * outF), want = got
                XCTAssertTrue(kernel.accumulate(&got, xq, rows: rows))
                int8MatmulReference(&want, xq, wq, rows: rows, inFeatures: inF, outFeatures: outF)
                XCTAssertEqual(got, want, "rows \(rows)")

                var y = [Float](repeating: .nan, count: rows * outF), naive = y, exact = y
                kernel.apply(&y, x, rows: rows)
                bias.withOptionalBuffer { bp in
                    int8LinearReference(&naive, x, w, bp, rows: rows, inFeatures: inF, outFeatures: outF)
                    linearReference(&exact, x, w, bp, rows: rows, inFeatures: inF, outFeatures: outF)
                }
                XCTAssertEqual(y, naive, "rows \(rows)")
                // Against fp32: each operand is off by at most half its step (scale / 2), so each
                // output by at most sum(|x| dw + |w| dx + dx dw), plus fp32 rounding.
                for r in 0..<rows {
                    for o in 0..<outF {
                        var bound: Float = 1e-4
                        for i in 0..<inF {
                            bound += abs(x[r * inF + i]) * ws[o] / 2 + abs(w[o * inF + i]) * xs[r] / 2 + xs[r] * ws[o] / 4
                        }
                        XCTAssertLessThanOrEqual(abs(y[r * outF + o] - exact[r * outF + o]), bound, "rows \(rows): [\(r), \(o)]")
                    }
                }
            }
        }
    }

    /// The fused epilogues (activation, residual add) give what the plain layer then the separate
    /// pass give.
    func testFusedActivationAndResidualEqualThePlainLayerThenThePass() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        let inF = 40, outF = 72
        let w = random(outF * inF), b = random(outF)
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: w.count), bp = UnsafeMutablePointer<Float>.allocate(capacity: b.count)
        defer { wp.deallocate(); bp.deallocate() }
        wp.update(from: w, count: w.count)
        bp.update(from: b, count: b.count)
        let kernel = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, rows: 8)
        for rows in [8, 3, 21] {
            let x = random(rows * inF), residual = random(rows * outF)
            var plain = [Float](repeating: .nan, count: rows * outF), fused = plain, scratch = plain
            kernel.apply(&plain, x, rows: rows)
            kernel.apply(&fused, x, rows: rows, activation: .quickGELU, threads: 2)
            activateForQuantization(&plain, .quickGELU, count: plain.count)
            XCTAssertEqual(fused, plain, "quick GELU, rows \(rows)")
            kernel.apply(&plain, x, rows: rows)
            kernel.apply(&fused, x, rows: rows, activation: .gelu, threads: 2)
            activate(&plain, .gelu, count: plain.count)
            XCTAssertEqual(fused, plain, "GELU, rows \(rows)")

            kernel.apply(&plain, x, rows: rows)
            var added = residual
            kernel.applyAdding(to: &added, x, rows: rows, scratch: &scratch, threads: 2)
            XCTAssertEqual(added, zip(residual, plain).map { $0 + $1 }, "residual, rows \(rows)")
        }
    }

    func testLayersSharingAnInputGiveWhatEachGivesAlone() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        let inF = 24, rows = 5
        let weights = (0..<3).map { _ in random(16 * inF) }, x = random(rows * inF)
        let pointers = weights.map { a -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count)
            p.update(from: a, count: a.count)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let layers = try pointers.map { try Int8Linear(weight: $0, bias: nil, inFeatures: inF, outFeatures: 16, rows: rows) }
        let outputs = layers.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rows * 16) }
        defer { outputs.forEach { $0.deallocate() } }
        Int8Linear.apply(Array(zip(layers, outputs)), sharing: x, rows: rows)
        let bf16 = layers.map { _ in UnsafeMutablePointer<UInt16>.allocate(capacity: rows * 16) }
        let sums = layers.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rows * 16) }
        defer { bf16.forEach { $0.deallocate() }; sums.forEach { $0.deallocate() } }
        Int8Linear.apply((0..<3).map { (layers[$0], sums: sums[$0], out: bf16[$0]) }, sharing: x, rows: rows)
        for (i, layer) in layers.enumerated() {
            var alone = [Float](repeating: .nan, count: rows * 16)
            layer.apply(&alone, x, rows: rows)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: outputs[i], count: rows * 16)), alone)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: bf16[i], count: rows * 16)), alone.map(bfloat16Reference))
        }
    }

    /// The fused MLP (fc1's activations quantized for fc2 in cache) against the two layers one
    /// after the other through the protocol: the same bits.
    func testFeedForwardEqualsTheTwoLayersInTurn() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        let D = 24, I = 40
        let w1 = random(I * D), b1 = random(I), w2 = random(D * I), b2 = random(D)
        let pointers = [w1, b1, w2, b2].map { a -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count)
            p.update(from: a, count: a.count)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let fc1 = try Int8Linear(weight: pointers[0], bias: UnsafePointer(pointers[1]), inFeatures: D, outFeatures: I, rows: 8)
        let fc2 = try Int8Linear(weight: pointers[2], bias: UnsafePointer(pointers[3]), inFeatures: I, outFeatures: D, rows: 8)
        for rows in [8, 1, 13] {
            let x = random(rows * D), residual = random(rows * D)
            var fused = residual, inTurn = residual
            var hidden = [Float](repeating: .nan, count: rows * I), scratch = [Float](repeating: .nan, count: rows * D)
            fc1.feedForward(into: &fused, x, rows: rows, activation: .quickGELU, then: fc2, hidden: &hidden, scratch: &scratch,
                            threads: 2)
            fc1.apply(&hidden, x, rows: rows, activation: .quickGELU, threads: 2)
            fc2.applyAdding(to: &inTurn, hidden, rows: rows, scratch: &scratch, threads: 2)
            XCTAssertEqual(fused, inTurn, "rows \(rows)")
            XCTAssertNotEqual(fused, residual)
        }
    }

    /// A kernel given another's converted parts (as a cache file gives them back) runs on them in
    /// place, with the same results; parts that do not fit are ignored and the weight quantized.
    func testAKernelRunsOnCachedPartsThatFitAndIgnoresOthers() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        let inF = 40, outF = 24, rows = 5
        let w = random(outF * inF), b = random(outF), x = random(rows * inF)
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: w.count), bp = UnsafeMutablePointer<Float>.allocate(capacity: b.count)
        defer { wp.deallocate(); bp.deallocate() }
        wp.update(from: w, count: w.count)
        bp.update(from: b, count: b.count)
        let original = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, rows: 8)
        XCTAssertFalse(original.runsOnGivenParts)
        XCTAssertEqual(original.convertedParts.count, 3)
        let reused = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, rows: 8,
                                    cached: original.convertedParts)
        XCTAssertTrue(reused.runsOnGivenParts)
        var want = [Float](repeating: .nan, count: rows * outF), got = want
        original.apply(&want, x, rows: rows)
        reused.apply(&got, x, rows: rows)
        XCTAssertEqual(got, want)
        let parts = original.convertedParts
        for bad in [Array(parts.prefix(2)), [parts[0], UnsafeRawBufferPointer(rebasing: parts[1].dropLast(64)), parts[2]]] {
            let converted = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, rows: 8,
                                           cached: bad)
            XCTAssertFalse(converted.runsOnGivenParts)
            converted.apply(&got, x, rows: rows)
            XCTAssertEqual(got, want)
        }
    }

    func testLargeInputsDoNotOverflowTheSums() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        // Every product at +-127 x the weight limit over K = 4096 (the ViT-L MLP's fc2): |sum| up to
        // 66 M, far from 2^31. Without VNNI, oneDNN sums pairs of u8 (the s8 source shifted by 128:
        // 255 here) x s8 products in 16 bits with saturation: exact only with 7-bit weights.
        let inF = 4096, outF = 16, rows = 3
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: inF * outF)
        defer { wp.deallocate() }
        for o in 0..<outF { for i in 0..<inF { wp[o * inF + i] = o % 2 == 0 ? 1 : -1 } }
        let kernel = try Int8Linear(weight: wp, bias: nil, inFeatures: inF, outFeatures: outF, rows: rows, threads: 2)
        let xq = [Int8](repeating: 127, count: rows * inF)
        var got = [Int32](repeating: 0, count: rows * outF)
        XCTAssertTrue(kernel.accumulate(&got, xq, rows: rows))
        for r in 0..<rows {
            for o in 0..<outF {
                XCTAssertEqual(got[r * outF + o], (o % 2 == 0 ? 1 : -1) * 127 * Int32(int8WeightLimit) * Int32(inF))
            }
        }
    }

    /// 7-bit weights exactly where oneDNN's int8 kernels lack the dot-product instructions.
    func testWeightsKeepSevenBitsWithoutVNNI() {
        XCTAssertEqual(int8WeightLimit, cpuHasVNNI ? 127 : 63)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if cpuRunsInt8 { XCTAssertTrue(cpuinfo.contains(" avx2")) }
    }

    /// Outlier channels: left out of the int8 product (they set no scale) and multiplied in fp32;
    /// the layer alone, sharing its input, and as the MLP's first layer.
    func testOutlierChannelsAreMultipliedInFP32BesideTheInt8Product() throws {
        guard cpuRunsInt8 else { throw XCTSkip("no int8 kernels below AVX2") }
        let inF = 72, outF = 40, rows = 9, outliers = [3, 50]
        let w = random(outF * inF), b = random(outF)
        var x = random(rows * inF)
        for r in 0..<rows { for j in outliers { x[r * inF + j] *= 60 } }
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: w.count), bp = UnsafeMutablePointer<Float>.allocate(capacity: b.count)
        defer { wp.deallocate(); bp.deallocate() }
        wp.update(from: w, count: w.count)
        bp.update(from: b, count: b.count)
        // The naive int8 layer on the other channels, plus the outliers' exact share.
        var xRest = x, wRest = w
        for r in 0..<rows { for j in outliers { xRest[r * inF + j] = 0 } }
        for o in 0..<outF { for j in outliers { wRest[o * inF + j] = 0 } }
        var want = [Float](repeating: 0, count: rows * outF)
        int8LinearReference(&want, xRest, wRest, b, rows: rows, inFeatures: inF, outFeatures: outF)
        for r in 0..<rows {
            for o in 0..<outF { for j in outliers { want[r * outF + o] += x[r * inF + j] * w[o * inF + j] } }
        }
        let kernel = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, outliers: outliers,
                                    rows: rows, threads: 2)
        var got = [Float](repeating: .nan, count: rows * outF)
        kernel.apply(&got, x, rows: rows)
        for i in 0..<got.count { XCTAssertEqual(got[i], want[i], accuracy: 1e-3 * max(1, abs(want[i])), "\(i)") }
        // Closer to fp32 than without the outlier channels.
        var exact = want, plainOut = want
        linearReference(&exact, x, w, b, rows: rows, inFeatures: inF, outFeatures: outF)
        let plain = try Int8Linear(weight: wp, bias: UnsafePointer(bp), inFeatures: inF, outFeatures: outF, rows: rows, threads: 2)
        plain.apply(&plainOut, x, rows: rows)
        let error = { (y: [Float]) in zip(y, exact).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) }
        XCTAssertLessThan(error(got) * 10, error(plainOut))
        // Sharing the input (q, k, v): the same values.
        let shared = UnsafeMutablePointer<Float>.allocate(capacity: rows * outF)
        defer { shared.deallocate() }
        Int8Linear.apply([(kernel, shared)], sharing: x, rows: rows)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: shared, count: rows * outF)), got)
    }
}
