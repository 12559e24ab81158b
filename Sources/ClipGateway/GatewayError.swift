import ClipSchema

/// An error the gateway answers with: the HTTP status, a code clients may switch on, a message
/// for a person and, when the error concerns one place in the request, a JSON Pointer into the
/// body the client sent. Each protocol writes it in its own shape (`ScoreProtocol`,
/// `EmbeddingsProtocol`); the status comes from one table (`httpStatus(for:)`).
public struct GatewayError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    /// A contract `ErrorCode`'s raw value, or one of the HTTP-only codes below.
    public var code: String
    public var message: String
    public var pointer: String?
    /// OpenAI's `param`: the request field at fault.
    public var param: String?
    /// Seconds, for 503 answers: when trying again makes sense.
    public var retryAfter: Int?

    public init(status: Int, code: String, message: String, pointer: String? = nil, param: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.pointer = pointer
        self.param = param
        self.retryAfter = retryAfter
    }

    /// A contract error, from the gateway's own checks or a worker's error reply.
    public init(_ error: ClipError, param: String? = nil) {
        self.init(
            status: Self.httpStatus(for: error.code), code: error.code.rawValue, message: error.message,
            pointer: error.pointer, param: param)
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The one place that says which HTTP status each contract error code gets.
    public static func httpStatus(for code: ErrorCode) -> Int {
        switch code {
        case .invalidJSON, .schemaViolation, .tooManyRows: 400
        case .messageTooLarge: 413
        case .invalidBase64, .urlNotAllowed, .imageFetchFailed, .unsupportedImageFormat, .imageDecodeFailed, .imageTooLarge: 422
        case .deadlineExceeded: 504
        // The gateway always sets reply_to: a worker saying otherwise is a fault, like `internal`.
        case .missingReplyTo, .internal: 500
        }
    }

    // MARK: - Errors only HTTP has (they never travel on the queue)

    public static func unauthorized() -> GatewayError {
        GatewayError(status: 401, code: "unauthorized", message: "a valid API key is required: Authorization: Bearer <key>")
    }

    public static func unsupportedMediaType(_ contentType: String) -> GatewayError {
        GatewayError(
            status: 415, code: "unsupported_media_type",
            message: "the body must be application/json, not \(contentType.prefix(100))")
    }

    public static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: 413, code: ErrorCode.messageTooLarge.rawValue,
            message: "the request body is over the limit of \(limit) bytes")
    }

    public static func unavailable(_ reason: String) -> GatewayError {
        GatewayError(status: 503, code: "unavailable", message: reason, retryAfter: 1)
    }

    public static func deadlineExceeded(milliseconds: Int) -> GatewayError {
        GatewayError(
            status: 504, code: ErrorCode.deadlineExceeded.rawValue,
            message: "no worker answered within the request timeout of \(milliseconds) ms")
    }

    public static func badReply(_ reason: String) -> GatewayError {
        GatewayError(status: 502, code: "bad_reply", message: "the worker's reply could not be read: \(reason)")
    }
}
