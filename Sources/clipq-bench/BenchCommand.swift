import ArgumentParser
import ClipCommandLine
import ClipFixtures
import ClipImage
import ClipModel
import ClipSchema
import ClipTensor
import ClipText
import Foundation

/// `clipq-bench in-process`: the model and the stages around it, in this process, no broker.
struct InProcessBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "in-process",
        abstract: "Measure clipq: each stage of a request, the encoders by batch size against the matrix products' ceiling, load time, memory.",
        discussion: """
            Runs on --model, by default a ViT-L/14@336 with random weights that it writes to \
            models/random-vit-l-14-336 (1.7 GB, git-ignored) the first time; --random vit-l-14-336 \
            builds one in memory instead and leaves nothing behind. Prints one JSON line per figure as \
            it is measured, then a table. All figures come from one run, so ratios between them hold \
            even on a busy machine; absolute figures do not.
            """
    )

    @Option(help: "A Hugging Face CLIP model directory (config.json, model.safetensors).")
    var model: String?

    @Option(help: "Random weights of this architecture, built in memory (/dev/shm) for this run: vit-l-14-336.")
    var random: String?

    static let randomModel = "models/random-vit-l-14-336"

    @Option(help: "Images per round.")
    var images: Int = 8

    @Option(help: "Rounds of measurement; the medians are reported.")
    var rounds: Int = 3

    @Option(help: "Images per pass through the vision tower.")
    var imagesPerPass: Int = 8

    @Option(help: "Texts per batch, for 77-token texts and for short captions.")
    var texts: Int = 32

    @Option(help: "Tokens of the longest short caption, start and end tokens included.")
    var captionTokens: Int = 16

    @Option(parsing: .upToNextOption, help: "Image batch sizes for the by-batch-size figures.")
    var imageBatches: [Int] = [1, 4]

    @Option(parsing: .upToNextOption, help: "Caption batch sizes for the by-batch-size figures.")
    var textBatches: [Int] = [1, 8, 64, 256]

    @Flag(inversion: .prefixedNo, help: "Time the stages around the encoders (decode, resize, tokenize, JSON; fetch with --fetch-url).")
    var stages = true

    @Option(help: "Timed runs of each stage (after one warm-up); the medians are reported.")
    var stageRuns: Int = 20

    @Option(help: "An image URL to time the fetch stage on (make bench serves a fixture on loopback).")
    var fetchURL: String?

    @Flag(help: "Allow --fetch-url on loopback or private addresses.")
    var allowPrivateNetworks = false

    @Option(help: "Linear layers in fp32 (OpenBLAS), bf16 or int8 (oneDNN). Repeatable: each is measured in turn, in this run. Env CLIPQ_PRECISION.")
    var precision: [Precision] = []

    @Option(help: "Cores to use (default: all).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var fixtures: FixtureOptions

    /// Writes the random-weight ViT-L/14@336 the first time it is asked for, with the test
    /// fixtures' tokenizer and preprocessor files so that every command can run on it.
    static func ensureModel(_ model: String, fixtures: FixtureOptions) throws {
        let dir = URL(fileURLWithPath: model)
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) {
            guard model == randomModel else { throw BenchError("no config.json in \(model)") }
            say("writing a ViT-L/14@336 with random weights to \(model) ...")
            let t = Date()
            try writeRandomModel(.vitL14At336, to: dir)
            say(String(format: "  written in %.1f s", Date().timeIntervalSince(t)))
        }
        guard model == randomModel else { return }
        try copyModelSideFiles(fixtures, to: dir)
    }

    static func copyModelSideFiles(_ fixtures: FixtureOptions, to dir: URL) throws {
        for source in fixtures.modelSideFiles {
            let target = dir.appendingPathComponent(source.lastPathComponent)
            if !FileManager.default.fileExists(atPath: target.path) {
                try fixtures.read(source).write(to: target)
            }
        }
    }

    func validate() throws {
        guard images > 0, rounds > 0, texts > 0, stageRuns > 0, captionTokens >= 6 else {
            throw ValidationError("--images, --rounds, --texts and --stage-runs must be positive, --caption-tokens at least 6")
        }
        guard (imageBatches + textBatches).allSatisfy({ $0 > 0 }) else { throw ValidationError("batch sizes must be positive") }
        guard model == nil || random == nil else { throw ValidationError("give --model or --random, not both") }
        guard random == nil || random == "vit-l-14-336" else { throw ValidationError("--random knows vit-l-14-336") }
    }

    func run() throws {
        let dir: URL, name: String
        var temporary: URL?
        if random != nil {
            let root = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
            dir = URL(fileURLWithPath: root).appendingPathComponent("clipq-bench-\(getpid())")
            name = "random vit-l-14-336 (in memory)"
            temporary = dir
            say("building a ViT-L/14@336 with random weights in \(dir.path) (removed when done) ...")
            try writeRandomModel(.vitL14At336, to: dir)
            try Self.copyModelSideFiles(fixtures, to: dir)
        } else {
            name = model ?? Self.randomModel
            try Self.ensureModel(name, fixtures: fixtures)
            dir = URL(fileURLWithPath: name)
        }
        // Mapped weights stay readable after the files are unlinked.
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }

        say("clipq-bench in-process: \(name), \(threads) thread(s), \(ProcessInfo.processInfo.activeProcessorCount) core(s)")
        say("  (figures are noisy on a shared machine: compare the ratios within this run)")
        let report = BenchReport([("model", .string(name)), ("threads", .number(Double(threads)))])
        MachineDescription.current.record(into: report)
        var oneImage: StageBench.OneImage?
        if stages {
            let preprocessor = try PreprocessorConfig(contentsOfFile: dir.appendingPathComponent("preprocessor_config.json").path)
            let tokenizer = try CLIPTokenizer(
                vocabJSON: Data(contentsOf: dir.appendingPathComponent("vocab.json")),
                merges: String(contentsOf: dir.appendingPathComponent("merges.txt"), encoding: .utf8))
            oneImage = try StageBench(fixtures: fixtures, preprocessor: preprocessor, tokenizer: tokenizer, fetchURL: fetchURL,
                                      allowPrivateNetworks: allowPrivateNetworks, runs: stageRuns).measure(into: report)
        }
        let asked: [Precision?] = precision.isEmpty ? [nil] : precision  // nil: CLIPQ_PRECISION, else fp32
        for precision in asked {
            try measure(try availablePrecision(precision), dir, report, oneImage)
        }
        report.printTable(title: "clipq-bench in-process: \(name), \(threads) thread(s)")
    }

    func measure(_ precision: Precision, _ dir: URL, _ report: BenchReport, _ oneImage: StageBench.OneImage?) throws {
        let p = precision.rawValue
        resetPeakMemory()
        var t = ContinuousClock.now
        // As the worker loads it (int8's outlier channels and per-tower precision; no weights cache).
        let clip = try CLIPModel.load(directory: dir, precision: precision, weightsCache: .off, maxImagesPerPass: imagesPerPass,
                                      threads: threads)
        let loadSeconds = elapsed(since: t)
        report.record("precision", p, "\(clip.precisionChoice); oneDNN \(oneDNNInstructionSet)",
                      [("precision", .string(p)), ("runs", .string(clip.precisionChoice)), ("onednn_isa", .string(oneDNNInstructionSet))])
        let vision = clip.config.vision, text = clip.config.text
        let gflopPerImage = flop(vision.tower, tokens: vision.positions,
                                 extra: 2.0 * Double(vision.positions - 1) * Double(vision.patchFeatures)
                                     * Double(vision.tower.hiddenSize)) / 1e9
        let pixels = (0..<(images * clip.pixelsPerImage)).map { Float(($0 * 7919) % 1000) / 500 - 1 }
        let fullTexts = (0..<texts).map { Self.tokens(text.maxPositions, $0) }
        let captions = Self.captions(texts, longest: captionTokens)
        let captionGFLOP = captions.map { flop(text.tower, tokens: $0.count, extra: 0) }.reduce(0, +) / 1e9

        t = ContinuousClock.now
        _ = try clip.encodeImages(pixels: Array(pixels.prefix(clip.pixelsPerImage)), count: 1)
        _ = try clip.encodeTexts(tokenIDs: Array(fullTexts.prefix(2)))
        let firstSeconds = elapsed(since: t)
        report.record("load", p, String(format: "%.2f s (map, config, weights prepared); first image and texts %.2f s (pages the weights in)",
                                        loadSeconds, firstSeconds),
                      [("precision", .string(p)), ("load_s", number(loadSeconds)), ("first_batch_s", number(firstSeconds))])

        // Rounds of: the linear layers' ceiling at the vision tower's shapes (a plain sgemm, and
        // the precision's own kernel where it is not sgemm), then each workload. Contention comes
        // and goes; ratios within a round are the figures to trust.
        var sgemmCeilings: [Double] = [], ceilings: [Double] = [], imageRates: [Double] = [],
            textRates: [Double] = [], captionRates: [Double] = []
        let rows = vision.positions * imagesPerPass
        for round in 1...rounds {
            let sgemm = linearCeiling(vision.tower, rows: rows, sgemmLinearFactory)
            let ceiling = precision == .fp32 ? sgemm : linearCeiling(vision.tower, rows: rows, precision.linearFactory)
            let imageRate = try rate(images) { _ = try clip.encodeImages(pixels: pixels, count: images) }
            let textRate = try rate(texts) { _ = try clip.encodeTexts(tokenIDs: fullTexts) }
            let captionRate = try rate(texts) { _ = try clip.encodeTexts(tokenIDs: captions) }
            (sgemmCeilings, ceilings) = (sgemmCeilings + [sgemm], ceilings + [ceiling])
            (imageRates, textRates, captionRates) = (imageRates + [imageRate], textRates + [textRate], captionRates + [captionRate])
            say(String(format: "round %d (%@): linear ceiling %.0f GFLOP/s (sgemm %.0f) | images %.3f/s = %.0f%% of it"
                         + " | 77-token texts %.1f/s | captions %.1f/s",
                       round, p, ceiling, sgemm, imageRate, 100 * imageRate * gflopPerImage / ceiling, textRate, captionRate))
        }
        let ceiling = median(ceilings), imageRate = median(imageRates)
        report.record("ceiling", p, String(format: "%.0f GFLOP/s linear layers at the vision shapes (plain sgemm: %.0f)",
                                           ceiling, median(sgemmCeilings)),
                      [("precision", .string(p)), ("linear_gflops", number(ceiling)), ("sgemm_gflops", number(median(sgemmCeilings)))])
        report.record("encode \(p)", "images, batch \(images)",
                      String(format: "%.3f images/s = %.0f GFLOP/s = %.0f%% of the ceiling", imageRate, imageRate * gflopPerImage,
                             100 * imageRate * gflopPerImage / ceiling),
                      [("precision", .string(p)), ("lane", .string("images")), ("batch", .number(Double(images))),
                       ("per_s", number(imageRate)), ("gflops", number(imageRate * gflopPerImage))])
        report.record("encode \(p)", "77-token texts, batch \(texts)", String(format: "%.1f texts/s", median(textRates)),
                      [("precision", .string(p)), ("lane", .string("texts77")), ("batch", .number(Double(texts))),
                       ("per_s", number(median(textRates)))])
        report.record("encode \(p)", "captions of 6-\(captionTokens) tokens, batch \(texts)",
                      String(format: "%.1f texts/s = %.0f GFLOP/s computed up to each end token", median(captionRates),
                             median(captionRates) * captionGFLOP / Double(texts)),
                      [("precision", .string(p)), ("lane", .string("captions")), ("batch", .number(Double(texts))),
                       ("per_s", number(median(captionRates)))])

        // By batch size, one pass each: what a worker's batcher trades latency for.
        var oneImageSeconds = 1 / imageRate
        for batch in imageBatches {
            let batchPixels = (0..<(batch * clip.pixelsPerImage)).map { pixels[$0 % pixels.count] }
            let perSecond = try rate(batch) { _ = try clip.encodeImages(pixels: batchPixels, count: batch) }
            if batch == 1 { oneImageSeconds = 1 / perSecond }
            report.record("by batch \(p)", "images, batch \(batch)",
                          String(format: "%.3f images/s, %.2f s per batch", perSecond, Double(batch) / perSecond),
                          [("precision", .string(p)), ("lane", .string("images")), ("batch", .number(Double(batch))),
                           ("per_s", number(perSecond))])
        }
        for batch in textBatches {
            let batchCaptions = Self.captions(batch, longest: captionTokens)
            let perSecond = try rate(batch) { _ = try clip.encodeTexts(tokenIDs: batchCaptions) }
            report.record("by batch \(p)", "captions, batch \(batch)",
                          String(format: "%.1f texts/s, %.1f ms per batch", perSecond, 1000 * Double(batch) / perSecond),
                          [("precision", .string(p)), ("lane", .string("captions")), ("batch", .number(Double(batch))),
                           ("per_s", number(perSecond))])
        }

        if let oneImage {
            let around = (oneImage.fetch ?? 0) + oneImage.decode + oneImage.resize + oneImage.requestJSON + oneImage.replyJSON
            let encode = oneImageSeconds * 1000
            report.record("one-image request \(p)", StageBench.images[0],
                          String(format: "%@decode %.1f + resize %.1f + JSON %.1f ms around an encode of %.0f ms: the encoder is %.1f%%",
                                 oneImage.fetch.map { String(format: "fetch %.1f + ", $0) } ?? "", oneImage.decode, oneImage.resize,
                                 oneImage.requestJSON + oneImage.replyJSON, encode, 100 * encode / (encode + around)),
                          [("precision", .string(p)), ("around_ms", number(around)), ("encode_ms", number(encode))])
        }

        let memory = residentMemory() ?? (0, 0)
        report.record("memory", p, "\(memory.current >> 20) MiB resident now, \(memory.peak >> 20) MiB peak",
                      [("precision", .string(p)), ("rss_mib", .number(Double(memory.current >> 20))),
                       ("peak_rss_mib", .number(Double(memory.peak >> 20)))])
    }

    /// Items per second of one timed call of `body` over `count` items.
    func rate(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
        let t = ContinuousClock.now
        try body()
        return Double(count) / elapsed(since: t)
    }

    /// Start token, distinct ordinary tokens, end token.
    static func tokens(_ length: Int, _ j: Int) -> [Int] {
        [49406] + (1..<(length - 1)).map { (($0 + j) * 7919) % 49000 + 1 } + [49407]
    }

    /// Short captions of 6 to `longest` tokens, as a tokenizer gives them (unpadded).
    static func captions(_ count: Int, longest: Int) -> [[Int]] {
        (0..<count).map { tokens(6 + $0 % max(1, longest - 5), $0) }
    }

    /// GFLOP/s of the linear layers at a transformer layer's shapes, weighted as a layer uses them
    /// (four D x D products, one D -> I, one I -> D), for the kernels `make` builds.
    func linearCeiling(_ tower: TowerConfig, rows: Int, _ make: LinearFactory) -> Double {
        let D = tower.hiddenSize, I = tower.intermediateSize
        func rate(_ n: Int, _ k: Int) -> Double {
            linearThroughput(m: rows, n: n, k: k, seconds: 0.4) { make(Tensor(pointer: $0, shape: [n, k]), nil) }.mean
        }
        let dd = rate(D, D), di = rate(I, D), id = rate(D, I)
        let flop = [4 * Double(D * D), Double(D * I), Double(I * D)]
        return flop.reduce(0, +) / (flop[0] / dd + flop[1] / di + flop[2] / id)
    }

    /// FLOP of a full forward pass through a tower (as PyTorch does it, every layer on every token).
    func flop(_ tower: TowerConfig, tokens: Int, extra: Double) -> Double {
        let T = Double(tokens), D = Double(tower.hiddenSize), I = Double(tower.intermediateSize)
        let perLayer = 2 * T * (4 * D * D + 2 * D * I) + 4 * T * T * D
        return Double(tower.layers) * perLayer + extra
    }
}

/// Starts VmHWM again from the current RSS (Linux: "5" to clear_refs), so that each precision's
/// peak is its own.
func resetPeakMemory() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

func elapsed(since start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start) / .seconds(1)
}

/// A line on stdout right away (print buffers when stdout is a pipe, and bench runs for a while).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The middle value (the upper one of an even count); 0 for none.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}
