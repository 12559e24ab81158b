import ArgumentParser
import ClipAMQP
import ClipCommandLine
import Foundation

/// `clipq queue`: the request queue as the broker sees it, and emptying it.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "How many requests wait and how many workers consume; purge the request queue.",
        subcommands: [Status.self, Purge.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Messages ready and consumers of the request and dead-letter queues.",
            discussion: """
                Asks the broker with a passive queue.declare, which answers the messages ready for \
                delivery and the consumers. Messages delivered but not yet acknowledged (in work \
                at a worker) are not in that answer: RabbitMQ reports them through its management \
                API or `rabbitmqctl list_queues name messages_unacknowledged`, which clipq does not \
                use. Exits 1 if a queue does not exist.
                """)

        @OptionGroup var broker: BrokerOptions
        @OptionGroup var deadLetters: DeadLetterQueueOptions

        func run() throws {
            let connection = try broker.connect("clipq queue")
            defer { connection.close() }
            var rows: [(String, AMQPConnection.QueueStatus)] = []
            for queue in [broker.queue, deadLetters.deadLetterQueue] {
                rows.append((queue, try notFoundIfMissing(queue, "(a worker declares it when it starts)") {
                    try connection.queueStatus(queue)
                }))
            }
            let width = max(5, rows.map(\.0.count).max() ?? 0)
            print("QUEUE".padding(toLength: width, withPad: " ", startingAt: 0) + "  READY  CONSUMERS")
            for (name, status) in rows {
                print(name.padding(toLength: width, withPad: " ", startingAt: 0)
                      + "  " + String(status.messages).leftPadded(5) + "  " + String(status.consumers).leftPadded(9))
            }
            print("(unacknowledged messages: not available without the management API; see clipq queue status --help)")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every request waiting in the request queue (not those in work at a worker).")

        @OptionGroup var broker: BrokerOptions
        @Flag(help: "Really delete them.") var yes = false

        func validate() throws {
            guard yes else { throw ValidationError("purging deletes every waiting request for good: add --yes") }
        }

        func run() throws {
            let connection = try broker.connect("clipq queue")
            defer { connection.close() }
            let purged = try notFoundIfMissing(broker.queue, "") { try connection.purgeQueue(broker.queue) }
            print("purged \(purged) from \(broker.queue)")
        }
    }
}

/// The broker's 404 for a queue as clipq's not_found; other failures as they are.
private func notFoundIfMissing<T>(_ queue: String, _ hint: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        guard (error as? AMQPError)?.replyCode == 404 else { throw error }
        throw CommandError(.notFound, "no queue \(queue) on the broker" + (hint.isEmpty ? "" : " " + hint))
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}
