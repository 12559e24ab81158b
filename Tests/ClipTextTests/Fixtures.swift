import ClipText
import ClipTestSupport
import Foundation

/// Paths of the committed fixtures (Tests/Fixtures), found from this file's place in the tree.
enum Fixtures {
    static let root = TestFixtures.root
    static let vocabulary = root.appendingPathComponent("clip-vocab")

    /// The real CLIP vocabulary, loaded once for all tests; `try Fixtures.tokenizer.get()`.
    static let tokenizer = Result { () throws(TokenizerError) in try CLIPTokenizer(modelDirectory: vocabulary) }

    struct Case: Decodable {
        let category: String
        let text: String
        let set: String
        let ids: [Int32]
        let open_clip_ids: [Int32]?
        let hf_ids: [Int32]?
    }

    static func cases() throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        let data = try Data(contentsOf: root.appendingPathComponent("tokenizer/fixtures.json"))
        return try JSONDecoder().decode(File.self, from: data).cases
    }
}
