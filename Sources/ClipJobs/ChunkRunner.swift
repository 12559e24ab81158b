import ClipSchema
import ClipPipeline

/// Turns chunks of rows into outcomes, handing each chunk back in order: `completed(i, outcomes)`
/// for chunk i = 0, 1, ... A runner may work on several chunks at once but never reorders them,
/// so the output is always a prefix of the input and a checkpoint is one row count.
public protocol ChunkRunner {
    mutating func run(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws(JobError)
}

/// In process, one chunk at a time through `Embedder` (which batches the chunk's images and
/// texts for the encoder).
public struct InProcessRunner: ChunkRunner {
    public let embedder: Embedder
    public var normalize: Bool

    public init(embedder: Embedder, normalize: Bool = false) {
        self.embedder = embedder
        self.normalize = normalize
    }

    public mutating func run(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws(JobError) {
        for (i, chunk) in chunks.enumerated() {
            let cells = chunk.map { $0.requestRow() }
            var isolation = RowIsolation(cells)
            while !isolation.isComplete {
                for sent in isolation.takeRequests() {
                    let request = EmbeddingRequest(rows: sent.compactMap { try? cells[$0].get() })
                    let reply = Result { () throws(ClipError) in try embedder.embed(request, normalize: normalize) }
                    isolation.receive(reply, for: sent)
                }
            }
            try completed(i, isolation.outcomes.map { $0 ?? .failure(ClipError(.internal, "row not computed")) })
        }
    }
}
