import ArgumentParser
import ClipAMQP
import ClipCommandLine
import ClipSchema
import Foundation

/// `clipq-bench broker`: what the broker itself sustains for request-sized messages, the ceiling
/// that many workers on many hosts share (competing consumers on one queue). No worker, no model:
/// persistent publishes with confirms into a quorum queue like the request queue, then one
/// consumer taking them with manual acks.
struct BrokerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Measure the broker's throughput for request-sized messages (make bench-broker starts a private broker).",
        discussion: """
            For each --sizes KB: publishes persistent messages of that size with publisher confirms \
            (--window outstanding) to a quorum queue declared for the run, times until all are \
            confirmed, then consumes and acks them all and times that. The queue is deleted after.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(parsing: .upToNextOption, help: "Message sizes in KB (70 KB: a web photo in base64; 560 KB: a 12 MP JPEG).")
    var sizes: [Int] = [1, 70, 560, 4096]

    @Option(help: "MB to move per size (at least 20 messages, at most 5000).")
    var megabytes: Int = 256

    @Option(help: "Publishes awaiting confirmation at once.")
    var window: Int = 128

    @Option(help: "Consumer prefetch.")
    var prefetch: Int = 64

    func validate() throws {
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }), megabytes > 0, window > 0, prefetch > 0 else {
            throw ValidationError("sizes, --megabytes, --window and --prefetch must be positive")
        }
    }

    func run() throws {
        let settings = try broker.settings(connectionName: "clipq-bench broker")
        let connection = try AMQPConnection(settings)
        defer { connection.close() }
        try connection.enableConfirms()
        try connection.setPrefetch(prefetch)
        say("clipq-bench broker: \(settings.url), quorum queue, persistent messages, confirms (window \(window))")
        let report = BenchReport([("broker", .string(settings.url.description))])
        let queue = "clipq.bench-broker.\(getpid())"
        for kilobytes in sizes {
            try connection.declareQueue(queue, arguments: ["x-queue-type": .string("quorum")])
            defer { try? connection.deleteQueue(queue) }
            let body = [UInt8](repeating: UInt8(ascii: "A"), count: kilobytes * 1024)
            let count = min(5000, max(20, megabytes * 1024 / kilobytes))
            let megabytesMoved = Double(count * body.count) / 1e6

            var t = ContinuousClock.now
            try publish(count, body, to: queue, on: connection)
            let publishSeconds = elapsed(since: t)
            t = ContinuousClock.now
            try consume(count, from: queue, on: connection)
            let consumeSeconds = elapsed(since: t)

            for (direction, seconds) in [("publish", publishSeconds), ("consume", consumeSeconds)] {
                report.record("\(kilobytes) KB messages", direction,
                              String(format: "%.0f messages/s, %.0f MB/s (%d messages)", Double(count) / seconds,
                                     megabytesMoved / seconds, count),
                              [("kb", .number(Double(kilobytes))), ("direction", .string(direction)),
                               ("messages", .number(Double(count))), ("per_s", number(Double(count) / seconds)),
                               ("mb_per_s", number(megabytesMoved / seconds))])
            }
        }
        report.printTable(title: "clipq-bench broker (one publisher, then one consumer; persistent, quorum queue)")
    }

    /// Publishes `count` persistent copies of `body`, keeping at most `window` unconfirmed.
    private func publish(_ count: Int, _ body: [UInt8], to queue: String, on connection: AMQPConnection) throws {
        var published = 0, confirmed = 0
        var highestConfirmed: UInt64 = 0  // the channel's sequence numbers go on across calls
        while confirmed < count {
            while published < count && published - confirmed < window {
                let sequence = try connection.publish(routingKey: queue, body: body, properties: AMQPProperties(deliveryMode: 2))
                if published == 0 { highestConfirmed = sequence - 1 }
                published += 1
            }
            switch try connection.nextEvent(timeout: .seconds(30)) {
            case .acked(let sequence, let multiple)?:  // RabbitMQ confirms in order
                confirmed += multiple ? Int(sequence - highestConfirmed) : 1
                highestConfirmed = max(highestConfirmed, sequence)
            case .nacked?: throw BenchError("the broker refused a message (nack)")
            case nil: throw BenchError("no confirm for 30 s")
            default: break
            }
        }
    }

    private func consume(_ count: Int, from queue: String, on connection: AMQPConnection) throws {
        let tag = try connection.consume(queue)
        defer { try? connection.cancel(consumerTag: tag) }
        var received = 0
        while received < count {
            guard let event = try connection.nextEvent(timeout: .seconds(30)) else { throw BenchError("no message for 30 s") }
            if case .delivery(let delivery) = event {
                try connection.ack(delivery.deliveryTag)
                received += 1
            }
        }
    }
}
