import ClipTensor
import Foundation
import Synchronization
import XCTest

/// The bf16 conversion and oneDNN's bf16 linear layer against naive references.
final class BFloat16Tests: XCTestCase {
    var rng = SplitMix(seed: 11)

    func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }

    func testConversionRoundsToNearestEven() {
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0); a hair
        // above goes up; 1 + 3 * 2^-8 is a tie that goes up to the even neighbour 1 + 2^-6.
        let ties: [Float] = [1 + 0x1p-8, 1 + 0x1p-8 + 0x1p-20, 1 + 3 * 0x1p-8, -2.5, 0, 65504]
        XCTAssertEqual(ties.map { float(bfloat16: bfloat16Reference($0)) }, [1, 1 + 0x1p-7, 1 + 0x1p-6, -2.5, 0, 65536])
        let x = ties + random(1000, scale: 100)  // 1006: a vector tail too
        var fast = [UInt16](repeating: 0, count: x.count)
        convertToBFloat16(&fast, x, count: x.count)
        XCTAssertEqual(fast, x.map(bfloat16Reference))
    }

    func testCPUCapabilityAgreesWithProcCpuinfo() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        // oneDNN's ISA query may be capped (ONEDNN_MAX_CPU_ISA) but never exceeds the hardware.
        if cpuHasBFloat16 { XCTAssertTrue(cpuinfo.contains("avx512_bf16") || cpuinfo.contains("amx_bf16")) }
        if ProcessInfo.processInfo.environment["ONEDNN_MAX_CPU_ISA"] == nil, cpuinfo.contains("avx512_bf16") {
            XCTAssertTrue(cpuHasBFloat16)
        }
    }

    /// On a bf16 CPU, the product of bf16-rounded operands accumulated in fp32; elsewhere oneDNN
    /// emulates bf16 or the kernel falls back to fp32: either way within bf16's rounding of fp32.
    func testLinearMatchesReferenceOnEachRowCount() throws {
        let inF = 72, outF = 40
        let w = random(outF * inF), b = random(outF)
        let rounded = { (v: [Float]) in v.map { float(bfloat16: bfloat16Reference($0)) } }
        // The kernel reads weight and bias where they lie for as long as it lives (as the model's
        // mapping), so they live in memory of their own here.
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: w.count), bp = UnsafeMutablePointer<Float>.allocate(capacity: b.count)
        defer { wp.deallocate(); bp.deallocate() }
        wp.update(from: w, count: w.count)
        bp.update(from: b, count: b.count)
        for bias in [b, nil] as [[Float]?] {
            let kernel: BFloat16Linear
            do {
                kernel = try BFloat16Linear(weight: wp, bias: bias == nil ? nil : UnsafePointer(bp),
                                            inFeatures: inF, outFeatures: outF, rows: 16)
            } catch {
                // Below AVX-512 oneDNN has no bf16 matmul; models never ask for one there (Precision.available).
                return XCTAssertFalse(cpuHasBFloat16, "\(error)")
            }
            // The load-time row count, new ones, a cached one again, and more row counts than
            // the kernel keeps primitives for (evicted ones are made again).
            for rows in [16, 1, 37, 16] + (2...(BFloat16Linear.keptRowCounts + 3)) + [1, 37] {
                let x = random(rows * inF)
                var got = [Float](repeating: .nan, count: rows * outF), exact = got, ofRounded = got
                kernel.apply(&got, x, rows: rows)
                bias.withOptionalBuffer { bp in
                    linearReference(&exact, x, w, bp, rows: rows, inFeatures: inF, outFeatures: outF)
                    linearReference(&ofRounded, rounded(x), rounded(w), bp, rows: rows, inFeatures: inF, outFeatures: outF)
                }
                // bf16 keeps 8 significant bits: each product is off by up to ~2^-8 relative.
                assertClose(got, exact, tolerance: 0.25, "rows \(rows) against fp32")
                if cpuHasBFloat16 { assertClose(got, ofRounded, tolerance: 1e-3, "rows \(rows) against bf16 operands") }
            }
        }
    }
}

/// bf16 attention of one sequence against the fp32 heads (`attentionHead`) on the same inputs;
/// below AVX-512 BF16, where oneDNN has no bf16 matmul, the kernel's own fp32 rescue on them.
final class BFloat16AttentionTests: XCTestCase {
    func testAttentionMatchesTheFP32HeadsWithinBFloat16Rounding() throws {
        var rng = SplitMix(seed: 5)
        let heads = 3, hd = 16, D = heads * hd
        let messages = Mutex<[String]>([])
        let context = KernelContext(warnings: Warnings { message in messages.withLock { $0.append(message) } })
        let attention: BFloat16Attention
        do { attention = try BFloat16Attention(heads: heads, headDim: hd, context: context) } catch {
            return XCTFail("\(error)")
        }
        for L in [21, 5, 21] {  // a new length, then one whose primitives are kept
            let q = (0..<(L * D)).map { _ in rng.normal() }, k = (0..<(L * D)).map { _ in rng.normal() }
            let v = (0..<(L * D)).map { _ in rng.normal() }
            var want = [Float](repeating: 0, count: L * D), got = [Float](repeating: .nan, count: L * D)
            var scores = [Float](repeating: 0, count: heads * L * L)
            for h in 0..<heads {
                attentionHead(&want[h * hd], q: q.withUnsafeBufferPointer { $0.baseAddress! + h * hd },
                              k: k.withUnsafeBufferPointer { $0.baseAddress! + h * hd },
                              v: v.withUnsafeBufferPointer { $0.baseAddress! + h * hd },
                              scores: &scores, causal: false, length: L, queries: L, headDim: hd, ld: D)
            }
            var q16 = q.map(bfloat16Reference), k16 = k.map(bfloat16Reference), v16 = v.map(bfloat16Reference)
            var p16 = [UInt16](repeating: 0, count: heads * L * L)
            attention.apply(&got, q: &q16, k: &k16, v: &v16, length: L, scores: &scores, probabilities: &p16, threads: 2)
            assertClose(got, want, tolerance: 0.05, "length \(L)")
            XCTAssertNotEqual(got, want)
        }
        // One warning per length oneDNN refused, none where it runs bf16.
        let warned = messages.withLock { $0 }
        XCTAssertEqual(warned.count, cpuHasBFloat16 ? 0 : 2, "\(warned)")
        XCTAssertTrue(warned.allSatisfy { $0.contains("runs in fp32") }, "\(warned)")
    }
}
