/// Why a model could not be loaded or an input could not be encoded. Errors are values: a closed
/// code a caller can switch on, a message a person can act on, and where it happened.
public struct ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A file of the model directory is missing or unreadable.
        case missingFile = "missing_file"
        /// config.json is not valid JSON or describes an impossible model.
        case invalidConfig = "invalid_config"
        /// model.safetensors is truncated, or its header is malformed or lies about offsets.
        case invalidWeights = "invalid_weights"
        /// Tensors the config needs are missing, have the wrong shape or an unsupported dtype.
        case weightsMismatch = "weights_mismatch"
        /// An encode call got input the model cannot take (wrong pixel count, bad token ids).
        case invalidInput = "invalid_input"
    }

    public var code: Code
    public var message: String
    /// The file (or input item) the error is about, where one applies.
    public var location: String?

    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        "\(code.rawValue): \(message)" + (location.map { " (\($0))" } ?? "")
    }
}
