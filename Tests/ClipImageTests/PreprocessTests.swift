import Foundation
import XCTest
@testable import ClipImage

final class PreprocessTests: XCTestCase {
    /// A deterministic generator: the same images every run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testWindowedResizeEqualsTheNaiveWholeImageResize() {
        var rng = SplitMix(state: 42)
        for _ in 0..<40 {
            let w = Int.random(in: 1...60, using: &rng), h = Int.random(in: 1...60, using: &rng)
            let image = RGBImage(width: w, height: h, pixels: (0..<w * h * 3).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let outW = Int.random(in: 1...90, using: &rng), outH = Int.random(in: 1...90, using: &rng)
            let reference = resizeReference(image, width: outW, height: outH)
            let x0 = Int.random(in: 0..<outW, using: &rng), y0 = Int.random(in: 0..<outH, using: &rng)
            let columns = x0..<Int.random(in: x0 + 1...outW, using: &rng), rows = y0..<Int.random(in: y0 + 1...outH, using: &rng)
            let window = resizeWindow(image, height: outH, width: outW, rows: rows, columns: columns)
            var expected: [UInt8] = []
            for y in rows { expected += reference.pixels[(y * outW + columns.lowerBound) * 3..<(y * outW + columns.upperBound) * 3] }
            XCTAssertEqual(window, expected, "\(w)x\(h) -> \(outW)x\(outH), rows \(rows), columns \(columns)")
        }
    }

    /// The fast horizontal pass splits each weight as hi·256 + lo with hi in 16 bits.
    func testEveryWeightFitsTheSixteenBitSplit() {
        var largest: Int32 = 0
        for inSize in 1...40 {
            for outSize in stride(from: 1, through: 400, by: 7) {
                largest = max(largest, bicubicTaps(inSize: inSize, outSize: outSize, outputs: 0..<outSize).weights.map { abs($0) }.max() ?? 0)
            }
        }
        XCTAssertLessThan(largest, 1 << 23)
        XCTAssertGreaterThan(largest, 1 << 21)  // the sweep did reach large weights
    }

    func testUpscalingAConstantImageKeepsItConstant() {
        let image = RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 77, count: 18))
        XCTAssertEqual(Set(resizeReference(image, width: 50, height: 41).pixels), [77])
    }

    func testShortestEdgeSizeTruncatesLikeTransformers() {
        XCTAssertEqual(shortestEdgeSize(height: 480, width: 640, shortestEdge: 336).height, 336)
        XCTAssertEqual(shortestEdgeSize(height: 480, width: 640, shortestEdge: 336).width, 448)
        XCTAssertEqual(shortestEdgeSize(height: 1000, width: 20, shortestEdge: 336).height, 16800)
        XCTAssertEqual(shortestEdgeSize(height: 337, width: 335, shortestEdge: 336).height, 338)  // int(336*337/335) = 338.0
        XCTAssertEqual(shortestEdgeSize(height: 501, width: 337, shortestEdge: 336).height, 499)  // 499.5 truncated
        XCTAssertEqual(shortestEdgeSize(height: 5, width: 5, shortestEdge: 336).width, 336)
    }

    /// A crop larger than the resized image is padded with zeros before rescaling, as HF does.
    func testCropLargerThanTheImageIsZeroPadded() throws {
        var config = PreprocessorConfig()
        config.shortestEdge = 4
        config.cropHeight = 6
        config.cropWidth = 5
        let image = RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 255, count: 48))
        let tensor = preprocess(image, config: config)
        let table = normalizationTable(config)
        XCTAssertEqual([tensor.height, tensor.width], [6, 5])
        // HF: top pad ceil((6-4)/2) = 1, left pad ceil((5-4)/2) = 1.
        for y in 0..<6 {
            for x in 0..<5 {
                let inside = (1...4).contains(y) && (1...4).contains(x)
                XCTAssertEqual(tensor.values[y * 5 + x], table[inside ? 255 : 0], "(\(y), \(x))")
            }
        }
    }

    func testConfigReadsBothSpellingsAndRefusesWhatIsNotImplemented() throws {
        let old = try Fixtures.config()
        XCTAssertEqual(old, PreprocessorConfig())
        let new = try PreprocessorConfig(json: Data("""
            {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 200}, "rescale_factor": 0.5,
             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1], "resample": 3}
            """.utf8))
        XCTAssertEqual([new.shortestEdge, new.cropHeight, new.cropWidth], [224, 224, 200])
        XCTAssertEqual(new.rescaleFactor, 0.5)
        XCTAssertEqual(new.std, [0.25, 0.5, 1])
        for bad in [#"{"resample": 2}"#, #"{"image_mean": [0.5]}"#, #"{"do_center_crop": false}"#, #"{"size": "big"}"#, "[]", "{"] {
            XCTAssertThrowsError(try PreprocessorConfig(json: Data(bad.utf8)), bad) { XCTAssertEqual(($0 as? ImageError)?.code, .internal) }
        }
    }

    func testBase64AndDataURIGiveTheSameTensorAsTheFile() throws {
        let ingest = ImageIngest(config: try Fixtures.config())
        let bytes = try Fixtures.bytes("inputs/rocket_420.jpg")
        let expected = try ingest.tensor(from: bytes)
        let base64 = Data(bytes).base64EncodedString(options: .lineLength76Characters)
        XCTAssertEqual(try ingest.ingest(base64).get(), expected)
        XCTAssertEqual(try ingest.ingest("data:image/jpeg;base64," + base64).get(), expected)
    }
}
