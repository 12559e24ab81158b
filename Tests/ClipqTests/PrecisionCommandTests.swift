import ClipSchema
import Foundation
import XCTest

/// `--precision` / CLIPQ_PRECISION on a real `clipq embed`, including the fallbacks a CPU without
/// bf16 or VNNI takes (made here by capping oneDNN's ISA).
final class PrecisionCommandTests: XCTestCase {
    let model = CLI.fixtures.appendingPathComponent("tiny-clip").path

    func embed(_ flags: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        // An image too: without VNNI, int8 keeps the text tower in fp32 (docs/internals.md).
        let image = CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path
        let result = try CLI.run(["embed", "--model", model, "--image", image, "--text", "a photo of a cat"] + flags, environment: environment)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result
    }

    func testBFloat16FallsBackToFP32WithOneWarningWhereTheCPULacksIt() throws {
        let fp32 = try embed([])
        let capped = try embed(["--precision", "bf16"], environment: ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE"])
        XCTAssertEqual(capped.stdout, fp32.stdout)
        XCTAssertEqual(capped.stderr.components(separatedBy: "falls back to fp32").count, 2, capped.stderr)
        XCTAssertFalse(fp32.stderr.contains("warning"), fp32.stderr)
    }

    func testBFloat16FromTheEnvironmentMatchesTheFlag() throws {
        let flag = try embed(["--precision", "bf16"])
        let env = try embed([], environment: ["CLIPQ_PRECISION": "bf16"])
        XCTAssertEqual(env.stdout, flag.stdout)
        let fp32 = try embed(["--precision", "fp32"], environment: ["CLIPQ_PRECISION": "bf16"])  // the flag wins
        XCTAssertEqual(fp32.stdout, try embed([]).stdout)
        guard flag.stderr.isEmpty else { return XCTAssertTrue(flag.stderr.contains("falls back"), flag.stderr) }  // no bf16 here
        XCTAssertNotEqual(flag.stdout, fp32.stdout, "bf16 must round differently from fp32")
    }

    /// int8 needs AVX2 at least (oneDNN's int8 kernels); below it, fp32 with one warning.
    func testInt8FallsBackToFP32WithOneWarningBelowAVX2() throws {
        let fp32 = try embed([])
        let capped = try embed(["--precision", "int8"], environment: ["ONEDNN_MAX_CPU_ISA": "SSE41"])
        XCTAssertEqual(capped.stdout, fp32.stdout)
        XCTAssertEqual(capped.stderr.components(separatedBy: "int8 falls back to fp32").count, 2, capped.stderr)
        XCTAssertEqual(capped.stderr.components(separatedBy: "warning").count, 2, capped.stderr)
    }

    /// Without native bf16 (every AVX2 CPU, Cascade Lake, Ice Lake): int8 linear layers, fp32
    /// attention, one note.
    func testInt8WithoutBFloat16KeepsItsAttentionInFP32WithOneWarning() throws {
        let capped = try embed(["--precision", "int8"], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
        XCTAssertEqual(capped.stderr.components(separatedBy: "warning").count, 2, capped.stderr)
        XCTAssertTrue(capped.stderr.contains("attention products stay fp32"), capped.stderr)
        XCTAssertFalse(capped.stderr.contains("falls back"), capped.stderr)
        XCTAssertNotEqual(capped.stdout, try embed([]).stdout, "int8 must round differently from fp32")
    }

    func testInt8FromTheEnvironmentMatchesTheFlag() throws {
        let flag = try embed(["--precision", "int8"])
        let env = try embed([], environment: ["CLIPQ_PRECISION": "int8"])
        XCTAssertEqual(env.stdout, flag.stdout)
        guard !flag.stderr.contains("falls back") else { return XCTFail("int8 runs from AVX2 up: \(flag.stderr)") }
        XCTAssertNotEqual(flag.stdout, try embed(["--precision", "bf16"]).stdout)
        XCTAssertNotEqual(flag.stdout, try embed([]).stdout)
    }

    func testAnUnknownPrecisionIsRefused() throws {
        let result = try CLI.run(["embed", "--model", model, "--text", "x", "--precision", "fp8"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("fp8"), result.stderr)
        let fromEnv = try CLI.run(["embed", "--model", model, "--text", "x"], environment: ["CLIPQ_PRECISION": "fp8"])
        XCTAssertNotEqual(fromEnv.status, 0)
        XCTAssertTrue(fromEnv.stderr.contains("CLIPQ_PRECISION=fp8"), fromEnv.stderr)
    }
}
