import ClipModel
import ClipTensor
import Foundation
import XCTest

/// The converted-weights cache on the tiny model, in a copy of its directory: written on the first
/// load, mapped by the next, rebuilt when stale or damaged, and never changing an embedding.
final class WeightsCacheTests: XCTestCase {
    var model: URL!

    /// The precisions this CPU converts (nothing to cache without bf16 or VNNI).
    var precisions: [Precision] { [Precision.bf16, .int8].filter { $0.available.precision == $0 } }

    override func setUpWithError() throws {
        model = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: Fixture.directory.appendingPathComponent(name).resolvingSymlinksInPath(),
                                             to: model.appendingPathComponent(name))
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: model)
    }

    func cacheFile(_ precision: Precision) -> String { model.appendingPathComponent("model.clipq-\(precision.rawValue).cache").path }

    func embeddings(_ m: CLIPModel) throws -> [[Float]] {
        try m.encodeImages(pixels: Fixture.pixels(count: 1), count: 1) + m.encodeTexts(tokenIDs: [[49406, 320, 1929, 49407]])
    }

    func testTheFirstLoadWritesTheCacheAndTheNextMapsIt() throws {
        guard !precisions.isEmpty else { throw XCTSkip("no bf16 or VNNI: nothing is converted") }
        for precision in precisions {
            let uncached = try CLIPModel.load(directory: model, precision: precision, weightsCache: .off)
            XCTAssertEqual(uncached.convertedWeights, .converted(why: "the weights cache is off"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: cacheFile(precision)))

            let first = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
            XCTAssertEqual(first.convertedWeights, .mapped(path: cacheFile(precision), rebuilt: "missing"), "\(precision)")
            let second = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
            XCTAssertEqual(second.convertedWeights, .mapped(path: cacheFile(precision), rebuilt: nil), "\(precision)")
            // The cached bytes are the converted ones: the same embeddings, bit for bit.
            XCTAssertEqual(try embeddings(second), try embeddings(uncached), "\(precision)")
            XCTAssertEqual(try embeddings(first), try embeddings(uncached), "\(precision)")
        }
    }

    func testAStaleCacheIsRebuilt() throws {
        guard let precision = precisions.last else { throw XCTSkip("no bf16 or VNNI") }
        _ = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
        // The checkpoint is replaced (here: touched, as a copy over it would).
        let weights = model.appendingPathComponent("model.safetensors")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: weights.path)
        let rebuilt = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
        guard case .mapped(cacheFile(precision), let why?) = rebuilt.convertedWeights else {
            return XCTFail("\(rebuilt.convertedWeights)")
        }
        XCTAssertTrue(why.contains("stale") && why.contains("changed"), why)
        let again = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
        XCTAssertEqual(again.convertedWeights, .mapped(path: cacheFile(precision), rebuilt: nil))
    }

    func testADamagedCacheIsRebuiltNotUsed() throws {
        guard let precision = precisions.last else { throw XCTSkip("no bf16 or VNNI") }
        let reference = try embeddings(try CLIPModel.load(directory: model, precision: precision, weightsCache: .off))
        _ = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
        let path = cacheFile(precision)
        let intact = try Data(contentsOf: URL(fileURLWithPath: path))
        var flipped = intact
        flipped[intact.count - 100] ^= 0x5A  // inside the last layer's data
        let damages: [(String, Data)] = [
            ("checksum", flipped),
            ("outside the file", intact.prefix(intact.count - 1000)),
            ("truncated", intact.prefix(100)),
            ("not a clipq weights cache", Data(repeating: 7, count: 8192)),
            ("corrupt", intact.prefix(8) + Data(repeating: 0xFF, count: 8) + intact.dropFirst(16)),
        ]
        for (what, bytes) in damages {
            try bytes.write(to: URL(fileURLWithPath: path))
            let m = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
            guard case .mapped(path, let why?) = m.convertedWeights else { return XCTFail("\(what): \(m.convertedWeights)") }
            XCTAssertTrue(why.contains(what), "\(what): \(why)")
            XCTAssertEqual(try embeddings(m), reference, what)
            let next = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
            XCTAssertEqual(next.convertedWeights, .mapped(path: path, rebuilt: nil), "\(what): rewritten whole")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, intact.count, what)
        }
    }

    /// Where the cache cannot be written beside the model (here a directory stands in its way, as
    /// root writes anywhere), the fallback directory holds it; `.directory` writes only there.
    func testTheFallbackDirectoryHoldsTheCacheWhenTheModelDirectoryCannot() throws {
        guard let precision = precisions.last else { throw XCTSkip("no bf16 or VNNI") }
        try FileManager.default.createDirectory(atPath: cacheFile(precision), withIntermediateDirectories: false)
        let elsewhere = model.appendingPathComponent("elsewhere")
        let first = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: elsewhere))
        guard case .mapped(let path, _?) = first.convertedWeights else { return XCTFail("\(first.convertedWeights)") }
        XCTAssertTrue(path.hasPrefix(elsewhere.path), path)
        let second = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: elsewhere))
        XCTAssertEqual(second.convertedWeights, .mapped(path: path, rebuilt: nil))
        let only = try CLIPModel.load(directory: model, precision: precision, weightsCache: .directory(elsewhere))
        XCTAssertEqual(only.convertedWeights, .mapped(path: path, rebuilt: nil))

        // Nowhere to write: converted, and it says why.
        let nowhere = try CLIPModel.load(directory: model, precision: precision, weightsCache: .auto(fallback: nil))
        guard case .converted(let why) = nowhere.convertedWeights else { return XCTFail("\(nowhere.convertedWeights)") }
        XCTAssertTrue(why.contains("cannot write"), why)
    }

    func testFP32NeedsNoCache() throws {
        let m = try CLIPModel.load(directory: model, precision: .fp32, weightsCache: .auto(fallback: nil))
        XCTAssertEqual(m.convertedWeights, .none)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: model.path).sorted(), ["config.json", "model.safetensors"])
    }
}
