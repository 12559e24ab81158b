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
    /// model's images fall below 0.999 (0.9970 on Zen 1, 0.9992 with them). Guards against outlier handling that silently
    /// does nothing.
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
        XCTAssertLessThan(lowest, 0.999)
    }

    /// Each precision as this CPU runs it, every fixture image and text, both towers: 0.999, and
    /// int8 `int8MinimumCosine`.
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
                let minimum = precision == .int8 && model.precisionChoice.hasPrefix("int8") ? int8MinimumCosine : 0.999
                for (i, c) in cosines.enumerated() {
                    XCTAssertGreaterThanOrEqual(c, minimum, "\(precision) \(what) \(i)", file: file, line: line)
                }
            }
        }
    }
}

/// The same outlier injection on a full-size random ViT-L/14@336, against this code's own fp32 (no
/// transformers at test time). Opt-in: it writes 1.7 GB and encodes full-size images.
///
///     CLIPQ_FULL_OUTLIERS=1 swift test --filter FullSizeOutlierTests
final class FullSizeOutlierTests: XCTestCase {
    func testFullSizeRandomModelWithOutliersHoldsInInt8() throws {
        guard ProcessInfo.processInfo.environment["CLIPQ_FULL_OUTLIERS"] != nil else {
            throw XCTSkip("set CLIPQ_FULL_OUTLIERS=1 to check int8 on a full-size random model with outlier channels")
        }
        let model = try TemporaryModel(self)
        let config = CLIPConfig.vitL14At336
        try writeRandomModel(config, to: model.url)
        // In every layer of both towers, layer_norm1 and layer_norm2 scale 6 channels (the same in
        // every layer) by 30, gamma and beta alike: make_outlier_fixtures.py's moderate variant at
        // ViT-L's widths.
        let file = try SafeTensorsFile(path: model.weightsURL.path)
        let patch = try FileHandle(forUpdating: model.weightsURL)
        defer { try? patch.close() }
        for (tower, layers, width) in [("vision_model", config.vision.tower.layers, config.vision.tower.hiddenSize),
                                       ("text_model", config.text.tower.layers, config.text.tower.hiddenSize)] {
            let channels = (0..<6).map { ($0 * 7919 + 13) % width }
            for layer in 0..<layers {
                for norm in ["layer_norm1", "layer_norm2"] {
                    for part in ["weight", "bias"] {
                        let info = try XCTUnwrap(file.tensors["\(tower).encoder.layers.\(layer).\(norm).\(part)"])
                        let values = file.bytes(info).assumingMemoryBound(to: Float.self)
                        for c in channels {
                            var scaled = values[c] * 30
                            try patch.seek(toOffset: UInt64(info.range.lowerBound + 4 * c))
                            patch.write(Data(bytes: &scaled, count: 4))
                        }
                    }
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
            print("full-size outliers, \(int8.precisionChoice) \(what): cosines to fp32 \(cosines)")
            // Without VNNI (7-bit weights) this measured 0.9949-0.9964 for images on Zen 1 (0.9996 with
            // the same random model without the outliers): below the 0.999 promise, which is why auto
            // never picks int8 there and int8 says so.
            let minimum = cpuHasVNNI ? 0.999 : 0.994
            for (i, c) in cosines.enumerated() { XCTAssertGreaterThanOrEqual(c, minimum, "\(what) \(i)") }
        }
    }
}
