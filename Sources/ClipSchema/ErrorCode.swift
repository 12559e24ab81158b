/// The closed list of error codes a client can receive (Schemas/error.schema.json holds the
/// same list; a test keeps them equal). Clients may switch on these.
public enum ErrorCode: String, CaseIterable, Sendable {
    case messageTooLarge = "message_too_large"
    case invalidJSON = "invalid_json"
    case schemaViolation = "schema_violation"
    case tooManyRows = "too_many_rows"
    case missingReplyTo = "missing_reply_to"
    case invalidBase64 = "invalid_base64"
    case urlNotAllowed = "url_not_allowed"
    case imageFetchFailed = "image_fetch_failed"
    case unsupportedImageFormat = "unsupported_image_format"
    case imageDecodeFailed = "image_decode_failed"
    case imageTooLarge = "image_too_large"
    case deadlineExceeded = "deadline_exceeded"
    case `internal` = "internal"

    /// What the code means, for docs/contract.md and `clipq schema codes`.
    public var meaning: String {
        switch self {
        case .messageTooLarge: "the message body is larger than the worker's limit"
        case .invalidJSON: "the body is not UTF-8 JSON (syntax, encoding, duplicate keys, nesting too deep)"
        case .schemaViolation: "the JSON does not follow request.schema.json or a request rule (e.g. index and data lengths differ)"
        case .tooManyRows: "the request has more rows than the worker's limit; split it"
        case .missingReplyTo: "the message has no reply_to property, so there is nowhere to answer"
        case .invalidBase64: "an image cell is neither a URL nor valid standard base64"
        case .urlNotAllowed: "an image URL is not http(s), or points to an address the worker may not reach"
        case .imageFetchFailed: "an image URL could not be fetched (HTTP error, timeout, too many redirects)"
        case .unsupportedImageFormat: "the image bytes are not JPEG, PNG or WebP"
        case .imageDecodeFailed: "the image is truncated or corrupt"
        case .imageTooLarge: "the image has more pixels, or more bytes, than the worker's limit"
        case .deadlineExceeded: "the request's x-deadline or expiration passed before it was computed"
        case .internal: "a fault in the worker; the request may succeed if retried"
        }
    }
}

/// An error as clients see it: a code, a message for a person and, when the error concerns one
/// place in the request, a JSON Pointer to it.
public struct ClipError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var pointer: String?

    public init(_ code: ErrorCode, _ message: String, pointer: String? = nil) {
        self.code = code
        self.message = message
        self.pointer = pointer
    }

    public var description: String {
        "\(code.rawValue): \(message)" + (pointer.map { " at \($0.isEmpty ? "/" : $0)" } ?? "")
    }

    /// `{"code": ..., "message": ..., "pointer": ...}`
    public var json: JSONValue {
        var object = JSONObject()
        object["code"] = .string(code.rawValue)
        object["message"] = .string(message)
        if let pointer { object["pointer"] = .string(pointer) }
        return .object(object)
    }

    /// The error reply body: `{"error": {...}}`.
    public var replyBody: [UInt8] {
        JSONWriter.serialize(["error": json])
    }
}
