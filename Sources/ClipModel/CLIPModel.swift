import ClipTensor
import Foundation
import Synchronization

/// CLIP's image and text encoders, loaded from a Hugging Face model directory (config.json and
/// model.safetensors). The model is immutable once loaded and safe to share between threads; each
/// encode call borrows scratch memory from a small pool, so batches after the first allocate
/// nothing.
public final class CLIPModel: Sendable {
    public let config: CLIPConfig
    private let weights: Weights
    private let vision: VisionEncoder
    private let text: TextEncoder
    private let workspaces = Mutex<[Workspace]>([])

    /// Images per pass through the vision tower: bounds the scratch memory (~25 MB per ViT-L/14@336
    /// image) while keeping the matrix products tall (8 images: 4616 rows; measured ~3% faster than
    /// 4 and ~10% faster than 1).
    public let maxImagesPerPass: Int

    /// Loads `directory/config.json` and maps `directory/model.safetensors`.
    ///
    /// - threads: the cores one encode call uses.
    /// - makeLinear: the linear layers' kernels; nil: fp32 sgemm over `threads` cores.
    /// - warnings: where the model's warnings go (stderr by default).
    public static func load(
        directory: URL, maxImagesPerPass: Int = 8, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        makeLinear: LinearFactory? = nil, warnings: Warnings = Warnings()
    ) throws(ModelError) -> CLIPModel {
        let (config, file) = try openCheckpoint(directory)
        file.prefetch()
        return try CLIPModel(config: config, file: file, maxImagesPerPass: maxImagesPerPass, threads: threads,
                             makeLinear: makeLinear ?? sgemmLinearFactory, precision: makeLinear == nil ? .fp32 : nil,
                             warnings: warnings)
    }

