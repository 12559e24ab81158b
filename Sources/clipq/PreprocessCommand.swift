import ArgumentParser
import ClipImage
import Foundation

/// `clipq preprocess`: one image to the exact tensor the vision encoder takes, for checking
/// parity by hand and for benchmarking ingest without a broker.
struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Decode, resize, crop and normalize one image as CLIPImageProcessor does.",
        discussion: """
            Writes the [3, H, W] float32 little-endian CHW tensor to --out. A local PATH is a \
            convenience of this command; the worker takes URLs and base64 only. With --bench N, \
            repeats each image N times and prints the time per image instead.
            """)

    @Option(help: "Model directory holding preprocessor_config.json.")
    var model: String

    @Option(help: "Image file path, http(s) URL, data URI or base64. Repeat it for --bench.")
    var image: [String]

    @Option(help: "Where to write the tensor.")
    var out: String?

    @Flag(help: "Allow fetching from loopback, private and link-local addresses (env CLIPQ_ALLOW_PRIVATE_NETWORKS=1).")
    var allowPrivateNetworks = false

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    @Option(help: "Time N runs of each image (after one warm-up) and print the fastest.")
    var bench: Int?

    func run() throws {
        let config = try PreprocessorConfig(contentsOfFile: (model as NSString).appendingPathComponent("preprocessor_config.json"))
        var settings = IngestSettings()
        settings.limits.maxPixels = maxPixels
        settings.fetch.addressPolicy.allowPrivateNetworks = allowPrivateNetworks
            || ProcessInfo.processInfo.environment["CLIPQ_ALLOW_PRIVATE_NETWORKS"] == "1"
        let ingest = ImageIngest(config: config, settings: settings)

        if let runs = bench {
            try benchmark(ingest, runs: max(1, runs))
            return
        }
        guard let out, image.count == 1 else { throw ValidationError("give one --image and --out (or --bench N)") }
        let tensor = try run(ingest, image[0])
        let data = tensor.values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian on every target we build
        try data.write(to: URL(fileURLWithPath: out))
        print("\(image[0]): [3, \(tensor.height), \(tensor.width)] -> \(out)")
    }

    private func run(_ ingest: ImageIngest, _ source: String) throws -> ImageTensor {
        if FileManager.default.fileExists(atPath: source), let bytes = FileManager.default.contents(atPath: source) {
            return try ingest.tensor(from: [UInt8](bytes))
        }
        return try ingest.ingest(source).get()
    }

    /// Single-threaded, from bytes in memory: decode + preprocess, as the Python side measures.
    /// The fastest of N runs: on a shared machine the minimum is the least noisy figure.
    private func benchmark(_ ingest: ImageIngest, runs: Int) throws {
        var total = 0.0
        for path in image {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bytes = [UInt8](data)
            let ms = try fastest(of: runs) { _ = try ingest.tensor(from: bytes) }
            let decodeMs = try fastest(of: runs) { _ = try decodeImage(bytes, limits: ingest.settings.limits) }
            total += ms
            print(String(format: "swift  %8.2f ms/image  %@  (decode %.2f ms)", ms, (path as NSString).lastPathComponent, decodeMs))
        }
        print(String(format: "swift  %8.2f images/s over %d images (one thread)", Double(image.count) * 1000 / total, image.count))
    }

    private func fastest(of runs: Int, _ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        try body()  // warm-up
        var best = Double.infinity
        for _ in 0..<runs { best = min(best, milliseconds(try clock.measure(body))) }
        return best
    }

    private func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
    }
}
