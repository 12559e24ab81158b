import ClipTensor
import Foundation
import XCTest

/// Each fast kernel against its naive reference on awkward sizes (not multiples of 16, rows
/// wider than the vector width, leading dimensions wider than the row).
final class KernelTests: XCTestCase {
    var rng = SplitMix(seed: 7)

    func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }

    func testLinearMatchesReferenceWithAndWithoutBias() {
        let rows = 37, inF = 53, outF = 29
        let x = random(rows * inF), w = random(outF * inF), b = random(outF)
        for bias in [b, nil] as [[Float]?] {
            var fast = [Float](repeating: .nan, count: rows * outF), slow = fast
            bias.withOptionalBuffer { bp in
                linear(&fast, x, w, bp, rows: rows, inFeatures: inF, outFeatures: outF)
                linearReference(&slow, x, w, bp, rows: rows, inFeatures: inF, outFeatures: outF)
            }
            assertClose(fast, slow, tolerance: 1e-4)
        }
    }

    func testSgemmLinearIsTheLinearKernel() {
        let rows = 5, inF = 16, outF = 8
        let x = random(rows * inF), w = random(outF * inF), b = random(outF)
        var viaSeam = [Float](repeating: 0, count: rows * outF), direct = viaSeam
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                let kernel: any LinearKernel = SgemmLinear(
                    weight: wp.baseAddress!, bias: bp.baseAddress!, inFeatures: inF, outFeatures: outF)
                kernel.apply(&viaSeam, x, rows: rows)
            }
        }
        linearReference(&direct, x, w, b, rows: rows, inFeatures: inF, outFeatures: outF)
        assertClose(viaSeam, direct, tolerance: 1e-4)
    }

    func testGemmWithStridesAndTransposes() {
        let m = 9, n = 7, k = 21, lda = 25, ldb = 30, ldc = 11
        let a = random(m * lda), bT = random(n * ldb), bN = random(k * ldb)
        for (b, trans) in [(bT, true), (bN, false)] {
            let c0 = random(m * ldc)
            var fast = c0, slow = c0
            gemm(&fast, a, b, transposeB: trans, alpha: 0.5, beta: 2, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
            gemmReference(&slow, a, b, transposeB: trans, alpha: 0.5, beta: 2, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
            assertClose(fast, slow, tolerance: 1e-4)
        }
    }

    func testLayerNormMatchesReferenceOnOffsetData() {
        let rows = 6, width = 83
        // A large common offset is where a one-pass variance would fall apart.
        let x = random(rows * width).map { $0 + 300 }, w = random(width), b = random(width)
        var fast = [Float](repeating: 0, count: x.count), slow = fast
        layerNorm(&fast, x, weight: w, bias: b, eps: 1e-5, rows: rows, width: width)
        layerNormReference(&slow, x, weight: w, bias: b, eps: 1e-5, rows: rows, width: width)
        assertClose(fast, slow, tolerance: 2e-4)
    }

    func testSoftmaxIsStableAndMatchesReference() {
        for n in [1, 5, 16, 17, 100, 577] {
            let x = random(n, scale: 30).map { $0 + 1000 }  // exp(1000) overflows without the max shift
            var fast = x, slow = x
            softmax(&fast, count: n)
            softmaxReference(&slow, count: n)
            XCTAssertFalse(fast.contains { !$0.isFinite }, "n=\(n)")
            XCTAssertEqual(fast.reduce(0, +), 1, accuracy: 1e-5)
            assertClose(fast, slow, tolerance: 1e-6)
        }
    }

    /// The bf16 attention's softmax: each probability (the bf16 power over the sum) within one
    /// bf16 step (2^-8 relative) of the exact one.
    func testExponentiateToBFloat16GivesSoftmaxWithinOneBFloat16Step() {
        for n in [1, 5, 16, 17, 100, 577] {
            for spread: Float in [1, 30, 300] {  // 300: most entries underflow to (almost) nothing
                let x = random(n, scale: spread).map { $0 + 1000 }
                var exact = x
                var p = [UInt16](repeating: 0, count: n)
                let sum = exponentiateToBFloat16(&p, x.map { $0 * 1.442_695_04 }, count: n)  // base-2 logits
                softmaxReference(&exact, count: n)
                let got = p.map { float(bfloat16: $0) / sum }
                XCTAssertEqual(got.reduce(0, +), 1, accuracy: 0.01, "n=\(n)")
                for (g, e) in zip(got, exact) {
                    XCTAssertLessThanOrEqual(abs(g - e), e * 0x1p-8 + 1e-30, "n=\(n), spread \(spread): \(g) for \(e)")
                }
            }
        }
    }

    func testActivationForQuantizationIsWithinATenThousandthOfTheReference() {
        for act in Activation.allCases {
            let x = random(1000, scale: 5) + [-100, -30, 0, 30, 100, -0.0]
            var fast = x, slow = x
            activateForQuantization(&fast, act, count: x.count)
            activateReference(&slow, act, count: x.count)
            for (f, s) in zip(fast, slow) { XCTAssertEqual(f, s, accuracy: 1e-4 * max(1, abs(s)), "\(act)") }
        }
    }

    func testVectorExpIsWithinAFewUlpOfLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let got = vectorExp(SIMD16(repeating: x))[0]
            let want = Float(Foundation.exp(Double(x)))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 4 * Float.ulpOfOne)
        XCTAssertEqual(vectorExp(SIMD16(repeating: -1000))[0], 0, accuracy: 1e-37)
    }

    func testActivationsMatchReference() {
        let x = random(203, scale: 4) + [-100, 100, 0]
        for act in Activation.allCases {
            var fast = x, slow = x
            activate(&fast, act, count: x.count)
            activateReference(&slow, act, count: x.count)
            assertClose(fast, slow, tolerance: 1e-5, "\(act)")
        }
    }

    func testAttentionMatchesReference() {
        let length = 23, heads = 3, headDim = 8, width = heads * headDim, ld = 3 * width
        // Q, K, V side by side in one [length, 3 * width] matrix, as the encoders lay them out.
        let qkv = random(length * ld, scale: 2)
        var scores = [Float](repeating: 0, count: length * length)
        for causal in [false, true] {
            var fast = [Float](repeating: .nan, count: length * ld), slow = fast
            qkv.withUnsafeBufferPointer { p in
                let q = p.baseAddress!, k = q + width, v = q + 2 * width
                attention(&fast, q: q, k: k, v: v, scores: &scores, causal: causal,
                          length: length, heads: heads, headDim: headDim, ld: ld)
                attentionReference(&slow, q: q, k: k, v: v, causal: causal,
                                   length: length, heads: heads, headDim: headDim, ld: ld)
            }
            let columns = { (m: [Float]) in (0..<length).flatMap { r in m[(r * ld)..<(r * ld + width)] } }
            assertClose(columns(fast), columns(slow), tolerance: 1e-5, "causal=\(causal)")
            // The first query row only, as the vision encoder's last layer asks for.
            if !causal {
                var first = [Float](repeating: .nan, count: length * ld)
                qkv.withUnsafeBufferPointer { p in
                    let q = p.baseAddress!
                    attention(&first, q: q, k: q + width, v: q + 2 * width, scores: &scores, causal: false,
                              length: length, queries: 1, heads: heads, headDim: headDim, ld: ld)
                }
                assertClose(Array(first[0..<width]), Array(slow[0..<width]), tolerance: 1e-5)
            }
        }
    }

    func testResidualAddAndScale() {
        let a = random(37), b = random(37)
        var y = a
        add(&y, b, count: 37)
        assertClose(y, zip(a, b).map { $0 + $1 }, tolerance: 0)
        scale(&y, by: 2, count: 37)
        assertClose(y, zip(a, b).map { 2 * ($0 + $1) }, tolerance: 0)
    }

    func testFloatBufferGrowsAndKeepsItsPointerWhenLargeEnough() {
        let buffer = FloatBuffer()
        let p = buffer.reserve(100)
        XCTAssertEqual(buffer.reserve(50), p)
        _ = buffer.reserve(1000)
        XCTAssertGreaterThanOrEqual(buffer.capacity, 1000)
    }
}

