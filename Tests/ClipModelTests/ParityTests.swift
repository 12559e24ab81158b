import ClipModel
import Foundation
import XCTest

/// The Swift encoders against transformers' CLIPModel on the tiny fixture.
final class ParityTests: XCTestCase {
    func testImagesAndTextsMatchTransformers() throws {
        let reference = try Fixture.reference()
        let model = try CLIPModel.load(directory: Fixture.directory)
        let images = try model.encodeImages(pixels: Fixture.pixels(count: reference.image_count), count: reference.image_count)
        assertParity(images, try XCTUnwrap(reference.quick_gelu.image), "image")
        assertParity(try model.encodeTexts(tokenIDs: reference.token_ids), reference.quick_gelu.text, "text")
    }

    func testGELUConfigMatchesTransformers() throws {
        let reference = try Fixture.reference()
        let dir = try TemporaryModel(self)
        try dir.writeConfig { json in
            for key in ["text_config", "vision_config"] {
                var sub = json[key] as? [String: Any] ?? [:]
                sub["hidden_act"] = "gelu"
                json[key] = sub
            }
        }
        try dir.copyWeights()
        let model = try CLIPModel.load(directory: dir.url)
        let gelu = try XCTUnwrap(reference.gelu)
        assertParity(try model.encodeImages(pixels: Fixture.pixels(count: 3), count: 3), try XCTUnwrap(gelu.image), "image")
        assertParity(try model.encodeTexts(tokenIDs: reference.token_ids), gelu.text, "text")
    }

    func testLegacyEOSConfigPoolsAtTheLargestID() throws {
        let reference = try Fixture.reference()
        let dir = try TemporaryModel(self)
        try dir.writeConfig { json in
            var text = json["text_config"] as? [String: Any] ?? [:]
            text["eos_token_id"] = 2
            json["text_config"] = text
        }
        try dir.copyWeights()
        let model = try CLIPModel.load(directory: dir.url)
        let legacy = try XCTUnwrap(reference.legacy_eos)
        assertParity(try model.encodeTexts(tokenIDs: reference.token_ids), legacy.text, "legacy text")
        // The last fixture text has no end token: the two rules pool different positions.
        XCTAssertNotEqual(legacy.text.last, reference.quick_gelu.text.last)
    }

    func testFP32CheckpointIsUsedInPlaceAndGivesTheSameEmbeddings() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        try dir.writeWeights(dtype: .f32)
        let fp32 = try CLIPModel.load(directory: dir.url)
        let fp16 = try CLIPModel.load(directory: Fixture.directory)
        let ids = try Fixture.reference().token_ids
        // fp16 -> fp32 is exact, so both files hold the same numbers and must give the same result.
        XCTAssertEqual(try fp32.encodeTexts(tokenIDs: ids), try fp16.encodeTexts(tokenIDs: ids))
        XCTAssertEqual(fp32.widenedTensorCount, 0, "fp32 weights were copied instead of used in place")
        XCTAssertGreaterThan(fp16.widenedTensorCount, 0)
    }

    func testBF16CheckpointLoadsAndStaysClose() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        try dir.writeWeights(dtype: .bf16)
        let bf16 = try CLIPModel.load(directory: dir.url)
        let reference = try Fixture.reference()
        let got = try bf16.encodeTexts(tokenIDs: reference.token_ids)
        // bf16 keeps 8 bits of mantissa: close to the fp16 reference, not equal.
        for (g, w) in zip(got, reference.quick_gelu.text) {
            let dot = zip(g, w).map { $0 * $1 }.reduce(0, +)
            let cosine = dot / (norm(g) * norm(w))
            XCTAssertGreaterThan(cosine, 0.99)
            XCTAssertLessThan(cosine, 0.999999)
        }
    }

    func testBatchingDoesNotChangeResults() throws {
        let model = try CLIPModel.load(directory: Fixture.directory, maxImagesPerPass: 2)
        let pixels = Fixture.pixels(count: 3)
        let batch = try model.encodeImages(pixels: pixels, count: 3)
        let per = model.pixelsPerImage
        for i in 0..<3 {
            let single = try model.encodeImages(pixels: Array(pixels[i * per..<(i + 1) * per]), count: 1)
            assertParity(single, [batch[i]], "image \(i) alone")
        }
        let ids = try Fixture.reference().token_ids
        let texts = try model.encodeTexts(tokenIDs: ids)
        for (i, one) in ids.enumerated() {
            assertParity(try model.encodeTexts(tokenIDs: [one]), [texts[i]], "text \(i) alone")
        }
        // Padding after the end token is ignored: the causal mask hides it from the pooled state.
        assertParity(try model.encodeTexts(tokenIDs: [[49406, 1000, 2000, 49407]]), [texts[3]], "unpadded")
    }

    /// Two threads encoding images and texts at once on one model get what one call at a time
    /// gets, bit for bit, in fp32 and int8 (nothing process-wide changes under an encode: OpenBLAS
    /// stays single-threaded, scratch is the model's, borrowed per call).
    func testTheModelCanBeSharedBetweenThreads() throws {
        for precision in [Precision.fp32, .int8] {
            let model = try CLIPModel.load(directory: Fixture.directory, precision: precision.available.precision,
                                           weightsCache: .off, threads: 2)
            let ids = try Fixture.reference().token_ids
            let pixels = Fixture.pixels(count: 2)
            let texts = try model.encodeTexts(tokenIDs: ids)
            let images = try model.encodeImages(pixels: pixels, count: 2)
            let results = Results()
            DispatchQueue.concurrentPerform(iterations: 4) { i in
                for round in 0..<3 {
                    let key = i * 3 + round
                    if (i + round) % 2 == 0 {
                        results.set(key, (try? model.encodeTexts(tokenIDs: ids)) ?? [])
                    } else {
                        results.set(key, (try? model.encodeImages(pixels: pixels, count: 2)) ?? [])
                    }
                }
            }
            for i in 0..<4 {
                for round in 0..<3 {
                    XCTAssertEqual(results.get(i * 3 + round), (i + round) % 2 == 0 ? texts : images, "\(precision) \(i) \(round)")
                }
            }
        }
    }
}

private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int: [[Float]]] = [:]
    func set(_ i: Int, _ v: [[Float]]) { lock.withLock { values[i] = v } }
    func get(_ i: Int) -> [[Float]]? { lock.withLock { values[i] } }
}

func norm(_ v: [Float]) -> Float { v.map { $0 * $0 }.reduce(0, +).squareRoot() }
