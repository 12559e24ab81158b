import ClipSchema
import Foundation

/// One input row of a batch job, named by its file and its row in that file (0-based).
public struct BatchRow: Equatable, Sendable {
    public enum Image: Equatable, Sendable {
        /// A request cell: http(s) URL, base64 or data URI.
        case cell(String)
        /// A local image file, read (and base64-encoded) only when its chunk is sent.
        case file(String)
    }

    public var file: String
    public var row: Int
    public var image: Image?
    public var text: String?
    /// Why the row could not even be read (a line that is not JSON, a row with no cells).
    public var problem: ClipError?

    public init(file: String, row: Int, image: Image? = nil, text: String? = nil, problem: ClipError? = nil) {
        self.file = file
        self.row = row
        self.image = image
        self.text = text
        self.problem = problem ?? (image == nil && text == nil
            ? ClipError(.schemaViolation, "a row must carry an image, a text, or both") : nil)
    }

    /// The row as a request row, or why it cannot be one.
    public func requestRow() -> Result<EmbeddingRequest.Row, ClipError> {
        if let problem { return .failure(problem) }
        switch image {
        case .file(let path)?:
            guard let bytes = FileManager.default.contents(atPath: path) else {
                return .failure(ClipError(.imageDecodeFailed, "cannot read the image file \(path)"))
            }
            return .success(.init(image: bytes.base64EncodedString(), text: text))
        case .cell(let cell)?:
            return .success(.init(image: cell, text: text))
        case nil:
            return .success(.init(text: text))
        }
    }
}

/// What a row came to: its embeddings, or the error that is written in its place.
public typealias RowOutcome = Result<ReplyRow, ClipError>
