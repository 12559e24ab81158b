/// What a cached embedding is filed under: a SHA-256 over the input's kind, the model identity
/// and the content. For an image the content is the image FILE's bytes as fetched or decoded
/// from base64 (before decoding: the cache is consulted before the decoder's work); for a text
/// it is the token ids, so texts that clean to the same tokens share one entry.
public struct EmbeddingCacheKey: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case image
        case text
    }

    /// The 32 digest bytes as four words: cheap to hash and compare, and no heap storage.
    private let words: (UInt64, UInt64, UInt64, UInt64)

    public init(kind: Kind, content: some Collection<UInt8>, model: ModelIdentity) {
        var hasher = Self.hasher(kind: kind, model: model)
        hasher.update(content)
        self.init(digest: hasher.finalize())
    }

    /// The key of an image file's bytes.
    public static func image(fileBytes: some Collection<UInt8>, model: ModelIdentity) -> EmbeddingCacheKey {
        EmbeddingCacheKey(kind: .image, content: fileBytes, model: model)
    }

    /// The key of a text's token ids as the tokenizer made them.
    public static func text(tokenIDs: [Int], model: ModelIdentity) -> EmbeddingCacheKey {
        var hasher = hasher(kind: .text, model: model)
        hasher.update(tokenIDs)
        return EmbeddingCacheKey(digest: hasher.finalize())
    }

    private static func hasher(kind: Kind, model: ModelIdentity) -> SHA256 {
        var hasher = SHA256()
        // The kind's name ends at a zero byte and the model digest has a fixed length, so the
        // content that follows can never be confused with either.
        hasher.update(Array("clipq-embedding-key:\(kind.rawValue)\0".utf8))
        hasher.update(model.digest)
        return hasher
    }

    init(digest: [UInt8]) {
        precondition(digest.count == 32, "a SHA-256 digest has 32 bytes")
        func word(_ i: Int) -> UInt64 { digest[i * 8..<i * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        words = (word(0), word(1), word(2), word(3))
    }

    /// The 32 digest bytes.
    public var bytes: [UInt8] {
        [words.0, words.1, words.2, words.3].flatMap { word in stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: word >> UInt64($0)) } }
    }

    public var hex: String { hexString(bytes) }
    public var description: String { hex }

    public static func == (a: EmbeddingCacheKey, b: EmbeddingCacheKey) -> Bool {
        a.words == b.words
    }

    public func hash(into hasher: inout Hasher) {
        // The words are already uniformly distributed; one of them is plenty.
        hasher.combine(words.0)
    }
}
