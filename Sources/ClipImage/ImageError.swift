/// Why an image could not become a tensor. The codes are the contract's closed list
/// (Schemas/error.schema.json); the worker maps them to its error reply unchanged.
public struct ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidBase64 = "invalid_base64"
        case urlNotAllowed = "url_not_allowed"
        case imageFetchFailed = "image_fetch_failed"
        case unsupportedImageFormat = "unsupported_image_format"
        case imageDecodeFailed = "image_decode_failed"
        case imageTooLarge = "image_too_large"
        case deadlineExceeded = "deadline_exceeded"
        case `internal` = "internal"
    }

    public var code: Code
    /// For a person: what went wrong, never the image bytes.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
