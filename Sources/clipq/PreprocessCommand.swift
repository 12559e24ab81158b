import ArgumentParser
import ClipCommandLine
import ClipImage
import Foundation

/// `clipq preprocess`: one image to the exact tensor the vision encoder takes, for checking
/// parity by hand (`clipq-bench image` times the same work).
struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Decode, resize, crop and normalize one image as CLIPImageProcessor does.",
        discussion: """
            Writes the [3, H, W] float32 little-endian CHW tensor to --out. A local PATH is a \
            convenience of this command; the worker takes URLs and base64 only.
            """)

    @Option(help: "Model directory holding preprocessor_config.json. Env CLIPQ_MODEL.")
    var model: String = env("CLIPQ_MODEL") ?? defaultModelDirectory

    @Option(help: "Image file path, http(s) URL, data URI or base64.")
    var image: String

    @Option(help: "Where to write the tensor.")
    var out: String

    @Flag(help: "Allow fetching from loopback, private and link-local addresses (env CLIPQ_ALLOW_PRIVATE_NETWORKS=1).")
    var allowPrivateNetworks = false

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    func run() throws {
        let config = try PreprocessorConfig(contentsOfFile: (model as NSString).appendingPathComponent("preprocessor_config.json"))
        var settings = IngestSettings()
        settings.limits.maxPixels = maxPixels
        settings.fetch.addressPolicy.allowPrivateNetworks = allowPrivateNetworks
            || ProcessInfo.processInfo.environment["CLIPQ_ALLOW_PRIVATE_NETWORKS"] == "1"
        let ingest = ImageIngest(config: config, settings: settings)

        let tensor = try run(ingest, image)
        let data = tensor.values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian on every target we build
        try data.write(to: URL(fileURLWithPath: out))
        print("\(image): [3, \(tensor.height), \(tensor.width)] -> \(out)")
    }

    private func run(_ ingest: ImageIngest, _ source: String) throws -> ImageTensor {
        if FileManager.default.fileExists(atPath: source), let bytes = FileManager.default.contents(atPath: source) {
            return try ingest.tensor(from: [UInt8](bytes))
        }
        return try ingest.ingest(source).get()
    }
}
