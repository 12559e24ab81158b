import ClipModel
import ClipTensor
import Foundation
import XCTest

/// bf16 and int8 against fp32 on the same weights: the accuracy each precision promises.
final class PrecisionTests: XCTestCase {
    func testBFloat16IsAvailableExactlyWhereTheCPUHasIt() {
        let (precision, fallback) = Precision.bf16.available
        XCTAssertEqual(precision, cpuHasBFloat16 ? .bf16 : .fp32)
        XCTAssertEqual(fallback == nil, cpuHasBFloat16)
        XCTAssertTrue(Precision.fp32.available == (.fp32, nil))
    }

    /// int8 runs wherever oneDNN has int8 kernels (AVX2 and up), VNNI or not.
    func testInt8IsAvailableWhereOneDNNHasInt8Kernels() {
        let (precision, note) = Precision.int8.available
        XCTAssertEqual(precision, cpuRunsInt8 ? .int8 : .fp32)
        // Without bf16, int8 runs but its attention products stay fp32, which it says.
        XCTAssertEqual(note == nil, cpuRunsInt8 && cpuHasBFloat16)
    }

    /// auto's rule on this CPU's (or the capped) instruction set; `ISACapTests` runs it under caps.
    func testAutoPicksByTheInstructionSet() {
        let (precision, reason) = Precision.automatic
        let want: Precision = cpuHasVNNI ? .int8 : cpuHasBFloat16 ? .bf16 : .fp32
        XCTAssertEqual(precision, want)
        XCTAssertTrue(reason.hasPrefix("auto: \(want.rawValue) (oneDNN \(oneDNNInstructionSet)"), reason)
        XCTAssertTrue(Precision.auto.available == (want, reason))
        XCTAssertEqual(Precision(rawValue: "auto"), .auto)
    }

    func testAModelLoadedWithAutoSaysWhatItChose() throws {
        let model = try CLIPModel.load(directory: Fixture.directory, precision: .auto, weightsCache: .off)
        XCTAssertEqual(model.precisionChoice, Precision.automatic.reason)
        let int8 = try CLIPModel.load(directory: Fixture.directory, precision: .int8, weightsCache: .off)
        XCTAssertEqual(int8.precisionChoice, (["int8", Precision.int8.towers.note].compactMap { $0 }).joined(separator: "; "))
    }

    /// bf16 and int8 models let go of the fp32 weights they converted (resident memory); those
    /// pages read back from the file unchanged, for the rare fp32 fallback.
    func testReleasedWeightsReadBackUnchanged() throws {
        let file = try SafeTensorsFile(path: Fixture.directory.appendingPathComponent("model.safetensors").path)
        let info = try XCTUnwrap(file.tensors["vision_model.encoder.layers.0.mlp.fc1.weight"])
        let read = { Array(UnsafeBufferPointer(start: file.bytes(info).assumingMemoryBound(to: Float.self), count: info.count)) }
        let before = read()
        file.release(file.bytes(info), bytes: info.range.count)
        XCTAssertEqual(read(), before)
        // Memory outside the mapping is not touched.
        var outside = before
        outside.withUnsafeBytes { file.release($0.baseAddress!, bytes: $0.count) }
        XCTAssertEqual(outside, before)
    }

    /// Where the CPU lacks bf16 this compares fp32 with itself: the fallback's promise.
    func testBFloat16EmbeddingsAreWithinCosine0999OfFP32() throws {
        let reference = try Fixture.reference()
        try assertClose(.bf16, directory: Fixture.directory, reference.token_ids, images: reference.image_count,
                        channels: 3, size: 336, minimumCosine: 0.999)
    }

    /// On every tier: without VNNI (7-bit weights) the text tower runs in fp32 and images still hold.
    func testInt8EmbeddingsAreWithinCosine0999OfFP32() throws {
        let reference = try Fixture.reference()
        try assertClose(.int8, directory: Fixture.directory, reference.token_ids, images: reference.image_count,
                        channels: 3, size: 336, minimumCosine: 0.999)
    }

    func testWithoutVNNIInt8RunsTheImageTowerInInt8AndTheTextTowerInFP32() {
        let towers = Precision.int8.towers
        XCTAssertEqual(towers.vision, .int8)
        XCTAssertEqual(towers.text, cpuHasVNNI ? .int8 : .fp32)
        XCTAssertEqual(towers.note == nil, cpuHasVNNI)
        XCTAssertTrue(Precision.bf16.towers == (.bf16, .bf16, nil))
    }
}

/// Encodes the same images and texts in fp32 and in `precision` (as this CPU runs it) and asserts
/// each pair of embeddings is within `minimumCosine`. Returns the lowest cosine of each tower.
@discardableResult
func assertClose(_ precision: Precision, directory: URL, _ tokenIDs: [[Int]], images: Int, channels: Int, size: Int,
                 minimumCosine: Double, file: StaticString = #filePath, line: UInt = #line) throws -> (image: Double, text: Double) {
    let fp32 = try CLIPModel.load(directory: directory)
    let runs = precision.available.precision
    let other = try CLIPModel.load(directory: directory, precision: runs, weightsCache: .off)
    let towers = runs.towers
    let pixels = Fixture.pixels(count: images, channels: channels, size: size)
    let pairs = [("image", towers.vision, try fp32.encodeImages(pixels: pixels, count: images),
                  try other.encodeImages(pixels: pixels, count: images)),
                 ("text", towers.text, try fp32.encodeTexts(tokenIDs: tokenIDs), try other.encodeTexts(tokenIDs: tokenIDs))]
    var lowest: [Double] = []
    for (what, runs, want, got) in pairs {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        var low = 1.0
        for (i, (g, w)) in zip(got, want).enumerated() {
            let cosine = cosineSimilarity(g, w)
            low = min(low, cosine)
            print("\(precision.rawValue) \(what) \(i) (runs \(runs)): cosine \(cosine) to fp32")
            XCTAssertGreaterThanOrEqual(cosine, minimumCosine, "\(what) \(i)", file: file, line: line)
            if runs != .fp32 { XCTAssertLessThan(cosine, 1, "\(what) \(i): \(runs) gave fp32's exact result", file: file, line: line) }
        }
        print("\(precision.rawValue) \(what): lowest cosine \(low) to fp32 over \(got.count)")
        lowest.append(low)
    }
    return (lowest[0], lowest[1])
}

func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
    return dot / (aa.squareRoot() * bb.squareRoot())
}
