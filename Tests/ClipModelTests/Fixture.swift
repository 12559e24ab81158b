import ClipFixtures
import ClipModel
import ClipTestSupport
import Foundation
import XCTest

/// The tiny random CLIP made by Tests/Fixtures/tiny-clip/make_fixtures.py, and what transformers
/// computed for it.
enum Fixture {
    static let directory = TestFixtures.url("tiny-clip")

    struct Reference: Decodable {
        struct Embeddings: Decodable {
            var image: [[Float]]?
            var text: [[Float]]
        }
        var token_ids: [[Int]]
        var image_count: Int
        var quick_gelu: Embeddings
        var gelu: Embeddings?
        var legacy_eos: Embeddings?
    }

    static func reference(in directory: URL = directory, file: String = "reference.json") throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory.appendingPathComponent(file)))
    }

    /// The script's `pixels()`: [count, channels, size, size], integer arithmetic then one rounding.
    static func pixels(count: Int, channels: Int = 3, size: Int = 336) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(count * channels * size * size)
        for b in 0..<count {
            for c in 0..<channels {
                for y in 0..<size {
                    for x in 0..<size {
                        out.append(Float(Double((x * 7 + y * 13 + c * 29 + b * 31) % 97) / 48 - 1))
                    }
                }
            }
        }
        return out
    }

    /// Every tensor of a safetensors file as fp32 values (to rewrite it changed).
    static func tensors(_ url: URL = directory.appendingPathComponent("model.safetensors")) throws -> [(String, [Int], [Float])] {
        let file = try SafeTensorsFile(path: url.path)
        return file.tensors.sorted { $0.key < $1.key }.map { name, info in
            let raw = file.bytes(info)
            let values: [Float] = (0..<info.count).map { i in
                switch info.dtype {
                case .f32: raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                case .f16: Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                case .bf16: Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                }
            }
            return (name, info.shape, values)
        }
    }
}

/// A scratch model directory, removed when the test ends.
final class TemporaryModel {
    let url: URL

    init(_ test: XCTestCase) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let url = self.url
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    }

    /// The fixture's config.json, with `edit` applied to its JSON object.
    func writeConfig(_ edit: (inout [String: Any]) -> Void = { _ in }) throws {
        let data = try Data(contentsOf: Fixture.directory.appendingPathComponent("config.json"))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent("config.json"))
    }

    /// The fixture's weights rewritten as `dtype`, with `edit` applied to the list of tensors.
    func writeWeights(dtype: DType = .f32, _ edit: (inout [(String, [Int], [Float])]) -> Void = { _ in }) throws {
        var tensors = try Fixture.tensors()
        edit(&tensors)
        var writer = SafeTensorsWriter()
        for (name, shape, values) in tensors { writer.add(name, shape: shape, dtype: dtype, values: values) }
        try writer.write(to: weightsURL)
    }

    func copyWeights() throws {
        try FileManager.default.copyItem(at: Fixture.directory.appendingPathComponent("model.safetensors"), to: weightsURL)
    }

    var weightsURL: URL { url.appendingPathComponent("model.safetensors") }
}

/// Parity as the issue defines it: cosine >= 0.99999 and max abs error <= 1e-4 of the reference's norm.
func assertParity(_ got: [[Float]], _ want: [[Float]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
    for (i, (g, w)) in zip(got, want).enumerated() {
        XCTAssertEqual(g.count, w.count, "\(what) \(i): length", file: file, line: line)
        var dot = 0.0, gg = 0.0, ww = 0.0, worst = 0.0
        for (a, b) in zip(g, w) {
            dot += Double(a) * Double(b); gg += Double(a) * Double(a); ww += Double(b) * Double(b)
            worst = max(worst, abs(Double(a) - Double(b)))
        }
        let cosine = dot / (gg.squareRoot() * ww.squareRoot())
        XCTAssertGreaterThanOrEqual(cosine, 0.99999, "\(what) \(i): cosine", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1e-4 * ww.squareRoot(), "\(what) \(i): max abs error \(worst)", file: file, line: line)
    }
}
