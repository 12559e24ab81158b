/// The encoders as the worker uses them: batches in, embeddings out, safe to call from the
/// encoder thread while other threads prepare input. `CLIPModel` is the implementation; the
/// seam is where another backend (bf16, int8) slots in.
public protocol EmbeddingEncoder: Sendable {
    /// The length of every embedding.
    var embeddingSize: Int { get }
    /// Floats per image: channels x height x width.
    var pixelsPerImage: Int { get }
    /// [B, C, H, W] pixels, images one after another -> B embeddings.
    func encodeImages(pixels: [Float], count: Int) throws -> [[Float]]
    /// Token id lists (start ... end, unpadded) -> one embedding each.
    func encodeTexts(tokenIDs: [[Int]]) throws -> [[Float]]
}
