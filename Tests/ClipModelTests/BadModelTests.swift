import ClipModel
import Foundation
import XCTest

/// Broken model directories and bad inputs end in a ModelError that says what is wrong, never in
/// a crash.
final class BadModelTests: XCTestCase {
    func loadError(_ dir: TemporaryModel, precision: Precision = .fp32, file: StaticString = #filePath,
                   line: UInt = #line) -> ModelError? {
        do {
            _ = try CLIPModel.load(directory: dir.url, precision: precision.available.precision, weightsCache: .off)
            XCTFail("the model loaded", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testMissingFiles() throws {
        let dir = try TemporaryModel(self)
        XCTAssertEqual(loadError(dir)?.code, .missingFile)
        try dir.writeConfig()
        let error = loadError(dir)
        XCTAssertEqual(error?.code, .missingFile)
        XCTAssertTrue(error?.description.contains("model.safetensors") ?? false, "\(String(describing: error))")
    }

    func testTruncatedWeights() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        let whole = try Data(contentsOf: Fixture.directory.appendingPathComponent("model.safetensors"))
        for size in [0, 5, 100, whole.count / 2, whole.count - 1] {
            try whole.prefix(size).write(to: dir.weightsURL)
            let error = loadError(dir)
            XCTAssertEqual(error?.code, .invalidWeights, "cut at \(size): \(String(describing: error))")
        }
    }

    func testHeaderThatLiesAboutOffsets() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        let name = "text_projection.weight"
        // The header's length field larger than the file.
        var data = try Data(contentsOf: Fixture.directory.appendingPathComponent("model.safetensors"))
        data.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(data.count).littleEndian) { Data($0) })
        try data.write(to: dir.weightsURL)
        XCTAssertEqual(loadError(dir)?.code, .invalidWeights)

        // One tensor's offsets past the end of the data, or not spanning its shape.
        for offsets in [[0, 1 << 40], [8, 4], [0, 10]] {
            try rewriteHeader(dir) { header in
                var entry = header[name] as? [String: Any] ?? [:]
                entry["data_offsets"] = offsets
                header[name] = entry
            }
            let error = loadError(dir)
            XCTAssertEqual(error?.code, .invalidWeights, "\(offsets)")
            XCTAssertTrue(error?.message.contains(name) ?? false, "\(String(describing: error))")
        }

        for edit: (inout [String: Any]) -> Void in [
            { $0[name] = ["dtype": "I64", "shape": [16, 24], "data_offsets": [0, 3072]] },
            { $0[name] = "not an entry" },
            // Elements fit in an Int, bytes do not (2^62 x 4), or the elements do not either.
            { $0[name] = ["dtype": "F32", "shape": [1 << 31, 1 << 31], "data_offsets": [0, 1536]] },
            { $0[name] = ["dtype": "F32", "shape": [1 << 39, 1 << 39], "data_offsets": [0, 1536]] },
        ] {
            try rewriteHeader(dir, edit)
            XCTAssertEqual(loadError(dir)?.code, .invalidWeights)
        }

