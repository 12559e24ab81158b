import ArgumentParser
import ClipCommandLine
import ClipPipeline
import Foundation

/// `clipq-bench cache`: throughput of one worker on request streams with a share of repeated
/// rows, with the embedding cache off and on.
struct CacheBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Throughput on streams with 0%, 37% and 90% repeated rows, embedding cache and in-batch dedup off and on (one worker, in process).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var fixtures: FixtureOptions

    @Option(help: "One-row requests per stream.")
    var requests = 400

    @Option(help: "Share of the rows that are images (the rest are texts).")
    var imageShare = 0.25

    @Option(help: "Shares of repeated rows to measure, comma-separated.")
    var repeats = "0,0.37,0.9"

    func run() throws {
        let photo = try fixtures.read(fixtures.photo)
        let shares = repeats.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let identity = try ModelIdentity(modelDirectory: model.directory, precision: try availablePrecision(model.precision).rawValue)
        print("rows/s of one-row requests (\(requests) per stream, \(Int(100 * imageShare))% images) on \(model.directory.lastPathComponent)")
        for share in shares {
            // One stream for both runs: fresh content, then repeats of earlier content.
            let fresh = max(1, Int((Double(requests) * (1 - share)).rounded()))
            let images = distinctImages(photo, count: fresh)
            var pool: [(image: String?, text: String?)] = []
            for i in 0..<fresh {
                let isImage = Double.random(in: 0..<1) < imageShare
                pool.append(isImage ? (images[i], nil) : (nil, "a photo of thing \(i)"))
            }
            var stream: [(image: String?, text: String?)] = []
            for i in 0..<requests {
                stream.append(i < fresh ? pool[i] : pool[Int.random(in: 0..<fresh)])
            }
            var figures: [Double] = []
            for cacheOn in [false, true] {
                // Off: no content keys at all, so no in-batch dedup either (what a worker did before).
                let cache = cacheOn ? PreparationCache(model: identity, cache: MemoryEmbeddingCache(capacityBytes: 256 << 20)) : nil
                let bench = try PipelineBench(model: model, cache: cache)
                let start = ContinuousClock.now
                let ids = stream.map { bench.send(image: $0.image, text: $0.text) }
                _ = try bench.wait(for: ids)
                figures.append(Double(requests) / ((ContinuousClock.now - start) / .seconds(1)))
            }
            print(String(format: "%3.0f%% repeated: cache off %.1f rows/s, on %.1f rows/s (%.2fx)",
                         100 * share, figures[0], figures[1], figures[1] / figures[0]))
        }
    }
}
