import ArgumentParser
import ClipAMQP
import ClipClient
import ClipCommandLine
import ClipSchema
import ClipWorker
import Foundation

/// `clipq-bench worker`: a running worker's throughput at saturation and its latency when idle,
/// beside the same work done in process in the same run (`make bench-worker` starts a private
/// broker and the worker first).
struct WorkerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Measure a running worker through the broker against the same work in process.",
        discussion: """
            Needs a worker serving the queue on the same model (make bench-worker starts one). \
            Saturation: publishes every request at once and times until the last reply, then runs \
            the same rows in process. Idle latency: one caption at a time, round trip, against \
            the encoder time of one caption in process.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var fixtures: FixtureOptions

    @Option(help: "Image requests (one image each) for the saturation run.") var images = 16
    @Option(help: "Caption requests (one caption each) for the saturation run.") var texts = 256
    @Option(help: "One-caption round trips for the idle latency.") var pings = 30
    @Option(help: "Also offer captions at this many requests per second (open loop, --texts of them) and report the latency percentiles.")
    var rate: Double?
    @Flag(inversion: .prefixedNo, help: "Run the same work in process for comparison (loads the model here too).")
    var inProcess = true

    func run() throws {
        try InProcessBenchCommand.ensureModel(model.model, fixtures: fixtures)
        let embedder = inProcess ? try model.embedder() : nil
        let client = try BenchClient(settings: try broker.settings(connectionName: "clipq-bench worker"), queue: broker.queue)
        let image = try fixtures.read(fixtures.photo).base64EncodedString()
        let captions = (0..<texts).map { "a photo of thing number \($0) on a table" }
        say("clipq-bench worker: \(model.model), worker on \(broker.queue) (figures are noisy: compare within this run)")

        // Warm both sides up: the worker's first batch pages the weights in.
        _ = try client.roundTrip([Self.body(image: image)] + [Self.body(text: "warm up")])
        _ = try embedder?.embed(EmbeddingRequest(rows: [.init(image: image), .init(text: "warm up")]))

        for (name, bodies, rows) in [
            ("captions", captions.map { Self.body(text: $0) }, captions.map { EmbeddingRequest.Row(text: $0) }),
            ("images", Array(repeating: Self.body(image: image), count: images), Array(repeating: EmbeddingRequest.Row(image: image), count: images)),
        ] where !bodies.isEmpty {
            let brokerRate = Double(bodies.count) / (try client.roundTrip(bodies))
            guard let embedder else {
                say(String(format: "%@: through the broker %.2f/s (%d requests of one row)", name, brokerRate, bodies.count))
                continue
            }
            let t = ContinuousClock.now
            for chunk in stride(from: 0, to: rows.count, by: 64) {
                _ = try embedder.embed(EmbeddingRequest(rows: Array(rows[chunk..<min(chunk + 64, rows.count)])))
            }
            let processRate = Double(rows.count) / seconds(ContinuousClock.now - t)
            say(String(format: "%@: through the broker %.2f/s (%d requests of one row), in process %.2f/s: %.0f%%",
                       name, brokerRate, bodies.count, processRate, 100 * brokerRate / processRate))
        }

        if let rate {
            let (latencies, total) = try client.paced(captions.map { Self.body(text: $0) }, rate: rate)
            let sorted = latencies.sorted()
            func percentile(_ p: Double) -> Double { 1000 * sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] }
            say(String(format: "captions offered at %.1f/s: answered %.2f/s, latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
                       rate, Double(latencies.count) / total, percentile(0.5), percentile(0.9), percentile(0.99),
                       1000 * (sorted.last ?? 0)))
        }

        var roundTrips: [Double] = [], encodes: [Double] = []
        for i in 0..<pings {
            roundTrips.append(try client.roundTrip([Self.body(text: "a photo of a cat \(i)")]))
            guard let embedder else { continue }
            let t = ContinuousClock.now
            _ = try embedder.encoder.encodeTexts(tokenIDs: [embedder.preparer.tokens("a photo of a cat \(i)")])
            encodes.append(seconds(ContinuousClock.now - t))
        }
        guard pings > 0 else { return }
        let p50 = median(roundTrips) * 1000
        if encodes.isEmpty {
            say(String(format: "idle latency, one caption: p50 round trip %.1f ms", p50))
        } else {
            let encode = median(encodes) * 1000
            say(String(format: "idle latency, one caption: p50 round trip %.1f ms, encoder %.1f ms in process: +%.1f ms",
                       p50, encode, p50 - encode))
        }
    }

    static func body(image: String? = nil, text: String? = nil) -> [UInt8] {
        RequestEncoder.encode(images: image.map { [$0] } ?? [], texts: text.map { [$0] } ?? [])
    }
}

/// Publishes a set of requests at once and waits for all their replies.
private final class BenchClient {
    let connection: AMQPConnection
    let queue: String
    let replyQueue: String

    init(settings: AMQPSettings, queue: String) throws {
        connection = try AMQPConnection(settings)
        self.queue = queue
        replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try connection.consume(replyQueue)
    }

    /// Publishes `bodies` at `rate` per second whatever the replies do (open loop, as independent
    /// clients would); each request's seconds from publish to reply, and the seconds until the last.
    func paced(_ bodies: [[UInt8]], rate: Double) throws -> (latencies: [Double], seconds: Double) {
        let start = ContinuousClock.now
        var sentAt: [String: ContinuousClock.Instant] = [:], latencies: [Double] = []
        var next = 0
        while latencies.count < bodies.count {
            let due = start + .seconds(Double(next) / rate)
            if next < bodies.count && ContinuousClock.now >= due {
                let id = UUID().uuidString
                sentAt[id] = ContinuousClock.now
                try connection.publish(
                    routingKey: queue, body: bodies[next],
                    properties: AMQPProperties(contentType: "application/json", correlationID: id, replyTo: replyQueue))
                next += 1
                continue
            }
            let wait = next < bodies.count ? max(.zero, due - ContinuousClock.now) : .seconds(60)
            guard case .delivery(let reply)? = try connection.nextEvent(timeout: wait) else {
                guard next < bodies.count else { throw BenchError("no reply for 60 s") }
                continue
            }
            try connection.ack(reply.deliveryTag)
            guard reply.properties.type != "error" else {
                throw BenchError("the worker answered an error: \(String(decoding: reply.body, as: UTF8.self))")
            }
            if let sent = sentAt.removeValue(forKey: reply.properties.correlationID ?? "") {
                latencies.append(seconds(ContinuousClock.now - sent))
            }
        }
        return (latencies, seconds(ContinuousClock.now - start))
    }

    /// Seconds from the first publish to the last reply.
    func roundTrip(_ bodies: [[UInt8]]) throws -> Double {
        let start = ContinuousClock.now
        var waiting = Set<String>()
        for body in bodies {
            let id = UUID().uuidString
            waiting.insert(id)
            try connection.publish(
                routingKey: queue, body: body,
                properties: AMQPProperties(contentType: "application/json", correlationID: id, replyTo: replyQueue))
        }
        let deadline = ContinuousClock.now + .seconds(3600)
        while !waiting.isEmpty && ContinuousClock.now < deadline {
            if case .delivery(let reply)? = try connection.nextEvent(timeout: .milliseconds(100)) {
                try connection.ack(reply.deliveryTag)
                if reply.properties.type == "error" {
                    throw BenchError("the worker answered an error: \(String(decoding: reply.body, as: UTF8.self))")
                }
                waiting.remove(reply.properties.correlationID ?? "")
            }
        }
        guard waiting.isEmpty else { throw BenchError("\(waiting.count) replies missing after an hour") }
        return seconds(ContinuousClock.now - start)
    }
}

private func seconds(_ d: Duration) -> Double {
    d / .seconds(1)
}
