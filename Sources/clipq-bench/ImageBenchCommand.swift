import ArgumentParser
import ClipImage
import Foundation

/// `clipq-bench image`: image ingest (decode, resize, crop, normalize) on one thread, from bytes
/// in memory, as Tests/Fixtures/images/bench_pillow.py measures Pillow on the same files.
struct ImageBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Time decoding and preprocessing image files, one thread: the fastest of N runs each.",
        discussion: """
            The fastest of N runs, after one warm-up: on a shared machine the minimum is the least \
            noisy figure. Prints one line per image, then images per second over them all.
            """)

    @Option(help: "A directory holding preprocessor_config.json (default: the fixtures' images folder).")
    var model: String?

    @OptionGroup var fixtures: FixtureOptions

    @Option(help: "Timed runs of each image.")
    var runs = 10

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    @Argument(help: "Image files.")
    var images: [String]

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
        guard !images.isEmpty else { throw ValidationError("give one image file or more") }
    }

    func run() throws {
        let directory = model.map { URL(fileURLWithPath: $0) } ?? fixtures.root.appendingPathComponent("images")
        let config = try PreprocessorConfig(contentsOfFile: directory.appendingPathComponent("preprocessor_config.json").path)
        var settings = IngestSettings()
        settings.limits.maxPixels = maxPixels
        let ingest = ImageIngest(config: config, settings: settings)
        var total = 0.0
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw BenchError("cannot read \(path)") }
            let bytes = [UInt8](data)
            let ms = try fastest { _ = try ingest.tensor(from: bytes) }
            let decodeMs = try fastest { _ = try decodeImage(bytes, limits: settings.limits) }
            total += ms
            print(String(format: "swift  %8.2f ms/image  %@  (decode %.2f ms)", ms, (path as NSString).lastPathComponent, decodeMs))
        }
        print(String(format: "swift  %8.2f images/s over %d images (one thread)", Double(images.count) * 1000 / total, images.count))
    }

    private func fastest(_ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        try body()  // warm-up
        var best = Double.infinity
        for _ in 0..<runs { best = min(best, try clock.measure(body) / .milliseconds(1)) }
        return best
    }
}
