import ArgumentParser
import ClipModel
import ClipTensor
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the encoders: images/s, texts/s, load time, memory, against the matrix products' ceiling.",
        discussion: """
            Runs on --model, by default a ViT-L/14@336 with random weights that it writes to \
            models/random-vit-l-14-336 (1.7 GB, git-ignored) the first time. All figures come from \
            one run, so ratios between them hold even on a busy machine; absolute figures do not.
            """
    )

    @Option(help: "A Hugging Face CLIP model directory (config.json, model.safetensors).")
    var model: String = Self.randomModel

    static let randomModel = "models/random-vit-l-14-336"

    /// Writes the random-weight ViT-L/14@336 the first time it is asked for, with the test
    /// fixtures' tokenizer and preprocessor files so that every command can run on it.
    static func ensureModel(_ model: String) throws {
        let dir = URL(fileURLWithPath: model)
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) {
            guard model == randomModel else { throw ValidationError("no config.json in \(model)") }
            say("writing a ViT-L/14@336 with random weights to \(model) ...")
            let t = Date()
            try writeRandomModel(.vitL14At336, to: dir)
            say(String(format: "  written in %.1f s", Date().timeIntervalSince(t)))
        }
        guard model == randomModel else { return }
        let fixtures = ["Tests/Fixtures/clip-vocab/vocab.json", "Tests/Fixtures/clip-vocab/merges.txt",
                        "Tests/Fixtures/images/preprocessor_config.json"]
        for source in fixtures {
            let target = dir.appendingPathComponent(URL(fileURLWithPath: source).lastPathComponent)
            if !FileManager.default.fileExists(atPath: target.path) {
                try FileManager.default.copyItem(at: URL(fileURLWithPath: source), to: target)
            }
        }
    }

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

    @Option(help: "Linear layers in fp32 (OpenBLAS), bf16 or int8 (oneDNN). Repeatable: each is measured in turn, in this run. Env CLIPQ_PRECISION.")
    var precision: [Precision] = []

    @Option(help: "Cores to use (default: all).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let dir = URL(fileURLWithPath: model)
        guard images > 0, rounds > 0, texts > 0, captionTokens >= 6 else {
            throw ValidationError("--images, --rounds and --texts must be positive, --caption-tokens at least 6")
        }
        try Self.ensureModel(model)
        let asked: [Precision?] = precision.isEmpty ? [nil] : precision  // nil: CLIPQ_PRECISION, else fp32
        for precision in asked { try measure(try availablePrecision(precision), dir) }
    }

    func measure(_ precision: Precision, _ dir: URL) throws {
        say("clipq bench: \(model), \(precision.rawValue), OpenBLAS \(blasThreadCount) thread(s), \(ProcessInfo.processInfo.activeProcessorCount) core(s)")
        say("  (figures are noisy on a shared machine: compare the ratios within this run)")

        var t = Date()
        let clip = try CLIPModel.load(directory: dir, maxImagesPerPass: imagesPerPass, threads: threads,
                                      makeLinear: precision.linearFactory)
        let loadSeconds = Date().timeIntervalSince(t)
        let vision = clip.config.vision, text = clip.config.text

        let D = vision.tower.hiddenSize
        let gflopPerImage = flop(vision.tower, tokens: vision.positions,
                                 extra: 2.0 * Double(vision.positions - 1) * Double(vision.patchFeatures) * Double(D)) / 1e9
        let pixels = (0..<(images * clip.pixelsPerImage)).map { Float(($0 * 7919) % 1000) / 500 - 1 }
        // Start token, distinct ordinary tokens, end token.
        func tokens(_ length: Int, _ j: Int) -> [Int] {
            [49406] + (1..<(length - 1)).map { (($0 + j) * 7919) % 49000 + 1 } + [49407]
        }
        let fullTexts = (0..<texts).map { tokens(text.maxPositions, $0) }
        // Short captions of 6 to `captionTokens` tokens, as a tokenizer gives them (unpadded).
        let captions = (0..<texts).map { tokens(6 + $0 % max(1, captionTokens - 5), $0) }
        let captionGFLOP = captions.map { flop(text.tower, tokens: $0.count, extra: 0) }.reduce(0, +) / 1e9
        let paddedGFLOP = Double(texts) * flop(text.tower, tokens: captionTokens, extra: 0) / 1e9

        t = Date()
        _ = try clip.encodeImages(pixels: Array(pixels.prefix(clip.pixelsPerImage)), count: 1)
        _ = try clip.encodeTexts(tokenIDs: Array(fullTexts.prefix(2)))
        say(String(format: "load: %.2f s (mmap, header, config); first image and texts (pages the weights in): %.2f s",
                     loadSeconds, Date().timeIntervalSince(t)))
        say(String(format: "work: %.0f GFLOP per image, %.1f per 77-token text (every layer on every token, as PyTorch)",
                     gflopPerImage, flop(text.tower, tokens: text.maxPositions, extra: 0) / 1e9))

        // Rounds of: the linear layers' ceiling at the vision tower's shapes (sgemm's, and in bf16
        // and int8 oneDNN's matmul's too: images are measured against the precision's own), then
        // each workload. Contention comes and goes; ratios within a round are the figures to trust.
        var ratios: [Double] = [], imageRates: [Double] = [], textRates: [Double] = [], captionRates: [Double] = []
        for round in 1...rounds {
            let rows = vision.positions * imagesPerPass
            let ceiling = linearCeiling(vision.tower, rows: rows)
            var implementation = ""
            let oneDNNCeiling: Double?
            switch precision {
            case .fp32: oneDNNCeiling = nil
            case .bf16:
                oneDNNCeiling = try linearCeiling(vision.tower, rows: rows) { w, n, k in
                    let kernel = try BFloat16Linear(weight: w, bias: nil, inFeatures: k, outFeatures: n, rows: rows)
                    implementation = kernel.implementation
                    return kernel
                }
            case .int8:
                // Quantizing the activations and scaling the sums back included, as the model runs it.
                oneDNNCeiling = try linearCeiling(vision.tower, rows: rows) { w, n, k in
                    let kernel = try Int8Linear(weight: w, bias: nil, inFeatures: k, outFeatures: n, rows: rows, threads: threads)
                    implementation = kernel.implementation
                    return kernel
                }
            }
            let attention = attentionThroughput(length: vision.positions, heads: vision.tower.heads,
                                                headDim: vision.tower.headDim, workers: threads, seconds: 0.5)
            t = Date()
            _ = try clip.encodeImages(pixels: pixels, count: images)
            let imageRate = Double(images) / Date().timeIntervalSince(t)
            t = Date()
            _ = try clip.encodeTexts(tokenIDs: fullTexts)
            let textRate = Double(texts) / Date().timeIntervalSince(t)
            t = Date()
            _ = try clip.encodeTexts(tokenIDs: captions)
            let captionSeconds = Date().timeIntervalSince(t)
            let captionRate = Double(texts) / captionSeconds
            let ratio = imageRate * gflopPerImage / (oneDNNCeiling ?? ceiling)
            ratios.append(ratio)
            imageRates.append(imageRate)
            textRates.append(textRate)
            captionRates.append(captionRate)
            let oneDNNNote = oneDNNCeiling.map {
                String(format: ", %@ linear %.0f (%@)", precision.rawValue, $0, implementation)
            } ?? ""
            say(String(format: "round %d: sgemm %.0f GFLOP/s%@ (attention %.0f) | images %.3f/s = %.0f GFLOP/s = %.0f%% of the ceiling"
                         + " | 77-token texts %.1f/s | captions %.1f/s (%.0f GFLOP/s padded to %d)",
                         round, ceiling, oneDNNNote, attention, imageRate, imageRate * gflopPerImage, 100 * ratio,
                         textRate, captionRate, paddedGFLOP / captionSeconds, captionTokens))
        }
        say(String(format: "median (\(precision.rawValue)): images %.3f/s at %.0f%% of the linear ceiling (ceiling = %.3f images/s); "
                     + "77-token texts %.1f/s; captions of 6-%d tokens %.1f/s (%.1f GFLOP of %.1f padded)",
                     median(imageRates), 100 * median(ratios), median(imageRates) / median(ratios),
                     median(textRates), captionTokens, median(captionRates), captionGFLOP, paddedGFLOP))
        let memory = residentMemory()
        say("resident memory: \(memory.current / (1 << 20)) MiB now, \(memory.peak / (1 << 20)) MiB peak")
    }

    /// GFLOP/s of the linear layers at a transformer layer's shapes, weighted as a layer uses them
    /// (four D x D products, one D -> I, one I -> D): sgemm's, or the kernel `make` builds from an
    /// [n, k] weight.
    func linearCeiling(_ tower: TowerConfig, rows: Int,
                       make: ((UnsafePointer<Float>, _ n: Int, _ k: Int) throws -> any LinearKernel)? = nil) rethrows -> Double {
        let D = tower.hiddenSize, I = tower.intermediateSize
        func rate(_ n: Int, _ k: Int) throws -> Double {
            guard let make else { return sgemmThroughput(m: rows, n: n, k: k, seconds: 0.4).mean }
            return try linearThroughput(m: rows, n: n, k: k, seconds: 0.4) { try make($0, n, k) }.mean
        }
        let dd = try rate(D, D), di = try rate(I, D), id = try rate(D, I)
        let flop = [4 * Double(D * D), Double(D * I), Double(I * D)]
        return flop.reduce(0, +) / (flop[0] / dd + flop[1] / di + flop[2] / id)
    }

    /// FLOP of a full forward pass through a tower (as PyTorch does it, every layer on every token).
    func flop(_ tower: TowerConfig, tokens: Int, extra: Double) -> Double {
        let T = Double(tokens), D = Double(tower.hiddenSize), I = Double(tower.intermediateSize)
        let perLayer = 2 * T * (4 * D * D + 2 * D * I) + 4 * T * T * D
        return Double(tower.layers) * perLayer + extra
    }

    /// VmRSS and VmHWM from /proc/self/status, in bytes.
    func residentMemory() -> (current: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            for line in status.split(separator: "\n") where line.hasPrefix(name) {
                return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
            }
            return 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }
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
