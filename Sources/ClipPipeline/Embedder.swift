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
        let imageRows = rows.indices.filter { rows[$0].pixels != nil }
        let textRows = rows.indices.filter { rows[$0].tokenIDs != nil }
        do {
            for chunk in imageRows.chunks(of: maxBatch) {
                let features = try encoder.encodeImages(pixels: chunk.flatMap { rows[$0].pixels ?? [] }, count: chunk.count)
                for (row, embedding) in zip(chunk, features) { replies[row].imageFeatures = embedding }
            }
            for chunk in textRows.chunks(of: max(maxBatch, 64)) {
                let features = try encoder.encodeTexts(tokenIDs: chunk.map { rows[$0].tokenIDs ?? [] })
                for (row, embedding) in zip(chunk, features) { replies[row].textFeatures = embedding }
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
