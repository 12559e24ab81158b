import ClipFixtures
import ClipModel
import ClipTensor
import Foundation
import XCTest

/// int8 and bf16 on models whose layer norms carry outlier channels, as real CLIP checkpoints do,
/// against transformers' fp32 embeddings (Tests/Fixtures/outlier-clip/make_outlier_fixtures.py).
final class OutlierTests: XCTestCase {
    static let root = Fixture.directory.deletingLastPathComponent().appendingPathComponent("outlier-clip")

    func testModerateOutliersStayWithinTheirPromiseInEveryPrecision() throws {
        try assertEveryPrecisionMatchesTransformers(Self.root.appendingPathComponent("moderate"))
    }

    func testHarshOutliersStayWithinTheirPromiseInEveryPrecision() throws {
        try assertEveryPrecisionMatchesTransformers(Self.root.appendingPathComponent("harsh"))
    }

    /// The outlier channels are what holds int8 there: without them (the plain factory) the harsh
    /// model's images fall to 0.965 on Zen 3 (0.9999 with them). The plain factory also runs the
    /// patch embedding in int8, which alone costs far less (0.9996 in a simulation of the scheme).
    /// Guards against outlier handling that silently does nothing.
    func testWithoutItsOutlierChannelsInt8FallsShortOnTheHarshModel() throws {
        guard cpuRunsInt8 else { throw XCTSkip("int8 runs as fp32 below AVX2") }
        let directory = Self.root.appendingPathComponent("harsh")
        let reference = try Fixture.reference(in: directory)
        let plain = try CLIPModel.load(directory: directory, makeLinear: Precision.int8.linearFactory)
        let texts = try plain.encodeTexts(tokenIDs: reference.token_ids)
        let pixels = Fixture.pixels(count: reference.image_count)
        let images = try plain.encodeImages(pixels: pixels, count: reference.image_count)
        let lowest = zip(images, reference.quick_gelu.image ?? []).map(cosineSimilarity).min() ?? 1
        print("harsh, int8 without outlier channels: lowest image cosine \(lowest), text \(zip(texts, reference.quick_gelu.text).map(cosineSimilarity).min() ?? 1)")
        XCTAssertLessThan(lowest, 0.99)
    }

    /// Each precision as this CPU runs it, every fixture image and text, both towers: 0.999.
    func assertEveryPrecisionMatchesTransformers(_ directory: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try Fixture.reference(in: directory)
        let pixels = Fixture.pixels(count: reference.image_count)
        for precision in [Precision.fp32, .bf16, .int8] {
            let model = try CLIPModel.load(directory: directory, precision: precision.available.precision, weightsCache: .off)
            let texts = try model.encodeTexts(tokenIDs: reference.token_ids)
            let images = try model.encodeImages(pixels: pixels, count: reference.image_count)
            for (what, got, want) in [("text", texts, reference.quick_gelu.text), ("image", images, reference.quick_gelu.image ?? [])] {
                XCTAssertEqual(got.count, want.count, file: file, line: line)
                let cosines = zip(got, want).map(cosineSimilarity)
                print("\(directory.lastPathComponent) \(precision) (runs \(model.precisionChoice)) \(what): lowest cosine \(cosines.min() ?? 1)")
                for (i, c) in cosines.enumerated() {
                    XCTAssertGreaterThanOrEqual(c, 0.999, "\(precision) \(what) \(i)", file: file, line: line)
                }
            }
        }
    }
}

/// The outlier injection of the stress fixtures on a full-size random ViT-L/14@336, against this
/// code's own fp32 (no transformers at test time). Opt-in: each test writes 1.7 GB and encodes
/// full-size images (~1.5 min each on 2 cores).
///
///     CLIPQ_FULL_OUTLIERS=1 swift test --filter FullSizeOutlierTests
final class FullSizeOutlierTests: XCTestCase {
    /// harsh's recipe at ViT-L's widths: the outlier channels enter queries and keys at their old
    /// size, so the model is as stable as a shipped checkpoint (rounding its weights to bf16 moves
    /// no image below cosine 0.99999 in a simulation). int8 holds 0.999 on every tier (Zen 3,
    /// 7-bit weights: 0.9996 in the simulation).
    func testFullSizeModelWithSteadyLogitsHoldsInInt8() throws {
        try assertInt8HoldsOnFullSizeModel(steadyLogits: true, minimum: 0.999)
    }

