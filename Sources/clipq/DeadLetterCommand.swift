import ArgumentParser
import ClipAMQP
import ClipCommandLine
import ClipSchema
import ClipWorker
import Foundation

/// `clipq dlq`: look at dead letters, replay them, purge them. A dead letter is named by its
/// index as `list` numbers them (its place in the queue, oldest first) or by its correlation id.
struct DeadLetterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay and purge dead letters (requests clipq could not serve).",
        discussion: """
            show and replay name dead letters by their index in `clipq dlq list` (its place in the \
            queue, oldest first, as it stands when the command runs) or by their correlation id. \
            A name that matches no dead letter is an error (exit 1), and replay then replays nothing.
            """,
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter: index, time, code, pointer, correlation id, message.")

        @OptionGroup var broker: BrokerOptions
        @OptionGroup var deadLetters: DeadLetterQueueOptions
        @Option(help: "At most this many.") var limit = 100

        func run() throws {
            let letters = try DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: deadLetters.topology(requestQueue: broker.queue))
                .browse(limit: limit)
            guard !letters.isEmpty else {
                print("no dead letters in \(deadLetters.deadLetterQueue)")
                return
            }
            print(["INDEX", "TIME", "CODE", "POINTER", "CORRELATION_ID", "MESSAGE"].joined(separator: "\t"))
            for letter in letters {
                let record = letter.record
                print([String(letter.position), record.json["time"]?.string ?? "-", record.error.code.rawValue,
                       record.error.pointer ?? "-", letter.delivery.properties.correlationID ?? "-",
                       record.error.message].joined(separator: "\t"))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print dead letters: the record, then the original body decoded.",
            discussion: """
                Prints each dead letter's dead-letter.schema.json record (pretty-printed), then \
                its original body: JSON pretty-printed, other UTF-8 text as it is, anything else \
                as base64. With --json, one record per line and nothing else, for scripts.
                """)

        @OptionGroup var broker: BrokerOptions
        @OptionGroup var deadLetters: DeadLetterQueueOptions
        @Flag(help: "Only the records, one JSON object a line.") var json = false
        @Argument(help: "Indices (as list numbers them) or correlation ids.") var names: [String]

        func run() throws {
            let letters = try DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: deadLetters.topology(requestQueue: broker.queue))
                .browse(limit: .max)
            let chosen = try DeadLetterSelection(names, in: letters)
            for letter in letters where chosen.positions.contains(letter.position) {
                if json {
                    print(JSONWriter.string(letter.record.json))
                    continue
                }
                print("dead letter \(letter.position)")
                print(prettyJSON(letter.record.json))
                print("original body (\(letter.delivery.body.count) bytes):")
                print(decodedBody(letter.delivery.body))
            }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish dead letters back to the request queue as they were first sent, then remove them.")

        @OptionGroup var broker: BrokerOptions
        @OptionGroup var deadLetters: DeadLetterQueueOptions
        @Flag(help: "Replay every dead letter.") var all = false
        @Argument(help: "Indices (as list numbers them) or correlation ids.") var names: [String] = []

        func validate() throws {
            guard all != !names.isEmpty else { throw ValidationError("give indices or correlation ids, or --all") }
        }

        func run() throws {
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: deadLetters.topology(requestQueue: broker.queue))
            var positions: Set<Int>?
            if !all {
                // Every name is resolved before anything moves: a typo replays nothing.
                positions = try DeadLetterSelection(names, in: queue.browse(limit: .max)).positions
            }
            let count = try queue.replay { letter in positions?.contains(letter.position) ?? true }
            print("replayed \(count) to \(broker.queue)")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead letter.")

        @OptionGroup var broker: BrokerOptions
        @OptionGroup var deadLetters: DeadLetterQueueOptions
        @Flag(help: "Really delete them.") var yes = false

        func validate() throws {
            guard yes else { throw ValidationError("purging deletes every dead letter for good: add --yes") }
        }

        func run() throws {
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: deadLetters.topology(requestQueue: broker.queue))
            print("purged \(try queue.purge())")
        }
    }
}

/// The dead letters that names pick, each name an index (as `list` numbers them) or a
/// correlation id; every name must pick at least one.
struct DeadLetterSelection {
    let positions: Set<Int>

    init(_ names: [String], in letters: [DeadLetter]) throws {
        var positions = Set<Int>(), unmatched: [String] = []
        for name in names {
            let picked = letters.filter { String($0.position) == name || $0.delivery.properties.correlationID == name }
            if picked.isEmpty { unmatched.append(name) }
            positions.formUnion(picked.map(\.position))
        }
        guard unmatched.isEmpty else {
            throw CommandError(.notFound, letters.isEmpty
                ? "no dead letters at all (looked for \(unmatched.joined(separator: ", ")))"
                : "no dead letter has the index or correlation id \(unmatched.joined(separator: ", ")) (clipq dlq list shows them)")
        }
        self.positions = positions
    }
}

/// A body as a person wants to read it: JSON pretty-printed, UTF-8 text as it is, else base64.
func decodedBody(_ body: [UInt8]) -> String {
    if let value = try? JSONParser().parse(body) { return prettyJSON(value) }
    if let text = String(validating: body, as: UTF8.self) { return text }
    return "(not UTF-8; base64) " + Data(body).base64EncodedString()
}

/// Indented JSON, members in their order, for reading; scalars as JSONWriter writes them.
func prettyJSON(_ value: JSONValue, indent: String = "") -> String {
    let inner = indent + "  "
    switch value {
    case .array(let items) where !items.isEmpty:
        return "[\n" + items.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
    case .object(let object) where object.count > 0:
        return "{\n" + object.members.map { inner + JSONWriter.string(.string($0.key)) + ": " + prettyJSON($0.value, indent: inner) }
            .joined(separator: ",\n") + "\n" + indent + "}"
    default:
        return JSONWriter.string(value)
    }
}
