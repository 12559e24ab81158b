import ClipModel
import ClipTensor
import Foundation
import XCTest

/// bf16 against fp32 on the same weights: the accuracy each precision promises.
final class PrecisionTests: XCTestCase {
    func testBFloat16IsAvailableExactlyWhereTheCPUHasIt() {
        let (precision, fallback) = Precision.bf16.available
        XCTAssertEqual(precision, cpuHasBFloat16 ? .bf16 : .fp32)
        XCTAssertEqual(fallback == nil, cpuHasBFloat16)
        XCTAssertTrue(Precision.fp32.available == (.fp32, nil))
    }

    /// Where the CPU lacks bf16 this compares fp32 with itself: the fallback's promise.
    func testBFloat16EmbeddingsAreWithinCosine0999OfFP32() throws {
        let reference = try Fixture.reference()
        try assertClose(directory: Fixture.directory, reference.token_ids, images: reference.image_count,
                        channels: 3, size: 336, minimumCosine: 0.999)
    }
}

/// Encodes the same images and texts in fp32 and in bf16 (as this CPU runs it) and asserts each
/// pair of embeddings is within `minimumCosine`.
func assertClose(directory: URL, _ tokenIDs: [[Int]], images: Int, channels: Int, size: Int, minimumCosine: Double,
                 file: StaticString = #filePath, line: UInt = #line) throws {
    let fp32 = try CLIPModel.load(directory: directory)
    let bf16 = try CLIPModel.load(directory: directory, makeLinear: Precision.bf16.available.precision.linearFactory)
    let pixels = Fixture.pixels(count: images, channels: channels, size: size)
    let pairs = [("image", try fp32.encodeImages(pixels: pixels, count: images), try bf16.encodeImages(pixels: pixels, count: images)),
                 ("text", try fp32.encodeTexts(tokenIDs: tokenIDs), try bf16.encodeTexts(tokenIDs: tokenIDs))]
    for (what, want, got) in pairs {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        for (i, (g, w)) in zip(got, want).enumerated() {
            let cosine = cosineSimilarity(g, w)
            print("bf16 \(what) \(i): cosine \(cosine) to fp32")
            XCTAssertGreaterThanOrEqual(cosine, minimumCosine, "\(what) \(i)", file: file, line: line)
            if cpuHasBFloat16 { XCTAssertLessThan(cosine, 1, "\(what) \(i): bf16 gave fp32's exact result", file: file, line: line) }
        }
    }
}

func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
    return dot / (aa.squareRoot() * bb.squareRoot())
}
