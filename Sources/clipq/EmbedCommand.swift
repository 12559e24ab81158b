import ArgumentParser
import ClipImage
import ClipModel
import ClipSchema
import ClipTensor
import ClipText
import ClipWorker
import Foundation

/// `clipq embed`: the main job in process, no broker. Prints the reply of the contract.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed images and texts in process and print the reply (no broker).",
        discussion: """
            Rows come from --request (a request of the contract; - reads stdin), or one row per \
            --image and --text flag, in the order given. An --image may be a local file (a \
            convenience of this command), an http(s) URL, a data URI or base64. Embeddings are not \
            normalized unless --normalize is given, as the hosted endpoint does. A refused request \
            prints its error reply and exits 1.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "A request file (input_data JSON), or - for stdin.")
    var request: String?

    @Option(help: "An image: local path, http(s) URL, data URI or base64. Repeatable.")
    var image: [String] = []

    @Option(help: "A text. Repeatable.")
    var text: [String] = []

    @Flag(help: "Scale each embedding to unit length.")
    var normalize = false

    func validate() throws {
        guard (request != nil) != (!image.isEmpty || !text.isEmpty) else {
            throw ValidationError("give --request, or --image/--text flags (not both)")
        }
    }

    func run() throws {
        let embedder = try model.embedder()
        let rows: EmbeddingRequest
        do {
            rows = try request.map(readRequest) ?? EmbeddingRequest(rows: try flagRows())
            let body = try embedder.embed(rows, normalize: normalize)
            FileHandle.standardOutput.write(Data(try ReplyEncoder().encode(body) + [0x0A]))
        } catch let error as ClipError {
            FileHandle.standardOutput.write(Data(error.replyBody + [0x0A]))
            throw ExitCode(1)
        }
    }

    private func readRequest(_ path: String) throws -> EmbeddingRequest {
        let bytes = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        return try RequestDecoder().decode(Array(bytes))
    }

    /// One row per --image/--text flag, in command-line order (the parser keeps each option's
    /// values in order but not their interleaving, so the order is read off the arguments).
    private func flagRows() throws -> [EmbeddingRequest.Row] {
        var images = image.makeIterator(), texts = text.makeIterator()
        var rows: [EmbeddingRequest.Row] = []
        for argument in CommandLine.arguments {
            if argument == "--image" || argument.hasPrefix("--image="), let cell = images.next() {
                rows.append(.init(image: try localFileAsBase64(cell)))
            } else if argument == "--text" || argument.hasPrefix("--text="), let value = texts.next() {
                rows.append(.init(text: value))
            }
        }
        return rows
    }

    private func localFileAsBase64(_ cell: String) throws -> String {
        guard !cell.contains("://"), !cell.hasPrefix("data:"), FileManager.default.fileExists(atPath: cell) else { return cell }
        return try Data(contentsOf: URL(fileURLWithPath: cell)).base64EncodedString()
    }
}

/// The model directory and how to fetch images, shared by the commands that run the model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model directory (Hugging Face layout: config.json, model.safetensors, vocab.json, merges.txt, preprocessor_config.json). Env CLIPQ_MODEL.")
    var model: String = env("CLIPQ_MODEL") ?? "models/clip-vit-large-patch14-336"

    @Flag(help: "Allow image URLs on loopback, private and link-local addresses (env CLIPQ_ALLOW_PRIVATE_NETWORKS=1).")
    var allowPrivateNetworks = false

    @Option(help: "A numeric address image URLs may reach even when private (\"10.0.0.7\", \"::1\"): one internal image host, without opening every private network. Repeatable; env CLIPQ_ALLOW_ADDRESSES (comma-separated).")
    var allowAddress: [String] = env("CLIPQ_ALLOW_ADDRESSES").map { $0.split(separator: ",").map(String.init) } ?? []

    @Option(help: "Longest one image fetch attempt may take, in ms. Env CLIPQ_FETCH_TIMEOUT_MS.")
    var fetchTimeoutMs: Int = env("CLIPQ_FETCH_TIMEOUT_MS").flatMap(Int.init) ?? Int(FetchSettings().totalTimeout / .milliseconds(1))

    @Option(help: "Attempts per image URL (5xx, 408, 429, timeouts and dropped connections are retried). Env CLIPQ_FETCH_ATTEMPTS.")
    var fetchAttempts: Int = env("CLIPQ_FETCH_ATTEMPTS").flatMap(Int.init) ?? FetchSettings().maxAttempts

    @Option(help: "Largest image body fetched, in bytes. Env CLIPQ_FETCH_MAX_BYTES.")
    var fetchMaxBytes: Int = env("CLIPQ_FETCH_MAX_BYTES").flatMap(Int.init) ?? FetchSettings().maxBytes

    @Option(help: "Refuse images with more pixels than this (read from the header, before decoding). Env CLIPQ_MAX_IMAGE_PIXELS.")
    var maxImagePixels: Int = env("CLIPQ_MAX_IMAGE_PIXELS").flatMap(Int.init) ?? DecodeLimits().maxPixels

    @Option(help: "Most images the encoder computes together (texts: at least 64). Env CLIPQ_MAX_BATCH.")
    var maxBatch: Int = env("CLIPQ_MAX_BATCH").flatMap(Int.init) ?? 8

    @Option(help: "Linear layers in fp32 (OpenBLAS), bf16 or int8 (oneDNN; bf16 needs AVX-512 BF16, int8 AVX2), or auto (the fastest this CPU runs natively within cosine 0.999 of fp32). Env CLIPQ_PRECISION.")
    var precision: Precision?

    @Option(help: "Where bf16 and int8 weights are kept once converted, mapped by the next load and shared by the workers of a host: auto (beside model.safetensors, else $XDG_CACHE_HOME/clipq or ~/.cache/clipq), off, or a directory. Env CLIPQ_WEIGHTS_CACHE.")
    var weightsCache: String = env("CLIPQ_WEIGHTS_CACHE") ?? "auto"

    /// `--weights-cache` as the model loader takes it.
    var cache: WeightsCache {
        switch weightsCache {
        case "off": return .off
        case "auto":
            let home = env("XDG_CACHE_HOME").map { URL(fileURLWithPath: $0) }
                ?? env("HOME").map { URL(fileURLWithPath: $0).appendingPathComponent(".cache") }
            return .auto(fallback: home?.appendingPathComponent("clipq"))
        default: return .directory(URL(fileURLWithPath: weightsCache))
        }
    }

    var directory: URL { URL(fileURLWithPath: model) }

    func preparer() throws -> RowPreparer {
        let config = try PreprocessorConfig(contentsOfFile: directory.appendingPathComponent("preprocessor_config.json").path)
        var settings = IngestSettings()
        settings.limits.maxPixels = maxImagePixels
        settings.fetch.addressPolicy.allowPrivateNetworks = allowPrivateNetworks
            || env("CLIPQ_ALLOW_PRIVATE_NETWORKS") == "1"
        // Kept in the canonical form the guard compares ("::1", not "0:0:0:0:0:0:0:1").
        settings.fetch.addressPolicy.allowedAddresses = Set(try allowAddress.map { text in
            guard let address = IPAddress(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--allow-address \(text): not a numeric IPv4 or IPv6 address")
            }
            return address.description
        })
        guard fetchTimeoutMs > 0, fetchAttempts > 0, fetchMaxBytes > 0 else {
            throw ValidationError("--fetch-timeout-ms, --fetch-attempts and --fetch-max-bytes must be positive")
        }
        settings.fetch.totalTimeout = .milliseconds(fetchTimeoutMs)
        settings.fetch.connectTimeout = min(settings.fetch.connectTimeout, settings.fetch.totalTimeout)
        settings.fetch.maxAttempts = fetchAttempts
        settings.fetch.maxBytes = fetchMaxBytes
        return RowPreparer(tokenizer: try CLIPTokenizer(modelDirectory: directory), images: ImageIngest(config: config, settings: settings))
    }

    func embedder() throws -> Embedder {
        try loadedEmbedder().embedder
    }

    /// The embedder, and in words where its converted weights came from (nil for fp32).
    func loadedEmbedder(warnings: Warnings = Warnings()) throws -> (embedder: Embedder, weights: String?) {
        let encoder = try CLIPModel.load(directory: directory, precision: try availablePrecision(precision, warnings: warnings),
                                         weightsCache: cache, warnings: warnings)
        let weights: String?
        switch encoder.convertedWeights {
        case .none: weights = nil
        case .converted(let why): weights = "converted at load, not cached" + (why.isEmpty ? "" : " (\(why))")
        case .mapped(let path, nil): weights = "mapped from \(path)"
        case .mapped(let path, let why?): weights = "converted and cached to \(path) (the cache was \(why)), mapped from it"
        }
        return (Embedder(encoder: encoder, preparer: try preparer(), maxBatch: maxBatch), weights)
    }
}
