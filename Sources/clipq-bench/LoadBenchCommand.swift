import ArgumentParser
import ClipAMQP
import ClipClient
import ClipCommandLine
import ClipFixtures
import ClipSchema
import Foundation

/// `clipq-bench load`: several publishers against running workers, every request accounted
/// for by correlation id; latency, throughput and the workers' memory (`make bench-load` starts
/// a private broker and two workers first).
struct LoadBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load running workers from several publishers; report answers, latency, throughput and worker memory.",
        discussion: """
            Each publisher has its own connection and publishes its share of the requests \
            (persistent, confirmed); one consumer gathers the replies. Latency runs from a \
            request's publish to its reply. Exits 1 if any request is unanswered or answered \
            with an error. --json adds one summary line for scripts and tests.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Text requests (one caption each).") var texts = 3000
    @Option(help: "Image requests (one image each).") var images = 300
    @Option(help: "Publishers, each on its own connection.") var publishers = 3
    @Option(help: "Requests per second over all publishers (0: as fast as the broker confirms).") var rate: Double = 0
    @Option(help: "The image file sent by image requests (default: the fixtures' astronaut.jpg).") var image: String?
    @OptionGroup var fixtures: FixtureOptions
    @Option(help: "A worker process to sample memory (VmRSS) from; repeat for each.") var workerPid: [Int32] = []
    @Option(help: "Seconds to wait for the last reply.") var timeout: Double = 600
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() throws {
        let imageCell = try fixtures.read(image.map { URL(fileURLWithPath: $0) } ?? fixtures.photo).base64EncodedString()
        // Images spread evenly among the texts, then dealt to the publishers in turn.
        let total = texts + images
        let requests: [LoadRequest] = (0..<total).map { i in
            let isImage = images > 0 && (i * images) / total != ((i + 1) * images) / total
            let id = "\(isImage ? "i" : "t")\(i)"
            let body = RequestEncoder.encode(images: isImage ? [imageCell] : [], texts: isImage ? [] : ["a photo of thing \(i) on a table"])
            return LoadRequest(id: id, isImage: isImage, body: body)
        }
        let settings = try broker.settings(connectionName: "clipq-bench load")
        let queue = broker.queue
        let ledger = LoadLedger()
        let consumer = try ReplyConsumer(settings: settings, ledger: ledger)
        let memory = MemorySampler(pids: workerPid)
        say("clipq-bench load: \(publishers) publishers, \(texts) texts + \(images) images to \(broker.queue), "
            + "\(workerPid.count) workers sampled (figures are noisy while the machine is shared)")

        let start = ContinuousClock.now
        let timeout = Duration.seconds(timeout)
        let consuming = Thread { consumer.run(expecting: total, timeout: timeout) }
        consuming.start()
        let group = DispatchGroup()
        let failures = LockedErrors()
        for p in 0..<max(1, publishers) {
            let share = stride(from: p, to: total, by: max(1, publishers)).map { requests[$0] }
            let perSecond = rate > 0 ? rate / Double(max(1, publishers)) : 0
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    try Publisher(settings: settings, queue: queue, replyTo: consumer.replyQueue)
                        .publish(share, perSecond: perSecond, ledger: ledger)
                } catch {
                    failures.append("publisher \(p): \(error)")
                }
            }.start()
        }
        group.wait()
        if let failure = failures.all.first { throw BenchError(failure) }  // not worth waiting for replies
        let published = ContinuousClock.now - start
        consumer.finished.wait()
        memory.stop()
        let elapsed = ledger.lastReply.map { $0 - start } ?? (ContinuousClock.now - start)

        let summary = ledger.summary(requests)
        say(String(format: "published %d (all confirmed) in %.1f s; answered %d, errors %d, duplicates %d, missing %d, in %.1f s: %.1f requests/s",
                   summary.published, published / .seconds(1), summary.answered, summary.errors, summary.duplicates,
                   summary.missing, elapsed / .seconds(1), Double(summary.answered) / (elapsed / .seconds(1))))
        for (name, latencies) in [("texts", summary.textLatencies), ("images", summary.imageLatencies)] where !latencies.isEmpty {
            say(String(format: "latency, publish to reply, %@: p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                       name, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.max() ?? 0))
        }
        let rss = memory.report()
        for worker in rss {
            say("worker \(worker.pid) RSS over the run: \(worker.course.map { String($0 >> 20) }.joined(separator: " ")) MiB; "
                + "peak \(worker.firstHalfPeak >> 20) MiB in the first half, \(worker.secondHalfPeak >> 20) MiB in the second")
        }
        if json {
            let workers: [JSONValue] = rss.map {
                ["pid": .number(Double($0.pid)), "start": .number(Double($0.start)), "first_half_peak": .number(Double($0.firstHalfPeak)),
                 "second_half_peak": .number(Double($0.secondHalfPeak))]
            }
            print(String(decoding: JSONWriter.serialize([
                "published": .number(Double(summary.published)), "answered": .number(Double(summary.answered)),
                "errors": .number(Double(summary.errors)), "duplicates": .number(Double(summary.duplicates)),
                "missing": .number(Double(summary.missing)), "seconds": .number(elapsed / .seconds(1)),
                "workers": .array(workers),
            ]), as: UTF8.self))
        }
        if summary.missing > 0 || summary.errors > 0 { throw ExitCode(1) }
    }
}

struct LoadRequest {
    var id: String
    var isImage: Bool
    var body: [UInt8]
}

/// Publish and reply times by correlation id, from the publisher and consumer threads.
private final class LoadLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [String: ContinuousClock.Instant] = [:]
    private var answered: [String: ContinuousClock.Instant] = [:]
    private var replies: [String: Int] = [:]
    private var errors = 0
    private var last: ContinuousClock.Instant?

    var lastReply: ContinuousClock.Instant? { lock.withLock { last } }

    func published(_ id: String, at time: ContinuousClock.Instant) { lock.withLock { sent[id] = time } }

    /// Records a reply; returns how many distinct requests are answered.
    func replied(_ id: String, isError: Bool) -> Int {
        lock.withLock {
            let now = ContinuousClock.now
            replies[id, default: 0] += 1
            if answered[id] == nil { answered[id] = now }
            if isError { errors += 1 }
            last = now
            return answered.count
        }
    }

    struct Summary {
        var published, answered, errors, duplicates, missing: Int
        var textLatencies, imageLatencies: [Double]
    }

    func summary(_ requests: [LoadRequest]) -> Summary {
        lock.withLock {
            var texts: [Double] = [], images: [Double] = []
            for request in requests {
                guard let start = sent[request.id], let end = answered[request.id] else { continue }
                let milliseconds = (end - start) / .milliseconds(1)
                if request.isImage { images.append(milliseconds) } else { texts.append(milliseconds) }
            }
            return Summary(
                published: sent.count, answered: answered.count, errors: errors,
                duplicates: replies.values.reduce(0) { $0 + $1 - 1 }, missing: requests.count - answered.count,
                textLatencies: texts, imageLatencies: images)
        }
    }
}

/// One publisher: its own connection, persistent requests, publisher confirms, optional pacing.
private struct Publisher {
    let connection: AMQPConnection
    let queue: String
    let replyTo: String

    init(settings: AMQPSettings, queue: String, replyTo: String) throws {
        connection = try AMQPConnection(settings)
        try connection.enableConfirms()
        self.queue = queue
        self.replyTo = replyTo
    }

    func publish(_ requests: [LoadRequest], perSecond: Double, ledger: LoadLedger) throws {
        defer { connection.close() }
        let start = ContinuousClock.now
        var unconfirmed = Set<UInt64>()
        for (i, request) in requests.enumerated() {
            if perSecond > 0 {
                let due = start + .seconds(Double(i) / perSecond)
                // Never a negative wait: librabbitmq refuses it as an invalid parameter and the
                // connection is dropped.
                while true {
                    let wait = due - ContinuousClock.now
                    if wait <= .zero { break }
                    try drain(&unconfirmed, wait: min(wait, .milliseconds(5)))
                }
            }
            let properties = AMQPProperties(contentType: "application/json", deliveryMode: 2, correlationID: request.id, replyTo: replyTo)
            ledger.published(request.id, at: .now)
            unconfirmed.insert(try connection.publish(routingKey: queue, body: request.body, properties: properties, mandatory: true))
            if unconfirmed.count >= 256 { try drain(&unconfirmed, wait: .zero) }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !unconfirmed.isEmpty {
            guard ContinuousClock.now < deadline else { throw BenchError("\(unconfirmed.count) publishes unconfirmed after 60 s") }
            try drain(&unconfirmed, wait: .milliseconds(50))
        }
    }

    /// Reads confirms (and refusals) for up to `wait`.
    private func drain(_ unconfirmed: inout Set<UInt64>, wait: Duration) throws {
        var timeout = wait
        while let event = try connection.nextEvent(timeout: timeout) {
            timeout = .zero
            switch event {
            case .acked(let sequence, let multiple):
                if multiple { unconfirmed = unconfirmed.filter { $0 > sequence } } else { unconfirmed.remove(sequence) }
            case .nacked(let sequence, _):
                throw BenchError("the broker refused publish \(sequence) (nack)")
            case .returned(let r):
                throw BenchError("no queue took \(r.properties.correlationID ?? "?"): \(r.replyText) (is a worker serving \(queue)?)")
            default: break
            }
        }
    }
}

/// Gathers replies on a private queue until every request is answered or the time is up.
private final class ReplyConsumer: @unchecked Sendable {
    let connection: AMQPConnection
    let replyQueue: String
    let ledger: LoadLedger
    let finished = DispatchSemaphore(value: 0)

    init(settings: AMQPSettings, ledger: LoadLedger) throws {
        connection = try AMQPConnection(settings)
        replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try connection.consume(replyQueue)
        self.ledger = ledger
    }

    func run(expecting count: Int, timeout: Duration) {
        defer { finished.signal() }
        let deadline = ContinuousClock.now + timeout
        do {
            while ContinuousClock.now < deadline {
                guard case .delivery(let reply)? = try connection.nextEvent(timeout: .milliseconds(100)) else { continue }
                try connection.ack(reply.deliveryTag)
                if ledger.replied(reply.properties.correlationID ?? "?", isError: reply.properties.type == "error") >= count { return }
            }
        } catch {
            say("the reply connection failed: \(error)")  // what is unanswered is reported missing
        }
    }
}

/// Samples the workers' resident memory twice a second while the load runs.
private final class MemorySampler: @unchecked Sendable {
    struct Report {
        var pid: Int32
        /// The first sample, as the load begins.
        var start: Int
        /// The highest samples of the first and second halves of the run: once the worker holds
        /// its working set (prefetched requests, decoded images), memory is flat if the second
        /// is no higher than the first.
        var firstHalfPeak, secondHalfPeak: Int
        /// Eleven samples evenly spaced over the run, first to last.
        var course: [Int]
    }

    private let lock = NSLock()
    private var samples: [Int32: [Int]] = [:]
    private var stopped = false

    init(pids: [Int32]) {
        guard !pids.isEmpty else { return }
        Thread { [self] in
            while !lock.withLock({ stopped }) {
                for pid in pids { if let bytes = residentMemory(pid: pid)?.current { lock.withLock { samples[pid, default: []].append(bytes) } } }
                Thread.sleep(forTimeInterval: 0.25)
            }
        }.start()
    }

    func stop() {
        lock.withLock { stopped = true }
    }

    func report() -> [Report] {
        lock.withLock {
            samples.keys.sorted().compactMap { pid in
                guard let s = samples[pid], s.count >= 2 else { return nil }
                return Report(
                    pid: pid, start: s[0], firstHalfPeak: s[..<(s.count / 2)].max() ?? 0, secondHalfPeak: s[(s.count / 2)...].max() ?? 0,
                    course: (0...10).map { s[($0 * (s.count - 1)) / 10] })
            }
        }
    }
}

/// The value below which a fraction `q` of the values lie (nearest rank).
func percentile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
}

private final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [String] = []
    func append(_ error: String) { lock.withLock { errors.append(error) } }
    var all: [String] { lock.withLock { errors } }
}
