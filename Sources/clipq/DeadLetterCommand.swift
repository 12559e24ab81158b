import ArgumentParser
import ClipCommandLine
import ClipAMQP
import ClipSchema
import ClipWorker
import Foundation

/// `clipq dlq`: look at dead letters, replay them, purge them.
struct DeadLetterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay and purge dead letters (requests clipq could not serve).",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter: index, time, code, pointer, correlation id, message.")

        @OptionGroup var broker: BrokerOptions
        @Option(help: "At most this many.") var limit = 100

        func run() throws {
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: broker.topology)
            for (index, letter) in try queue.browse(limit: limit).enumerated() {
                let record = letter.record
                let time = record.json["time"]?.string ?? "-"
                print([String(index + 1), time, record.error.code.rawValue, record.error.pointer ?? "-",
                       letter.delivery.properties.correlationID ?? "-", record.error.message].joined(separator: "\t"))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print dead letters as dead-letter.schema.json records (by index from list, or correlation id).")

        @OptionGroup var broker: BrokerOptions
        @Argument(help: "Indices (as list numbers them) or correlation ids.") var ids: [String]

        func run() throws {
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: broker.topology)
            let letters = try queue.browse(limit: .max)
            var found = 0
            for (index, letter) in letters.enumerated() where matches(letter, index: index, ids) {
                print(JSONWriter.string(letter.record.json))
                found += 1
            }
            if found == 0 { throw ValidationError("no dead letter matches \(ids.joined(separator: " "))") }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish dead letters back to the request queue as they were first sent, then remove them.")

        @OptionGroup var broker: BrokerOptions
        @Flag(help: "Replay every dead letter.") var all = false
        @Argument(help: "Correlation ids to replay.") var ids: [String] = []

        func validate() throws {
            guard all != !ids.isEmpty else { throw ValidationError("give correlation ids, or --all") }
        }

        func run() throws {
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: broker.topology)
            let count = try queue.replay { all || ids.contains($0.delivery.properties.correlationID ?? "") }
            print("replayed \(count) to \(broker.queue)")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead letter.")

        @OptionGroup var broker: BrokerOptions
        @Flag(help: "Really delete them.") var yes = false

        func run() throws {
            guard yes else { throw ValidationError("purging deletes every dead letter for good: add --yes") }
            let queue = DeadLetterQueue(connection: try broker.connect("clipq dlq"), topology: broker.topology)
            print("purged \(try queue.purge())")
        }
    }
}

private func matches(_ letter: DeadLetter, index: Int, _ ids: [String]) -> Bool {
    ids.contains(String(index + 1)) || ids.contains(letter.delivery.properties.correlationID ?? "\u{0}")
}