    /// `directory/config.json` read and `directory/model.safetensors` mapped.
    private static func openCheckpoint(_ directory: URL) throws(ModelError) -> (CLIPConfig, SafeTensorsFile) {
        let config = try CLIPConfig.load(from: directory.appendingPathComponent("config.json"))
        let weightsPath = directory.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ModelError(.missingFile, "model.safetensors is missing (only single-file safetensors checkpoints are read)",
                             location: weightsPath)
        }
        return (config, try SafeTensorsFile(path: weightsPath))
    }

    /// Loads the model in `precision` (`auto` chosen here: see `Precision.automatic`; the others
    /// as asked, see `Precision.available` for what this CPU runs), its converted weights (bf16,
    /// int8) mapped from `weightsCache` when a valid cache is there, else converted and, where the
    /// cache can be written, cached and then mapped from it. `convertedWeights` says which
    /// happened, `precisionChoice` which precision runs and why.
    public static func load(
        directory: URL, precision asked: Precision, weightsCache: WeightsCache, maxImagesPerPass: Int = 8,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount, warnings: Warnings = Warnings()
    ) throws(ModelError) -> CLIPModel {
        let (config, file) = try openCheckpoint(directory)
        let (precision, choice) = asked == .auto ? Precision.automatic : (asked, asked.rawValue)
        func build(_ cache: WeightsCacheFile?, _ origin: ConvertedWeightsOrigin) throws(ModelError) -> CLIPModel {
            try CLIPModel(config: config, file: file, maxImagesPerPass: maxImagesPerPass, threads: threads,
                          makeLinear: precision.linearFactory, precision: precision, choice: choice, cache: cache,
                          origin: origin, warnings: warnings)
        }
        guard precision != .fp32 else {
            file.prefetch()
            return try build(nil, .none)
        }
        let paths = WeightsCacheFile.paths(for: weightsCache, modelDirectory: directory, precision: precision)
        guard !paths.isEmpty else {
            file.prefetch()
            return try build(nil, .converted(why: "the weights cache is off"))
        }
        let key = WeightsCacheKey(precision: precision, source: file)
        var why = "missing"
        for path in paths {
            let (cache, problem) = WeightsCacheFile.map(path, key: key)
            guard let cache else {
                if problem != "missing" || why == "missing" { why = problem }
                continue
            }
            let model = try build(cache, .mapped(path: path, rebuilt: nil))
            if model.weights.converted.allSatisfy({ $0.1.runsOnGivenParts }), model.weights.converted.count == cache.count {
                return model
            }
            why = "stale (laid out for another CPU)"
            break
        }
        // Convert, cache, then map what was written (so that this process shares it too).
        file.prefetch()
        var converted: CLIPModel? = try build(nil, .converted(why: ""))
        var failures: [String] = []
        var written: String?
        for path in paths where written == nil {
            do throws(ModelError) {
                try WeightsCacheFile.store(path, key: key, layers: converted?.weights.converted.map { ($0.0, $0.1.convertedParts) } ?? [])
                written = path
            } catch {
                failures.append(error.description)
            }
        }
        if let written {
            converted = nil  // its private copy goes (back to the system) before the shared one comes
            let (cache, problem) = WeightsCacheFile.map(written, key: key)
            if let cache { return try build(cache, .mapped(path: written, rebuilt: why)) }
            failures.append("\(written) written but not readable back: \(problem)")
        }
        let origin = ConvertedWeightsOrigin.converted(why: failures.joined(separator: "; "))
        if let converted { return try CLIPModel(converted, origin: origin) }
        return try build(nil, origin)
    }

    /// Where this model's converted weights came from (`none` for fp32).
    public let convertedWeights: ConvertedWeightsOrigin

    /// The precision the model runs in, and for `auto` why (a line for a worker's log and metrics),
    /// e.g. "int8" or "auto: fp32 (oneDNN AVX2 has no int8 dot-product or bf16 instructions: ...)".
    public let precisionChoice: String

    init(config: CLIPConfig, file: SafeTensorsFile, maxImagesPerPass: Int, threads: Int, makeLinear: LinearFactory,
         precision: Precision? = nil, choice: String? = nil, cache: WeightsCacheFile? = nil,
         origin: ConvertedWeightsOrigin = .none, warnings: Warnings = Warnings()) throws(ModelError)
    {
        let towers = precision?.towers
        precisionChoice = [choice ?? precision?.rawValue ?? "as the linear factory builds them", towers?.note]
            .compactMap { $0 }.joined(separator: "; ")
        let threads = max(1, threads)
        let weights = Weights(file: file, precision: towers?.vision, cache: cache, threads: threads,
                              context: KernelContext(warnings: warnings))
        self.config = config
        self.weights = weights
        convertedWeights = origin
        self.maxImagesPerPass = max(1, maxImagesPerPass)
        vision = VisionEncoder(weights, config.vision, projectionDim: config.projectionDim, threads: threads,
                               makeLinear: makeLinear)
        weights.precision = towers?.text
        text = TextEncoder(weights, config.text, projectionDim: config.projectionDim, threads: threads,
                           makeLinear: makeLinear)
        try weights.check()
    }

    /// The same model with another account of its converted weights.
    private init(_ model: CLIPModel, origin: ConvertedWeightsOrigin) throws(ModelError) {
        config = model.config
        weights = model.weights
        vision = model.vision
        text = model.text
        maxImagesPerPass = model.maxImagesPerPass
        precisionChoice = model.precisionChoice
        convertedWeights = origin
    }

    /// Tensors widened to fp32 copies at load: 0 for an fp32 checkpoint, whose weights are all
    /// used where they lie in the mapped file.
    public var widenedTensorCount: Int { weights.widened.count }

    /// The length of every embedding (`projection_dim`).
    public var embeddingSize: Int { config.projectionDim }

    /// Floats per image in `encodeImages`' input: channels x image_size x image_size.
    public var pixelsPerImage: Int { config.vision.channels * config.vision.imageSize * config.vision.imageSize }

    /// Image embeddings [B, D] for pixels [B, C, H, W]: normalized as CLIPImageProcessor leaves
    /// them, row-major, images one after another. Not L2-normalized.
    public func encodeImages(pixels: UnsafeBufferPointer<Float>, count: Int) throws(ModelError) -> [[Float]] {
        let (expected, overflow) = count.multipliedReportingOverflow(by: pixelsPerImage)
        guard count >= 0, !overflow, pixels.count == expected else {
            throw ModelError(.invalidInput, "expected \(count) x \(pixelsPerImage) pixel values, got \(pixels.count)")
        }
        guard count > 0, let base = pixels.baseAddress else { return [] }
        let D = embeddingSize
        return withWorkspace { ws in
            var result: [[Float]] = []
            result.reserveCapacity(count)
            var first = 0
            while first < count {
                let n = min(maxImagesPerPass, count - first)
                let out = ws.output.reserve(n * D)
                vision.encode(out, pixels: base + first * pixelsPerImage, count: n, scratch: ws.vision)
                for i in 0..<n { result.append(Array(UnsafeBufferPointer(start: out + i * D, count: D))) }
                first += n
            }
            return result
        }
    }

    public func encodeImages(pixels: [Float], count: Int) throws(ModelError) -> [[Float]] {
        try pixels.withUnsafeBufferPointer { (p) throws(ModelError) in try encodeImages(pixels: p, count: count) }
    }

    /// Text embeddings [B, D] for token id lists as CLIPTokenizer makes them (start token, text,
    /// end token; padding after the end token is allowed and ignored). Not L2-normalized.
    public func encodeTexts(tokenIDs: [[Int]]) throws(ModelError) -> [[Float]] {
        for (i, ids) in tokenIDs.enumerated() {
            guard !ids.isEmpty, ids.count <= config.text.maxPositions else {
                throw ModelError(.invalidInput, "a text needs 1 to \(config.text.maxPositions) tokens, got \(ids.count)",
                                 location: "text \(i)")
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= config.text.vocabSize }) {
                throw ModelError(.invalidInput, "token id \(bad) is outside the vocabulary of \(config.text.vocabSize)",
                                 location: "text \(i)")
            }
        }
        guard !tokenIDs.isEmpty else { return [] }
        let D = embeddingSize
        return withWorkspace { ws in
            let out = ws.output.reserve(tokenIDs.count * D)
            text.encode(out, tokenIDs: tokenIDs, scratch: ws.text)
            return (0..<tokenIDs.count).map { Array(UnsafeBufferPointer(start: out + $0 * D, count: D)) }
        }
    }

    private func withWorkspace<R>(_ body: (Workspace) -> R) -> R {
        let ws = workspaces.withLock { $0.popLast() } ?? Workspace()
        defer { workspaces.withLock { $0.append(ws) } }
        return body(ws)
    }
}

/// The scratch one encode call owns while it runs; it goes back to the model's pool afterwards.
final class Workspace: @unchecked Sendable {  // used by one call at a time, handed over via the pool
    let vision = VisionScratch()
    let text = TextScratch()
    let output = FloatBuffer()
}
