import ClipModel
import Foundation
import XCTest

/// A full-size checkpoint against transformers, when one is at hand:
///
///     python3 Tests/Fixtures/tiny-clip/make_fixtures.py --model DIR   # writes DIR/clipq-reference.json
///     CLIPQ_FULL_MODEL=DIR swift test --filter FullModelTests
///
/// DIR may be the real openai/clip-vit-large-patch14-336 or the benchmark's random-weight model.
final class FullModelTests: XCTestCase {
    func testFullSizeModelMatchesTransformers() throws {
        guard let path = ProcessInfo.processInfo.environment["CLIPQ_FULL_MODEL"] else {
            throw XCTSkip("set CLIPQ_FULL_MODEL=DIR to check a full-size model")
        }
        let dir = URL(fileURLWithPath: path)
        let reference = try Fixture.reference(in: dir, file: "clipq-reference.json")
        let model = try CLIPModel.load(directory: dir)
        let vision = model.config.vision
        let pixels = Fixture.pixels(count: reference.image_count, channels: vision.channels, size: vision.imageSize)
        assertParity(try model.encodeImages(pixels: pixels, count: reference.image_count),
                     try XCTUnwrap(reference.quick_gelu.image), "image")
        assertParity(try model.encodeTexts(tokenIDs: reference.token_ids), reference.quick_gelu.text, "text")
    }

    func testFullSizeBFloat16IsWithinCosine0999OfFP32() throws {
        try assertFullSizeClose(.bf16)
    }

    func testFullSizeInt8IsWithinCosine0999OfFP32() throws {
        try assertFullSizeClose(.int8)
    }

    func assertFullSizeClose(_ precision: Precision, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let path = ProcessInfo.processInfo.environment["CLIPQ_FULL_MODEL"] else {
            throw XCTSkip("set CLIPQ_FULL_MODEL=DIR to check a full-size model")
        }
        let dir = URL(fileURLWithPath: path)
        let config = try CLIPModel.load(directory: dir).config
        // Two images and texts of several lengths, as the tiny fixture's ids are in range for any CLIP vocabulary.
        let tokens = [[49406, 320, 1929, 539, 320, 2368, 49407], [49406] + (1..<76).map { ($0 * 7919) % 49000 + 1 } + [49407]]
        try assertClose(precision, directory: dir, tokens, images: 2, channels: config.vision.channels,
                        size: config.vision.imageSize, minimumCosine: 0.999, file: file, line: line)
    }
}
