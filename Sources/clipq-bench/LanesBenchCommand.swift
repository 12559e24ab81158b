import ArgumentParser
import ClipAMQP
import ClipCommandLine
import Foundation

/// `clipq-bench lanes`: how long a user's one-row request waits while a bulk job runs, against
/// the same request on an idle worker, and what the user's requests cost the bulk job.
struct LanesBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanes",
        abstract: "Interactive latency idle and under a bulk flood, and the bulk job's throughput alone and beside them (one worker, in process).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var fixtures: FixtureOptions

    @Option(help: "Texts in the bulk job.")
    var bulkTexts = 10_000

    @Option(help: "Images in the bulk job.")
    var bulkImages = 200

    @Option(help: "One-row interactive requests, sent one after another (each waits for the previous reply).")
    var probes = 50

    @Option(help: "Pause between interactive requests, in ms.")
    var probeIntervalMs = 20

    func run() throws {
        let photo = try fixtures.read(fixtures.photo)
        let images = distinctImages(photo, count: bulkImages)
        func probe(_ bench: PipelineBench, _ i: Int) throws -> Double {
            let id = bench.send(text: "a photo of probe \(i)")
            let latency = try bench.wait(for: [id])[0]
            Thread.sleep(forTimeInterval: Double(probeIntervalMs) / 1000)
            return latency
        }
        func bulkJob(_ bench: PipelineBench) -> [String] {
            (0..<bulkTexts).map { bench.send(text: "an indexed caption \($0)", lane: .bulk) }
                + images.map { bench.send(image: $0, lane: .bulk) }
        }

        let bench = try PipelineBench(model: model, cache: nil)
        _ = try (0..<3).map { try probe(bench, $0) }  // warm up
        let idle = try (0..<probes).map { try probe(bench, $0) }

        var start = ContinuousClock.now
        let alone = try bench.wait(for: bulkJob(bench))
        let aloneSeconds = (ContinuousClock.now - start) / .seconds(1)
        _ = alone

        start = ContinuousClock.now
        let job = bulkJob(bench)
        var flooded: [Double] = []
        for i in 0..<probes { flooded.append(try probe(bench, i)) }
        _ = try bench.wait(for: job)
        let besideSeconds = (ContinuousClock.now - start) / .seconds(1)

        let rows = Double(bulkTexts + bulkImages)
        print(String(format: "interactive, idle worker:   p50 %.1f ms  p99 %.1f ms  (%d one-row requests)",
                     1000 * percentile(idle, 0.5), 1000 * percentile(idle, 0.99), idle.count))
        print(String(format: "interactive, bulk flood:    p50 %.1f ms  p99 %.1f ms",
                     1000 * percentile(flooded, 0.5), 1000 * percentile(flooded, 0.99)))
        print(String(format: "bulk job (%d texts, %d images): alone %.1f s (%.1f rows/s), beside interactive %.1f s (%.1f rows/s, %.0f%%)",
                     bulkTexts, bulkImages, aloneSeconds, rows / aloneSeconds, besideSeconds, rows / besideSeconds,
                     100 * aloneSeconds / besideSeconds))
    }
}
