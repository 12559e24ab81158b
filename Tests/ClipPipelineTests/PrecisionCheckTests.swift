import ClipModel
import ClipModelTestSupport
import Foundation
import XCTest

@testable import ClipPipeline

/// `PrecisionCheck` (what `clipq check-precision` prints) on encoders whose differences are known.
final class PrecisionCheckTests: XCTestCase {
    /// Embeds image b as [1, b, 0] (texts: [1, 0, count]) and bends each by `bend` radians in the
    /// third axis, so that the cosine to the unbent one is cos(bend) exactly.
    struct BentEncoder: EmbeddingEncoder {
        var bend: @Sendable (PrecisionCheck.Tower, Int) -> Double = { _, _ in 0 }
        var embeddingSize: Int { 3 }
        var pixelsPerImage: Int { 1 }
        func encodeImages(pixels: [Float], count: Int) throws -> [[Float]] {
            (0..<count).map { rotated([1, 0, 0], by: bend(.image, $0)) }
        }
        func encodeTexts(tokenIDs: [[Int]]) throws -> [[Float]] {
            tokenIDs.indices.map { rotated([0, 1, 0], by: bend(.text, $0)) }
        }
        func rotated(_ v: [Double], by angle: Double) -> [Float] {
            [Float(v[0] * cos(angle)), Float(v[1] * cos(angle)), Float(sin(angle))]
        }
    }

    func testEachInputGetsItsCosineAndEachTowerItsLowest() throws {
        let candidate = BentEncoder { tower, i in tower == .image ? [0.01, 0.05][i] : 0.02 }
        let check = try PrecisionCheck(reference: BentEncoder(), candidate: candidate,
                                       images: [("a", [0]), ("b", [0])], texts: [("x", [1, 2]), ("y", [1])])
        XCTAssertEqual(check.probes.map(\.label), ["a", "b", "x", "y"])
        XCTAssertEqual(check.probes.map(\.tower), [.image, .image, .text, .text])
        for (probe, angle) in zip(check.probes, [0.01, 0.05, 0.02, 0.02]) {
            XCTAssertEqual(probe.cosine, cos(angle), accuracy: 1e-6, probe.label)
        }
        XCTAssertEqual(check.lowest(.image) ?? 0, cos(0.05), accuracy: 1e-6)
        XCTAssertEqual(check.lowest(.text) ?? 0, cos(0.02), accuracy: 1e-6)
    }

    func testATowerWithoutInputsHasNoLowest() throws {
        let check = try PrecisionCheck(reference: BentEncoder(), candidate: BentEncoder(), images: [], texts: [("x", [1])])
        XCTAssertNil(check.lowest(.image))
        XCTAssertEqual(check.lowest(.text), 1)
    }

    /// A candidate whose embedding vanished or went NaN fails any minimum; two zero embeddings agree.
    func testVanishedAndNaNEmbeddingsFail() {
        XCTAssertEqual(cosine([0, 0], [0, 0]), 1)
        XCTAssertEqual(cosine([1, 0], [0, 0]), 0)
        XCTAssertFalse(cosine([1, 0], [.nan, 0]) >= 0.999)
        XCTAssertEqual(cosine([1, 2], [-1, -2]), -1, accuracy: 1e-12)
    }

    /// The synthetic images are deterministic, of order one, and differ from one another.
    func testSyntheticImagesAreDeterministicAndDistinct() {
        let images = PrecisionProbes.images(count: 3, channels: 3, size: 8)
        XCTAssertEqual(images, PrecisionProbes.images(count: 3, channels: 3, size: 8))
        XCTAssertEqual(images.map(\.count), [192, 192, 192])
        XCTAssertTrue(images.allSatisfy { $0.allSatisfy { abs($0) <= 1.01 } })
        XCTAssertEqual(Set(images.map { $0.map(\.bitPattern) }).count, 3)
    }

    /// On the tiny model, int8 against fp32 as a worker here runs it: the image tower is int8 on
    /// every tier with int8 kernels (so not fp32's exact result), and every cosine holds 0.999.
    func testInt8OnTheTinyModelHoldsItsPromise() throws {
        guard Precision.int8.available.precision == .int8 else { throw XCTSkip("int8 runs as fp32 below AVX2") }
        let directory = TinyModel.directory
        let fp32 = try CLIPModel.load(directory: directory, precision: .fp32, weightsCache: .off)
        let int8 = try CLIPModel.load(directory: directory, precision: .int8, weightsCache: .off)
        let images = PrecisionProbes.images(count: 3, channels: 3, size: 336).enumerated().map { ("synthetic \($0.offset)", $0.element) }
        let check = try PrecisionCheck(reference: fp32, candidate: int8, images: images,
                                       texts: [("ids", [49406, 320, 1125, 539, 320, 2368, 49407])])
        XCTAssertEqual(check.probes.count, 4)
        let lowest = try XCTUnwrap(check.lowest(.image))
        XCTAssertGreaterThanOrEqual(lowest, 0.999)
        XCTAssertLessThan(lowest, 1)
    }
}
