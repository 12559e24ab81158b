/// Why a tokenizer could not be loaded. Tokenizing itself cannot fail: every string has ids.
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A file of the model directory is missing or unreadable.
        case fileUnreadable = "tokenizer_file_unreadable"
        /// vocab.json is not a JSON object of token to id.
        case vocabularyInvalid = "tokenizer_vocabulary_invalid"
        /// A line of merges.txt is not two tokens of the vocabulary whose join is one too.
        case mergesInvalid = "tokenizer_merges_invalid"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
