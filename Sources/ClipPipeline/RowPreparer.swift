import ClipImage
import ClipSchema
import ClipText
import Dispatch
import Foundation

/// Where preparation time goes, for whoever measures it (the worker's metrics).
public enum PreparationStage: Hashable, Sendable {
    case image(ImageIngest.Stage)
    case tokenize
}

/// One cell made ready: the encoder's input, with its content key (identical inputs share one),
/// or the embedding a cache already held for that content.
public enum PreparedCell<Input: Sendable>: Sendable {
    case input(Input, key: EmbeddingCacheKey?)
    case cached([Float])
}

/// A request row made ready for the encoders: the image as the vision tower's input, the text
/// as token ids, each absent where the row has no such cell.
public struct PreparedRow: Sendable {
    public var image: PreparedCell<[Float]>?
    public var text: PreparedCell<[Int]>?

    public init(image: PreparedCell<[Float]>? = nil, text: PreparedCell<[Int]>? = nil) {
        self.image = image
        self.text = text
    }
}

/// Where prepared cells look their embeddings up: content keys are made for `model`, and a hit
/// in `cache` skips the encoder (and, for an image, its decoding).
public struct PreparationCache: Sendable {
    public let model: ModelIdentity
    public let cache: (any EmbeddingCache)?

    public init(model: ModelIdentity, cache: (any EmbeddingCache)?) {
        self.model = model
        self.cache = cache
    }
}

/// Turns request rows into encoder input: images fetched, decoded and preprocessed as
/// CLIPImageProcessor does, texts tokenized as CLIP's tokenizer does. Safe to share between
/// threads. Errors come back as the contract's errors, pointing at the cell.
public struct RowPreparer: Sendable {
    public let tokenizer: CLIPTokenizer
    public let images: ImageIngest

    public init(tokenizer: CLIPTokenizer, images: ImageIngest) {
        self.tokenizer = tokenizer
        self.images = images
    }

    public func tokens(_ text: String) -> [Int] {
        tokenizer.encode(text).map(Int.init)
    }

    private func text(_ text: String, cache: PreparationCache?, timed: (PreparationStage, Duration) -> Void) -> PreparedCell<[Int]> {
        let start = ContinuousClock.now
        let ids = tokens(text)
        timed(.tokenize, .now - start)
        guard let cache else { return .input(ids, key: nil) }
        let key = EmbeddingCacheKey.text(tokenIDs: ids, model: cache.model)
        if let embedding = cache.cache?.embedding(for: key) { return .cached(embedding) }
        return .input(ids, key: key)
    }

    /// An image cell as pixels; with a cache, keyed by the image file's bytes and looked up
    /// before it is decoded.
    public func image(
        _ cell: String, row: Int, deadline: ContinuousClock.Instant?, cache: PreparationCache? = nil,
        timed: (ImageIngest.Stage, Duration) -> Void = { _, _ in }
    ) -> Result<PreparedCell<[Float]>, ClipError> {
        Result { () throws(ImageError) -> PreparedCell<[Float]> in
            let bytes = try images.fileBytes(cell, deadline: deadline, timed: timed)
            let key = cache.map { EmbeddingCacheKey.image(fileBytes: bytes, model: $0.model) }
            if let key, let embedding = cache?.cache?.embedding(for: key) { return .cached(embedding) }
            return .input(try images.tensor(from: bytes, deadline: deadline, timed: timed).values, key: key)
        }
        .mapError { ClipError($0, pointer: EmbeddingRequest.imagePointer(row: row)) }
    }

    /// Every row of a request, images prepared concurrently on up to `concurrency` threads.
    /// The error of the first failing row (in row order) wins, so answers are deterministic.
    /// `timed` hears how long each stage took (from several threads at once).
    public func prepare(
        _ request: EmbeddingRequest, concurrency: Int, deadline: ContinuousClock.Instant? = nil, cache: PreparationCache? = nil,
        timed: @escaping @Sendable (PreparationStage, Duration) -> Void = { _, _ in }
    ) -> Result<[PreparedRow], ClipError> {
        var rows = request.rows.map { row in PreparedRow(text: row.text.map { text($0, cache: cache, timed: timed) }) }
        let imageRows = request.rows.indices.filter { request.rows[$0].image != nil }
        let results = ConcurrentResults<Result<PreparedCell<[Float]>, ClipError>>(count: imageRows.count)
        let lanes = max(1, min(concurrency, imageRows.count))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for k in stride(from: lane, to: imageRows.count, by: lanes) {
                let row = imageRows[k]
                results.set(k, image(request.rows[row].image ?? "", row: row, deadline: deadline, cache: cache) { timed(.image($0), $1) })
            }
        }
        for (k, row) in imageRows.enumerated() {
            switch results.get(k) {
            case .success(let cell): rows[row].image = cell
            case .failure(let error): return .failure(error)
            case nil: return .failure(ClipError(.internal, "image row \(row) was not prepared"))
            }
        }
        return .success(rows)
    }
}

/// Slots written by concurrent workers, each slot by one.
final class ConcurrentResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) {
        slots = Array(repeating: nil, count: count)
    }

    func set(_ index: Int, _ value: T) { lock.withLock { slots[index] = value } }
    func get(_ index: Int) -> T? { lock.withLock { slots[index] } }
}

extension ClipError {
    /// An image error as the contract's error, pointing at its cell.
    public init(_ error: ImageError, pointer: String?) {
        self.init(error.code, error.message, pointer: pointer)
    }
}
