import ArgumentParser
import ClipImage
import ClipModel
import ClipTensor
import ClipText
import ClipPipeline
import Foundation

/// Where `make model` puts the real model: the model directory when neither --model nor
/// CLIPQ_MODEL names one.
public let defaultModelDirectory = "models/clip-vit-large-patch14-336"

/// The model directory and how to fetch images, shared by the commands that run the model.
public struct ModelOptions: ParsableArguments {
    public init() {}

    @Option(help: "Model directory (Hugging Face layout: config.json, model.safetensors, vocab.json, merges.txt, preprocessor_config.json). Env CLIPQ_MODEL.")
    public var model: String = env("CLIPQ_MODEL") ?? defaultModelDirectory

    @Flag(help: "Allow image URLs on loopback, private and link-local addresses (env CLIPQ_ALLOW_PRIVATE_NETWORKS=1).")
    public var allowPrivateNetworks = false

    @Option(help: "A numeric address image URLs may reach even when private (\"10.0.0.7\", \"::1\"): one internal image host, without opening every private network. Repeatable; env CLIPQ_ALLOW_ADDRESSES (comma-separated).")
    public var allowAddress: [String] = env("CLIPQ_ALLOW_ADDRESSES").map { $0.split(separator: ",").map(String.init) } ?? []

    @Option(help: "Longest one image fetch attempt may take, in ms. Env CLIPQ_FETCH_TIMEOUT_MS.")
    public var fetchTimeoutMs: Int = env("CLIPQ_FETCH_TIMEOUT_MS").flatMap(Int.init) ?? Int(FetchSettings().totalTimeout / .milliseconds(1))

    @Option(help: "Attempts per image URL (5xx, 408, 429, timeouts and dropped connections are retried). Env CLIPQ_FETCH_ATTEMPTS.")
    public var fetchAttempts: Int = env("CLIPQ_FETCH_ATTEMPTS").flatMap(Int.init) ?? FetchSettings().maxAttempts

    @Option(help: "Largest image body fetched, in bytes. Env CLIPQ_FETCH_MAX_BYTES.")
    public var fetchMaxBytes: Int = env("CLIPQ_FETCH_MAX_BYTES").flatMap(Int.init) ?? FetchSettings().maxBytes

    @Option(help: "Refuse images with more pixels than this (read from the header, before decoding). Env CLIPQ_MAX_IMAGE_PIXELS.")
    public var maxImagePixels: Int = env("CLIPQ_MAX_IMAGE_PIXELS").flatMap(Int.init) ?? DecodeLimits().maxPixels

    @Option(help: "Most images the encoder computes together (texts: at least 64). Env CLIPQ_MAX_BATCH.")
    public var maxBatch: Int = env("CLIPQ_MAX_BATCH").flatMap(Int.init) ?? 8

    @Option(help: "Linear layers in fp32 (OpenBLAS), bf16 or int8 (oneDNN; bf16 needs AVX-512 BF16, int8 AVX2), or auto (the fastest this CPU runs natively within cosine 0.999 of fp32). Env CLIPQ_PRECISION; default fp32.")
    public var precision: Precision?

    @Option(help: "Where bf16 and int8 weights are kept once converted, mapped by the next load and shared by the workers of a host: auto (beside model.safetensors, else $XDG_CACHE_HOME/clipq or ~/.cache/clipq), off, or a directory. Env CLIPQ_WEIGHTS_CACHE.")
    public var weightsCache: String = env("CLIPQ_WEIGHTS_CACHE") ?? "auto"

    /// `--weights-cache` as the model loader takes it.
    public var cache: WeightsCache {
        switch weightsCache {
        case "off": return .off
        case "auto":
            let home = env("XDG_CACHE_HOME").map { URL(fileURLWithPath: $0) }
                ?? env("HOME").map { URL(fileURLWithPath: $0).appendingPathComponent(".cache") }
            return .auto(fallback: home?.appendingPathComponent("clipq"))
        default: return .directory(URL(fileURLWithPath: weightsCache))
        }
    }

    public var directory: URL { URL(fileURLWithPath: model) }

    public func preparer() throws -> RowPreparer {
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

    public func embedder() throws -> Embedder {
        try loadedEmbedder().embedder
    }

    /// The embedder, the precision it runs in (and why, for `auto`), and in words where its
    /// converted weights came from (nil for fp32). The model's warnings go to `warnings`.
    public func loadedEmbedder(warnings: Warnings = Warnings()) throws -> LoadedModel {
        let asked = try availablePrecision(precision, warnings: warnings)
        let encoder = try CLIPModel.load(directory: directory, precision: asked, weightsCache: cache, warnings: warnings)
        let weights: String?
        switch encoder.convertedWeights {
        case .none: weights = nil
        case .converted(let why): weights = "converted at load, not cached" + (why.isEmpty ? "" : " (\(why))")
        case .mapped(let path, nil): weights = "mapped from \(path)"
        case .mapped(let path, let why?): weights = "converted and cached to \(path) (the cache was \(why)), mapped from it"
        }
        return LoadedModel(
            embedder: Embedder(encoder: encoder, preparer: try preparer(), maxBatch: maxBatch),
            precision: asked == .auto ? Precision.automatic.precision : asked, precisionChoice: encoder.precisionChoice, weights: weights)
    }
}

/// A model loaded as the flags say.
public struct LoadedModel: Sendable {
    public var embedder: Embedder
    /// The precision the linear layers run in.
    public var precision: Precision
    /// The same in words, with why for `auto` and which tower runs in what.
    public var precisionChoice: String
    /// Where bf16 and int8 weights came from; nil for fp32.
    public var weights: String?
}
