/// Why a whole job stopped (a bad row never stops one: it becomes an `error` object in the output).
public struct JobError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case input, output, checkpoint, broker, model
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
