import ClipSchema
import Foundation

/// The in-process path (`clipq embed`, batch jobs): one request's rows prepared, encoded in
/// batches of `maxBatch`, and returned as reply rows. No broker, no cross-request batching.
public struct Embedder: Sendable {
    public let encoder: any EmbeddingEncoder
    public let preparer: RowPreparer
    public var maxBatch: Int
    public var ingestThreads: Int

    public init(encoder: any EmbeddingEncoder, preparer: RowPreparer, maxBatch: Int = 8, ingestThreads: Int = 4) {
        self.encoder = encoder
        self.preparer = preparer
        self.maxBatch = max(1, maxBatch)
        self.ingestThreads = ingestThreads
    }

    /// The reply rows of `request`; `normalize` scales each embedding to unit length.
    public func embed(_ request: EmbeddingRequest, normalize: Bool = false) throws(ClipError) -> [ReplyRow] {
        let rows = try preparer.prepare(request, concurrency: ingestThreads).get()
        var replies = Array(repeating: ReplyRow(), count: rows.count)
        var images: [(row: Int, pixels: [Float])] = []
        var texts: [(row: Int, ids: [Int])] = []
        for (row, prepared) in rows.enumerated() {
            switch prepared.image {
            case .input(let pixels, _)?: images.append((row, pixels))
            case .cached(let embedding)?: replies[row].imageFeatures = embedding
            case nil: break
            }
            switch prepared.text {
            case .input(let ids, _)?: texts.append((row, ids))
            case .cached(let embedding)?: replies[row].textFeatures = embedding
            case nil: break
            }
        }
        do {
            for chunk in images.chunks(of: maxBatch) {
                let features = try encoder.encodeImages(pixels: chunk.flatMap(\.pixels), count: chunk.count)
                for (cell, embedding) in zip(chunk, features) { replies[cell.row].imageFeatures = embedding }
            }
            for chunk in texts.chunks(of: max(maxBatch, 64)) {
                let features = try encoder.encodeTexts(tokenIDs: chunk.map(\.ids))
                for (cell, embedding) in zip(chunk, features) { replies[cell.row].textFeatures = embedding }
            }
        } catch {
            throw ClipError(.internal, "the encoder failed: \(error)")
        }
        return normalize ? replies.map(\.normalized) : replies
    }
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