    /// moderate's recipe: the outlier channels also feed the attention logits, through 24 layers.
    /// Below the promise on every tier: Zen 3 (7-bit weights) measured 0.9925-0.998 for images,
    /// and a simulation with 8-bit weights (VNNI) 0.9985-0.9987; the model itself is sensitive (its
    /// weights rounded to bf16 move images to 0.9996 in fp32). Why auto never picks int8 without
    /// VNNI and the docs say to check a checkpoint with `clipq check-precision`; this guards the degradation
    /// from growing.
    func testFullSizeModelWithOutliersInTheLogitsStaysNearFP32InInt8() throws {
        try assertInt8HoldsOnFullSizeModel(steadyLogits: false, minimum: cpuHasVNNI ? 0.998 : 0.99)
    }

    func assertInt8HoldsOnFullSizeModel(steadyLogits: Bool, minimum: Double, file: StaticString = #filePath,
                                        line: UInt = #line) throws {
        guard ProcessInfo.processInfo.environment["CLIPQ_FULL_OUTLIERS"] != nil else {
            throw XCTSkip("set CLIPQ_FULL_OUTLIERS=1 to check int8 on a full-size random model with outlier channels")
        }
        let model = try TemporaryModel(self)
        let config = CLIPConfig.vitL14At336
        try writeRandomModel(config, to: model.url)
        // In every layer of both towers, layer_norm1 and layer_norm2 scale 6 channels (the same in
        // every layer) by 30, gamma and beta alike; with steady logits, the query and key
        // projections divide those input columns by 30 again.
        let weights = try SafeTensorsFile(path: model.weightsURL.path)
        let patch = try FileHandle(forUpdating: model.weightsURL)
        defer { try? patch.close() }
        func scale(_ name: String, _ offsets: [Int], by factor: Float) throws {
            let info = try XCTUnwrap(weights.tensors[name], file: file, line: line)
            let values = weights.bytes(info).assumingMemoryBound(to: Float.self)
            for o in offsets {
                var scaled = values[o] * factor
                try patch.seek(toOffset: UInt64(info.range.lowerBound + 4 * o))
                patch.write(Data(bytes: &scaled, count: 4))
            }
        }
        for (tower, layers, width) in [("vision_model", config.vision.tower.layers, config.vision.tower.hiddenSize),
                                       ("text_model", config.text.tower.layers, config.text.tower.hiddenSize)] {
            let channels = (0..<6).map { ($0 * 7919 + 13) % width }
            for layer in 0..<layers {
                let prefix = "\(tower).encoder.layers.\(layer)"
                for norm in ["layer_norm1", "layer_norm2"] {
                    for part in ["weight", "bias"] { try scale("\(prefix).\(norm).\(part)", channels, by: 30) }
                }
                guard steadyLogits else { continue }
                for projection in ["q_proj", "k_proj"] {  // [out, in] row-major: column c of every row
                    let columns = (0..<width).flatMap { row in channels.map { row * width + $0 } }
                    try scale("\(prefix).self_attn.\(projection).weight", columns, by: 1 / 30)
                }
            }
        }
        try patch.synchronize()
        let fp32 = try CLIPModel.load(directory: model.url, precision: .fp32, weightsCache: .off)
        let int8 = try CLIPModel.load(directory: model.url, precision: Precision.int8.available.precision, weightsCache: .off)
        let pixels = Fixture.pixels(count: 2)
        let ids = [[49406, 320, 1125, 539, 320, 2368, 49407], [49406] + (0..<10).map { ($0 * 104729) % 40000 + 3 } + [49407],
                   [49406] + (0..<75).map { ($0 * 7919) % 49000 + 1 } + [49407]]
        for (what, want, got) in [("image", try fp32.encodeImages(pixels: pixels, count: 2), try int8.encodeImages(pixels: pixels, count: 2)),
                                  ("text", try fp32.encodeTexts(tokenIDs: ids), try int8.encodeTexts(tokenIDs: ids))] {
            let cosines = zip(got, want).map(cosineSimilarity)
            print("full-size outliers (\(steadyLogits ? "steady logits" : "in the logits")), \(int8.precisionChoice) \(what): cosines to fp32 \(cosines)")
            for (i, c) in cosines.enumerated() { XCTAssertGreaterThanOrEqual(c, minimum, "\(what) \(i)", file: file, line: line) }
        }
    }
}