func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ what: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    XCTAssertLessThanOrEqual(worst, tolerance, "worst relative error \(worst) \(what)", file: file, line: line)
}

/// A small deterministic generator so that the tests do not depend on the system's randomness.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u = max(uniform(), 1e-7), v = uniform()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }
}

extension Optional where Wrapped == [Float] {
    func withOptionalBuffer<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .some(let a): try a.withUnsafeBufferPointer { try body($0.baseAddress) }
        case .none: try body(nil)
        }
    }
}

final class ParallelTests: XCTestCase {
    func testInChunksCoversEveryIndexOnce() {
        for (count, workers, minimum) in [(0, 2, 1), (1, 2, 1), (7, 2, 1), (1000, 3, 10), (1000, 2, 600)] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            inChunks(count, workers: workers, minimum: minimum) { r in for i in r { hits[i] += 1 } }
            XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "\(count) over \(workers)")
            hits.deallocate()
        }
    }

    /// Every worker runs, and OpenBLAS stays single-threaded throughout: nothing process-wide
    /// changes while two encodes run at once.
    func testInParallelRunsEveryWorkerAndLeavesOpenBLASAlone() {
        var c: Float = 0, one: Float = 1
        gemm(&c, &one, &one, transposeB: false, m: 1, n: 1, k: 1, lda: 1, ldb: 1, ldc: 1)
        XCTAssertEqual(blasThreads, 1)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        seen.initialize(repeating: 0, count: 2)
        inParallel(workers: 2) { w in
            seen[w] = 1
            XCTAssertEqual(blasThreads, 1)
        }
        XCTAssertEqual([seen[0], seen[1]], [1, 1])
        XCTAssertEqual(blasThreads, 1)
        seen.deallocate()
    }

    /// The products split by rows (tall) and by column blocks (short, N not a multiple of 16)
    /// equal the naive kernel's.
    func testLinearSplitOverThreadsMatchesTheReference() {
        var rng = SplitMix(seed: 5)
        for (rows, K, N) in [(300, 24, 40), (7, 24, 200), (1, 8, 130), (129, 16, 16)] {
            let x = (0..<(rows * K)).map { _ in rng.normal() }, w = (0..<(N * K)).map { _ in rng.normal() }
            let b = (0..<N).map { _ in rng.normal() }
            for threads in [1, 2, 3] {
                var got = [Float](repeating: .nan, count: rows * N), want = got
                linear(&got, x, w, b, rows: rows, inFeatures: K, outFeatures: N, threads: threads)
                linearReference(&want, x, w, b, rows: rows, inFeatures: K, outFeatures: N)
                for i in 0..<got.count { XCTAssertEqual(got[i], want[i], accuracy: 1e-4, "\(rows)x\(K)x\(N) on \(threads): \(i)") }
            }
        }
    }
}
