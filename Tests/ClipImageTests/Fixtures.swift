import ClipTestSupport
import Foundation
@testable import ClipImage

/// Tests/Fixtures/images, made by make_fixtures.py there.
enum Fixtures {
    static let directory = TestFixtures.url("images")

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(relativePath)))
    }

    static func inputNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("inputs").path).sorted()
    }

    static func config() throws -> PreprocessorConfig {
        try PreprocessorConfig(contentsOfFile: directory.appendingPathComponent("preprocessor_config.json").path)
    }

    /// normalize.json's per-channel table: the float32 CLIPImageProcessorPil gives each byte.
    static func normalizationTable() throws -> [[Float]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("normalize.json")))
        guard let table = (json as? [String: Any])?["table"] as? [[NSNumber]] else { throw CocoaError(.fileReadCorruptFile) }
        return table.map { $0.map(\.floatValue) }
    }
}
