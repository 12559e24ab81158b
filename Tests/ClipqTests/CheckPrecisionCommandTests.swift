import ClipModel
import ClipTensor
import Foundation
import XCTest

/// `clipq check-precision` as a user runs it before choosing bf16 or int8 for a checkpoint.
final class CheckPrecisionCommandTests: XCTestCase {
    let model = CLI.fixtures.appendingPathComponent("tiny-clip").path

    func check(_ flags: [String]) throws -> CLI.Result {
        try CLI.run(["check-precision", "--model", model, "--weights-cache", "off"] + flags)
    }

    /// Probe lines "tower "label": cosine X", as printed.
    func cosines(_ stdout: String) -> [(tower: String, cosine: Double)] {
        stdout.split(separator: "\n").compactMap { line in
            guard let tower = line.split(separator: " ").first, ["image", "text"].contains(tower),
                  let value = line.components(separatedBy: ": cosine ").last.flatMap(Double.init) else { return nil }
            return (String(tower), value)
        }
    }

    func testBuiltInProbesHoldOnTheTinyModelInInt8() throws {
        let result = try check(["--precision", "int8"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let probes = cosines(result.stdout)
        guard cpuRunsInt8 else { return XCTAssertTrue(result.stdout.contains("nothing to compare"), result.stdout) }
        XCTAssertEqual(probes.filter { $0.tower == "image" }.count, 3, result.stdout)
        XCTAssertGreaterThanOrEqual(probes.filter { $0.tower == "text" }.count, 5, result.stdout)
        XCTAssertTrue(probes.allSatisfy { $0.cosine >= 0.999 }, result.stdout)
        XCTAssertTrue(probes.contains { $0.tower == "image" && $0.cosine < 1 }, "the image tower ran fp32: \(result.stdout)")
        XCTAssertTrue(result.stdout.contains("minimum 0.999: holds"), result.stdout)
    }

    /// A minimum the precision cannot meet fails the command, so that a deployment can gate on it.
    func testAMinimumNotMetExitsOne() throws {
        guard cpuRunsInt8 else { throw XCTSkip("int8 runs as fp32 below AVX2") }
        let result = try check(["--precision", "int8", "--minimum-cosine", "1"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("minimum 1.0: NOT met"), result.stdout)
    }

    func testTheUsersOwnImagesAndTextsAreWhatIsChecked() throws {
        let image = CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path
        let result = try check(["--precision", "int8", "--image", image, "--text", "an astronaut", "--text", "a cat"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        guard cpuRunsInt8 else { return }
        XCTAssertEqual(cosines(result.stdout).map(\.tower), ["image", "text", "text"], result.stdout)
        XCTAssertTrue(result.stdout.contains("images/inputs/astronaut.jpg\": cosine"), result.stdout)  // a path keeps its end
    }

    func testFP32HasNothingToCompare() throws {
        let result = try check(["--precision", "fp32"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("runs fp32 here: nothing to compare"), result.stdout)
        XCTAssertTrue(cosines(result.stdout).isEmpty, result.stdout)
    }

    func testAnImageThatCannotBeReadIsAnErrorNotACosine() throws {
        let missing = try check(["--precision", "int8", "--image", "./no-such-image.jpg"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("error: not_found"), missing.stderr)
        let garbage = try check(["--precision", "int8", "--image", Data("not an image".utf8).base64EncodedString()])
        XCTAssertEqual(garbage.status, 1)
        XCTAssertTrue(garbage.stderr.contains("error: unsupported_image_format: --image bm90"), garbage.stderr)
        XCTAssertTrue(cosines(garbage.stdout).isEmpty, garbage.stdout)
    }

    func testOutOfRangeMinimumIsAUsageError() throws {
        let result = try check(["--precision", "int8", "--minimum-cosine", "1.5"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--minimum-cosine"), result.stderr)
    }
}
