import Foundation

/// OpenAI CLIP's tokenizer, exactly as open_clip's `SimpleTokenizer` runs it: text cleaning
/// (ftfy's deterministic fixes, HTML unescaping, white space, lower case), the pre-tokenizer
/// regex, byte-level BPE, then `<|startoftext|>` ... `<|endoftext|>`, truncated to the context.
///
/// Immutable once loaded; `encode` may be called from any number of threads at once (the BPE
/// cache inside is locked). Text that spells a control token ("<|endoftext|>",
/// "<end_of_text>") is tokenized as text: only `encode` puts the control ids in, so a caller
/// cannot move the position the text encoder pools.
public final class CLIPTokenizer: Sendable {
    /// The context length of every OpenAI CLIP text encoder.
    public static let contextLength = 77

    public let startOfTextID: Int32
    public let endOfTextID: Int32
    public let vocabularySize: Int

    let vocabulary: Vocabulary
    let cache: BPECache

    /// Loads `vocab.json` and `merges.txt` from a Hugging Face model directory.
    public convenience init(modelDirectory: URL, cacheCapacity: Int = 100_000) throws(TokenizerError) {
        func read(_ name: String) throws(TokenizerError) -> Data {
            let url = modelDirectory.appendingPathComponent(name)
            do {
                return try Data(contentsOf: url)
            } catch {
                throw TokenizerError(.fileUnreadable, "cannot read \(url.path): \(error.localizedDescription)")
            }
        }
        let vocab = try read("vocab.json")
        guard let merges = String(data: try read("merges.txt"), encoding: .utf8) else {
            throw TokenizerError(.mergesInvalid, "merges.txt is not UTF-8")
        }
        try self.init(vocabJSON: vocab, merges: merges, cacheCapacity: cacheCapacity)
    }

    /// `cacheCapacity` bounds the number of pre-tokens whose ids are remembered (0: none).
    public init(vocabJSON: Data, merges: String, cacheCapacity: Int = 100_000) throws(TokenizerError) {
        vocabulary = try Vocabulary(vocabJSON: vocabJSON, merges: merges)
        startOfTextID = vocabulary.startOfText
        endOfTextID = vocabulary.endOfText
        vocabularySize = vocabulary.count
        cache = BPECache(capacity: cacheCapacity)
    }

    /// The ids from `<|startoftext|>` to `<|endoftext|>` inclusive, unpadded. Text past the
    /// context is cut and `<|endoftext|>` stays last, as the reference does; a context length
    /// below 2 counts as 2.
    public func encode(_ text: String, contextLength: Int = CLIPTokenizer.contextLength) -> [Int32] {
        let limit = max(contextLength, 2) - 2
        var ids: [Int32] = [startOfTextID]
        ids.reserveCapacity(min(limit, 32) + 2)
        textIDs(text, limit: limit) { ids.append(contentsOf: $0) }
        if ids.count > limit + 1 { ids.removeLast(ids.count - limit - 1) }
        ids.append(endOfTextID)
        return ids
    }

    /// Hands the ids of each pre-token of the cleaned text to `sink`, stopping once at least
    /// `limit` ids were handed over: the rest would be cut anyway.
    func textIDs(_ text: String, limit: Int, _ sink: ([Int32]) -> Void) {
        var produced = 0
        var bytes: [UInt8] = []
        preTokenize(cleanText(text)) { piece in
            guard produced < limit else { return false }
            bytes.removeAll(keepingCapacity: true)
            for scalar in piece { appendUTF8(scalar, to: &bytes) }
            let ids = pieceIDs(bytes)
            sink(ids)
            produced += ids.count
            return true
        }
    }

    /// The BPE ids of one pre-token's UTF-8 bytes.
    func pieceIDs(_ bytes: [UInt8]) -> [Int32] {
        if let ids = cache.ids(for: bytes) { return ids }
        var word = bytes.map { vocabulary.byteSymbol[Int($0)] }
        if let last = bytes.last { word[word.count - 1] = vocabulary.byteSymbolEndOfWord[Int(last)] }
        let ids = mergeBytePairs(word, merges: vocabulary.merges)
        cache.insert(ids, for: bytes)
        return ids
    }
}

@inline(__always)
func appendUTF8(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
    let v = scalar.value
    switch v {
    case ..<0x80:
        bytes.append(UInt8(v))
    case ..<0x800:
        bytes.append(UInt8(0xC0 | v >> 6))
        bytes.append(UInt8(0x80 | v & 0x3F))
    case ..<0x10000:
        bytes.append(UInt8(0xE0 | v >> 12))
        bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
        bytes.append(UInt8(0x80 | v & 0x3F))
    default:
        bytes.append(UInt8(0xF0 | v >> 18))
        bytes.append(UInt8(0x80 | v >> 12 & 0x3F))
        bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
        bytes.append(UInt8(0x80 | v & 0x3F))
    }
}
