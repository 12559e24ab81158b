import ArgumentParser
import ClipSchema
import Foundation

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "The message contract: validate documents, print the schemas and the error codes.",
        subcommands: [Validate.self, Print.self, Codes.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate JSON files against a contract schema.",
            discussion: """
                Prints `FILE: valid`, or `FILE: invalid` and one line per error (pointer, keyword, \
                message). With the request schema (the default) every rule the worker applies before \
                ingest is applied too, with the worker's default limits unless --max-rows is given. \
                Exits 0 only if every file is valid.
                """
        )

        @Option(help: "request, reply, error, dead-letter, or the path of a schema file.")
        var schema: String = "request"

        @Option(help: "The row limit of the request rules (the worker's --max-rows).")
        var maxRows: Int = RequestLimits().maxRows

        @Argument(help: "JSON files to validate.")
        var files: [String]

        func run() throws {
            let check = try makeCheck()
            var allValid = true
            for file in files {
                let problems: [String]
                if let bytes = FileManager.default.contents(atPath: file) {
                    problems = check(Array(bytes))
                } else {
                    problems = ["cannot read the file"]
                }
                if problems.isEmpty {
                    print("\(file): valid")
                } else {
                    allValid = false
                    print("\(file): invalid")
                    for problem in problems { print("  \(problem)") }
                }
            }
            if !allValid { throw ExitCode(1) }
        }

        /// The check for the chosen schema: bytes in, problems out.
        private func makeCheck() throws -> ([UInt8]) -> [String] {
            if schema == BuiltinSchema.request.rawValue {
                let decoder = try RequestDecoder(limits: RequestLimits(maxRows: maxRows))
                return { bytes in
                    do {
                        return decoder.violations(of: try decoder.parse(bytes)).map(\.description)
                    } catch {
                        return ["\(error)"]
                    }
                }
            }
            let compiled: JSONSchema
            if let builtin = BuiltinSchema(rawValue: schema) {
                compiled = try builtin.compiled()
            } else {
                guard let bytes = FileManager.default.contents(atPath: schema) else {
                    throw ValidationError("no built-in schema named \(schema), and no file at that path")
                }
                let others = BuiltinSchema.allCases.compactMap { try? $0.document }
                compiled = try JSONSchema(try JSONParser().parse(Array(bytes)), alongside: others)
            }
            return { bytes in
                do {
                    return compiled.validate(try JSONParser().parse(bytes)).map(\.description)
                } catch {
                    return ["invalid_json: \(error)"]
                }
            }
        }
    }

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a built-in schema.")

        @Argument(help: "request, reply, error or dead-letter.")
        var name: String

        func run() throws {
            guard let schema = BuiltinSchema(rawValue: name) else {
                throw ValidationError("no built-in schema named \(name)")
            }
            FileHandle.standardOutput.write(Data(schema.source))
        }
    }

    struct Codes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the error codes and what each means.")

        func run() {
            for code in ErrorCode.allCases { print("\(code.rawValue)\t\(code.meaning)") }
        }
    }
}
