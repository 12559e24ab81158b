import ClipSchema

/// Why an image could not become a tensor, with the contract's code (Schemas/error.schema.json),
/// which the worker passes on unchanged.
public struct ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The codes image ingest can end in.
    public static let codes: [ErrorCode] = [
        .invalidBase64, .urlNotAllowed, .imageFetchFailed, .unsupportedImageFormat, .imageDecodeFailed, .imageTooLarge,
        .deadlineExceeded, .internal,
    ]

    public var code: ErrorCode
    /// For a person: what went wrong, never the image bytes.
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
