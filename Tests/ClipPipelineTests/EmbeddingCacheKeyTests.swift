import ClipModel
import ClipModelTestSupport
import Foundation
import XCTest

@testable import ClipPipeline

final class EmbeddingCacheKeyTests: XCTestCase {
    func testAKeyDependsOnKindContentAndModel() throws {
        let model = try ModelIdentity(modelDirectory: TinyModel.directory, precision: "fp32")
        let bf16 = try ModelIdentity(modelDirectory: TinyModel.directory, precision: "bf16")
        let bytes: [UInt8] = Array("not really a JPEG".utf8)
        let key = EmbeddingCacheKey.image(fileBytes: bytes, model: model)
        XCTAssertEqual(key, EmbeddingCacheKey(kind: .image, content: Data(bytes), model: model))
        XCTAssertEqual(key.hashValue, EmbeddingCacheKey.image(fileBytes: bytes, model: model).hashValue)
        XCTAssertNotEqual(key, EmbeddingCacheKey(kind: .text, content: bytes, model: model))
        XCTAssertNotEqual(key, EmbeddingCacheKey.image(fileBytes: bytes, model: bf16))
        XCTAssertNotEqual(key, EmbeddingCacheKey.image(fileBytes: bytes + [0], model: model))
        XCTAssertEqual(key.bytes.count, 32)
        XCTAssertEqual(key.description.count, 64)
        XCTAssertTrue(key.hex.allSatisfy { "0123456789abcdef".contains($0) })
        XCTAssertEqual(EmbeddingCacheKey(digest: key.bytes), key)

        XCTAssertNotEqual(EmbeddingCacheKey.text(tokenIDs: [49406, 320, 49407], model: model),
                          EmbeddingCacheKey.text(tokenIDs: [49406, 321, 49407], model: model))
        XCTAssertNotEqual(EmbeddingCacheKey.text(tokenIDs: [49406, 320, 49407], model: model),
                          EmbeddingCacheKey.text(tokenIDs: [49406, 320, 49407], model: bf16))
    }

    /// The tokenizer lowercases and collapses whitespace: texts that differ only so share a key.
    func testTextsThatTokenizeAlikeShareAKey() throws {
        let preparer = try TinyModel.preparer.get()
        let model = try ModelIdentity(modelDirectory: TinyModel.directory, precision: "fp32")
        let plain = preparer.tokens("a photo of a cat")
        let messy = preparer.tokens("  A photo of a\n CAT ")
        XCTAssertEqual(plain, messy)
        XCTAssertEqual(EmbeddingCacheKey.text(tokenIDs: plain, model: model), EmbeddingCacheKey.text(tokenIDs: messy, model: model))
        XCTAssertNotEqual(EmbeddingCacheKey.text(tokenIDs: plain, model: model),
                          EmbeddingCacheKey.text(tokenIDs: preparer.tokens("a photo of a dog"), model: model))
    }

    func testModelIdentityFollowsEveryFileThatDecidesTheEmbedding() throws {
        let original = try ModelIdentity(modelDirectory: TinyModel.directory, precision: "fp32")
        XCTAssertEqual(original.digest.count, 32)
        XCTAssertEqual(original, try ModelIdentity(modelDirectory: TinyModel.directory, precision: "fp32"))
        XCTAssertNotEqual(original, try ModelIdentity(modelDirectory: TinyModel.directory, precision: "int8"))

        // The same files elsewhere are the same model.
        let copy = try copyOfTinyModel()
        defer { try? FileManager.default.removeItem(at: copy) }
        XCTAssertEqual(try ModelIdentity(modelDirectory: copy, precision: "fp32"), original)

        func identity(after change: (URL) throws -> Void) throws -> ModelIdentity {
            let directory = try copyOfTinyModel()
            defer { try? FileManager.default.removeItem(at: directory) }
            try change(directory)
            return try ModelIdentity(modelDirectory: directory, precision: "fp32")
        }
        func appendSpace(_ name: String) -> (URL) throws -> Void {
            { directory in
                let url = directory.appendingPathComponent(name)
                try (Data(contentsOf: url) + Data(" ".utf8)).write(to: url)
            }
        }
        XCTAssertNotEqual(try identity(after: appendSpace("config.json")), original)
        XCTAssertNotEqual(try identity(after: appendSpace("preprocessor_config.json")), original)
        // Other files of the directory (the tokenizer's) do not decide the embedding of token ids.
        XCTAssertEqual(try identity(after: appendSpace("vocab.json")), original)

        // A weight changed in place: same header, same size, different numbers.
        let changedWeight = try identity { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            var bytes = try Data(contentsOf: url)
            let headerLength = Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            bytes[8 + headerLength] ^= 0x01
            try bytes.write(to: url)
        }
        XCTAssertNotEqual(changedWeight, original)
        XCTAssertNotEqual(try identity(after: appendSpace("model.safetensors")), original)

        XCTAssertNotEqual(
            ModelIdentity(configJSON: [1], weightsFingerprint: [2], preprocessorConfigJSON: [3], precision: "fp32", preprocessingVersion: 1),
            ModelIdentity(configJSON: [1], weightsFingerprint: [2], preprocessorConfigJSON: [3], precision: "fp32", preprocessingVersion: 2))
        // Parts are length-prefixed: moving a byte from one part to the next changes the digest.
        XCTAssertNotEqual(
            ModelIdentity(configJSON: [1, 2], weightsFingerprint: [], preprocessorConfigJSON: [3], precision: "fp32"),
            ModelIdentity(configJSON: [1], weightsFingerprint: [2], preprocessorConfigJSON: [3], precision: "fp32"))
    }

    func testAMissingOrBrokenFileIsAClearError() throws {
        for name in ["config.json", "preprocessor_config.json", "model.safetensors"] {
            let directory = try copyOfTinyModel()
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            XCTAssertThrowsError(try ModelIdentity(modelDirectory: directory, precision: "fp32")) { error in
                let error = error as? ModelError
                XCTAssertEqual(error?.code, .missingFile, name)
                XCTAssertEqual(error?.location, directory.appendingPathComponent(name).path)
            }
        }
        let directory = try copyOfTinyModel()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("model.safetensors")
        try Data([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0x7b]).write(to: weights)  // header "longer" than the file
        XCTAssertThrowsError(try ModelIdentity(modelDirectory: directory, precision: "fp32")) { error in
            XCTAssertEqual((error as? ModelError)?.code, .invalidWeights)
        }
        try Data([1, 2, 3]).write(to: weights)
        XCTAssertThrowsError(try ModelIdentity(modelDirectory: directory, precision: "fp32")) { error in
            XCTAssertEqual((error as? ModelError)?.code, .invalidWeights)
        }
    }

    private func copyOfTinyModel() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-identity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Some fixture files are relative symbolic links: copy what they point at.
        for name in try FileManager.default.contentsOfDirectory(atPath: TinyModel.directory.path) {
            let source = TinyModel.directory.appendingPathComponent(name).resolvingSymlinksInPath()
            try FileManager.default.copyItem(at: source, to: directory.appendingPathComponent(name))
        }
        return directory
    }
}
