import ArgumentParser
import Foundation

/// A command that failed at run time, not because of its arguments: printed as
/// `error: <code>: <message>` without the usage text, exit 1.
struct CommandError: Error, CustomStringConvertible {
    enum Code: String {
        /// A named thing (a file, a dead letter, a queue) is not there.
        case notFound = "not_found"
        /// What the command read is not what it takes.
        case invalidInput = "invalid_input"
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code.rawValue): \(message)" }
}

/// How clipq ends on an error. The argument parser's own (a bad flag, a `validate()` refusal,
/// --help, an explicit exit code) print usage or exit as it decides; every other error is a
/// run-time failure: one `error: <code>: <message>` line on stderr (each error type's
/// description is its code and message) and exit 1.
func exitOnError(_ error: any Error, of command: ParsableCommand.Type) -> Never {
    // By module, since some of the parser's errors (a help request) are of internal types.
    if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
        command.exit(withError: error)
    }
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    Foundation.exit(1)
}
