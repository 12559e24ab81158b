import ClipModel
import ClipTensor
import Foundation
import XCTest

/// Every instruction-set tier this CPU can be capped to, each in a process of its own: oneDNN reads
/// `DNNL_MAX_CPU_ISA` once, at its first use, so the test binary runs itself under each cap with a
/// filter for `testThisInstructionSetRunsEveryPrecisionWithinTolerance` (OpenBLAS is capped beside
/// it through `OPENBLAS_CORETYPE`).
final class ISACapTests: XCTestCase {
    /// (DNNL_MAX_CPU_ISA, OPENBLAS_CORETYPE, the /proc/cpuinfo flags the tier needs, what oneDNN then
    /// reports, what auto picks there).
    static let tiers: [(cap: String, openBLAS: String, flags: [String], isa: String, auto: Precision)] = [
        ("SSE41", "Nehalem", ["sse4_1"], "SSE41", .fp32),
        ("AVX2", "Haswell", ["avx2", "fma"], "AVX2", .fp32),
        ("AVX2_VNNI", "Haswell", ["avx2", "avx_vnni"], "AVX2_VNNI", .int8),
        ("AVX512_CORE", "SkylakeX", ["avx512f", "avx512bw", "avx512vl", "avx512dq"], "AVX512_CORE", .fp32),
        ("AVX512_CORE_VNNI", "SkylakeX", ["avx512f", "avx512_vnni"], "AVX512_CORE_VNNI", .int8),
        ("AVX512_CORE_BF16", "Cooperlake", ["avx512f", "avx512_vnni", "avx512_bf16"], "AVX512_CORE_BF16", .int8),
        ("AVX512_CORE_AMX", "SapphireRapids", ["avx512f", "amx_int8", "amx_bf16"], "AVX512_CORE_AMX", .int8),
    ]

    func testEveryTierThisCPUHasRunsAndPicksAsTheRuleSays() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let binary = URL(fileURLWithPath: CommandLine.arguments[0])
        var ran = 0
        for tier in Self.tiers where tier.flags.allSatisfy(flags.contains) {
            let child = Process()
            child.executableURL = binary
            child.arguments = ["ClipModelTests.ISACapTests/testThisInstructionSetRunsEveryPrecisionWithinTolerance"]
            var env = ProcessInfo.processInfo.environment
            env["DNNL_MAX_CPU_ISA"] = tier.cap
            env["OPENBLAS_CORETYPE"] = tier.openBLAS
            env["CLIPQ_EXPECT_ISA"] = tier.isa
            env["CLIPQ_EXPECT_AUTO"] = tier.auto.rawValue
            child.environment = env
            let output = Pipe()
            child.standardOutput = output
            child.standardError = output
            try child.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            print("DNNL_MAX_CPU_ISA=\(tier.cap) OPENBLAS_CORETYPE=\(tier.openBLAS):\n" +
                  text.split(separator: "\n").filter { $0.contains("lowest") || $0.contains("error") || $0.contains("Executed") }
                  .joined(separator: "\n"))
            XCTAssertEqual(child.terminationStatus, 0, "under DNNL_MAX_CPU_ISA=\(tier.cap):\n\(text)")
            XCTAssertTrue(text.contains("Executed 1 test, with 0 failures"), "under \(tier.cap): the child ran no test:\n\(text)")
            ran += 1
        }
        // SSE41 and AVX2 at least, on any x86-64 machine this project runs on.
        XCTAssertGreaterThanOrEqual(ran, 2)
    }

    /// Under the cap its parent set (or on this CPU as it is when run alone): oneDNN reports the
    /// tier, auto picks as the rule says, and every precision as this tier runs it stays within
    /// cosine 0.999 of transformers on the tiny fixture and on the harsh outlier model.
    func testThisInstructionSetRunsEveryPrecisionWithinTolerance() throws {
        let env = ProcessInfo.processInfo.environment
        if let isa = env["CLIPQ_EXPECT_ISA"] { XCTAssertEqual(oneDNNInstructionSet, isa) }
        if let auto = env["CLIPQ_EXPECT_AUTO"] { XCTAssertEqual(Precision.automatic.precision.rawValue, auto) }
        for directory in [Fixture.directory, OutlierTests.root.appendingPathComponent("harsh")] {
            let reference = try Fixture.reference(in: directory)
            let count = min(reference.image_count, 2)
            let pixels = Fixture.pixels(count: count)
            for precision in Precision.allCases {
                let runs = precision.available.precision
                // As clipq asks for it: what this tier runs of the precision (auto is chosen by load).
                let model = try CLIPModel.load(directory: directory, precision: precision == .auto ? .auto : runs,
                                               weightsCache: .off)
                if precision == .int8 { XCTAssertEqual(runs, cpuRunsInt8 ? .int8 : .fp32) }
                let texts = try model.encodeTexts(tokenIDs: reference.token_ids)
                let images = try model.encodeImages(pixels: pixels, count: count)
                let lowest = min(zip(texts, reference.quick_gelu.text).map(cosineSimilarity).min() ?? 0,
                                 zip(images, (reference.quick_gelu.image ?? []).prefix(count)).map(cosineSimilarity).min() ?? 0)
                print("\(oneDNNInstructionSet) \(directory.lastPathComponent) \(precision) (\(model.precisionChoice)): lowest cosine \(lowest)")
                XCTAssertGreaterThanOrEqual(lowest, 0.999, "\(directory.lastPathComponent) \(precision)")
            }
        }
    }
}