        var garbage = Data(count: 8)
        garbage.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(4).littleEndian) { Data($0) })
        garbage.append(Data("{{{{".utf8))
        try garbage.write(to: dir.weightsURL)
        XCTAssertEqual(loadError(dir)?.code, .invalidWeights)
    }

    func testMissingAndMisshapenTensorsAreAllNamed() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        try dir.writeWeights { tensors in
            tensors.removeAll { $0.0 == "vision_model.post_layernorm.bias" || $0.0 == "text_model.encoder.layers.1.mlp.fc2.weight" }
            if let i = tensors.firstIndex(where: { $0.0 == "visual_projection.weight" }) {
                tensors[i] = ("visual_projection.weight", [8, 32], [Float](repeating: 0, count: 256))
            }
        }
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.code, .weightsMismatch)
        for name in ["vision_model.post_layernorm.bias", "text_model.encoder.layers.1.mlp.fc2.weight", "visual_projection.weight"] {
            XCTAssertTrue(error.message.contains(name), "\(name) not named in: \(error.message)")
        }
    }

    /// bf16 and int8 convert each weight as they load it: a missing or misshapen tensor must be
    /// reported, not read (its placeholder is one float).
    func testMissingAndMisshapenTensorsAreNamedInEveryPrecision() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig()
        try dir.writeWeights { tensors in
            tensors.removeAll { $0.0 == "vision_model.encoder.layers.0.self_attn.k_proj.weight" || $0.0 == "text_model.encoder.layers.1.mlp.fc2.weight" }
            if let i = tensors.firstIndex(where: { $0.0 == "vision_model.encoder.layers.1.mlp.fc1.weight" }) {
                tensors[i] = ("vision_model.encoder.layers.1.mlp.fc1.weight", [2, 2], [0, 0, 0, 0])
            }
        }
        for precision in Precision.allCases {
            let error = try XCTUnwrap(loadError(dir, precision: precision), "\(precision)")
            XCTAssertEqual(error.code, .weightsMismatch, "\(precision)")
            for name in ["vision_model.encoder.layers.0.self_attn.k_proj.weight", "text_model.encoder.layers.1.mlp.fc2.weight",
                         "vision_model.encoder.layers.1.mlp.fc1.weight"] {
                XCTAssertTrue(error.message.contains(name), "\(precision): \(name) not named in: \(error.message)")
            }
        }
    }

    func testConfigThatDoesNotFitTheWeights() throws {
        let dir = try TemporaryModel(self)
        try dir.writeConfig { json in
            var vision = json["vision_config"] as? [String: Any] ?? [:]
            vision["num_hidden_layers"] = 3
            json["vision_config"] = vision
        }
        try dir.copyWeights()
        let error = loadError(dir)
        XCTAssertEqual(error?.code, .weightsMismatch)
        XCTAssertTrue(error?.message.contains("missing vision_model.encoder.layers.2.mlp.fc1.weight") ?? false)
    }

    func testBadConfigs() throws {
        let dir = try TemporaryModel(self)
        try dir.copyWeights()
        let edits: [(inout [String: Any]) -> Void] = [
            { $0["text_config"] = ["hidden_size": 24, "num_attention_heads": 5] },
            { $0["vision_config"] = ["hidden_act": "relu"] },
            { $0["vision_config"] = ["image_size": 336, "patch_size": 15] },
            { $0["projection_dim"] = -1 },
            { $0["projection_dim"] = "sixteen" },
        ]
        for edit in edits {
            try dir.writeConfig(edit)
            XCTAssertEqual(loadError(dir)?.code, .invalidConfig)
        }
        try Data("not json".utf8).write(to: dir.url.appendingPathComponent("config.json"))
        XCTAssertEqual(loadError(dir)?.code, .invalidConfig)
    }

    func testBadInputs() throws {
        let model = try CLIPModel.load(directory: Fixture.directory)
        XCTAssertThrowsError(try model.encodeImages(pixels: [1, 2, 3], count: 1)) {
            XCTAssertEqual(($0 as? ModelError)?.code, .invalidInput)
        }
        for count in [-1, Int.max / 2] {
            XCTAssertThrowsError(try model.encodeImages(pixels: [], count: count))
        }
        XCTAssertEqual(try model.encodeImages(pixels: [], count: 0), [])
        XCTAssertEqual(try model.encodeTexts(tokenIDs: []), [])
        for ids in [[], [49406, 49408], [-1], [Int](repeating: 1, count: 78)] {
            XCTAssertThrowsError(try model.encodeTexts(tokenIDs: [[49406, 49407], ids])) {
                XCTAssertEqual(($0 as? ModelError)?.code, .invalidInput)
                XCTAssertEqual(($0 as? ModelError)?.location, "text 1")
            }
        }
    }

    /// Rewrites the fixture's safetensors header through `edit`, keeping its data section.
    private func rewriteHeader(_ dir: TemporaryModel, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try Data(contentsOf: Fixture.directory.appendingPathComponent("model.safetensors"))
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + length)) as? [String: Any])
        edit(&header)
        let json = try JSONSerialization.data(withJSONObject: header)
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) }
        out.append(json)
        out.append(data.subdata(in: 8 + length..<data.count))
        try out.write(to: dir.weightsURL)
    }
}
