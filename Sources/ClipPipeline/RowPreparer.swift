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

/// A request row made ready for the encoders: the image as the vision tower's input, the
/// text as token ids.
public struct PreparedRow: Sendable {
    public var pixels: [Float]?
    public var tokenIDs: [Int]?

    public init(pixels: [Float]? = nil, tokenIDs: [Int]? = nil) {
        self.pixels = pixels
        self.tokenIDs = tokenIDs
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

    private func tokens(_ text: String, timed: (PreparationStage, Duration) -> Void) -> [Int] {
        let start = ContinuousClock.now
        defer { timed(.tokenize, .now - start) }
        return tokens(text)
    }

    public func pixels(
        _ cell: String, row: Int, deadline: ContinuousClock.Instant?, timed: (ImageIngest.Stage, Duration) -> Void = { _, _ in }
    ) -> Result<[Float], ClipError> {
        images.ingest(cell, deadline: deadline, timed: timed)
            .map(\.values)
            .mapError { ClipError($0, pointer: EmbeddingRequest.imagePointer(row: row)) }
    }

    /// Every row of a request, images prepared concurrently on up to `concurrency` threads.
    /// The error of the first failing row (in row order) wins, so answers are deterministic.
    /// `timed` hears how long each stage took (from several threads at once).
    public func prepare(
        _ request: EmbeddingRequest, concurrency: Int, deadline: ContinuousClock.Instant? = nil,
        timed: @escaping @Sendable (PreparationStage, Duration) -> Void = { _, _ in }
    ) -> Result<[PreparedRow], ClipError> {
        var rows = request.rows.map { row in PreparedRow(pixels: nil, tokenIDs: row.text.map { tokens($0, timed: timed) }) }
        let imageRows = request.rows.indices.filter { request.rows[$0].image != nil }
        let results = ConcurrentResults<Result<[Float], ClipError>>(count: imageRows.count)
        let lanes = max(1, min(concurrency, imageRows.count))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for k in stride(from: lane, to: imageRows.count, by: lanes) {
                let row = imageRows[k]
                results.set(k, pixels(request.rows[row].image ?? "", row: row, deadline: deadline) { timed(.image($0), $1) })
            }
        }
        for (k, row) in imageRows.enumerated() {
            switch results.get(k) {
            case .success(let pixels): rows[row].pixels = pixels
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
