import ArgumentParser
import ClipModel
import ClipTensor
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the encoders: images/s, texts/s, load time, memory, against sgemm's ceiling.",
        discussion: """
            Runs on --model, by default a ViT-L/14@336 with random weights that it writes to \
            models/random-vit-l-14-336 (1.7 GB, git-ignored) the first time. All figures come from \
            one run, so ratios between them hold even on a busy machine; absolute figures do not.
            """
    )

    @Option(help: "A Hugging Face CLIP model directory (config.json, model.safetensors).")
    var model: String = Self.randomModel

    static let randomModel = "models/random-vit-l-14-336"

    @Option(help: "Images to encode (after one warm-up image).")
    var images: Int = 4

    @Option(help: "Images per pass through the vision tower.")
    var imagesPerPass: Int = 4

    @Option(help: "Texts per batch, for 77-token texts and for short captions.")
    var texts: Int = 16

    @Option(help: "Tokens of a short caption, start and end tokens included.")
    var captionTokens: Int = 12

    @Option(help: "OpenBLAS threads (default: its own choice, one per core).")
    var threads: Int?

    func run() throws {
        if let threads { blasThreadCount = threads }
        let dir = URL(fileURLWithPath: model)
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) {
            guard model == Self.randomModel else { throw ValidationError("no config.json in \(model)") }
            print("writing a ViT-L/14@336 with random weights to \(model) ...")
            let t = Date()
            try writeRandomModel(.vitL14At336, to: dir)
            print(String(format: "  written in %.1f s", Date().timeIntervalSince(t)))
        }
        print("clipq bench: \(model), OpenBLAS \(blasThreadCount) thread(s), \(ProcessInfo.processInfo.activeProcessorCount) core(s)")
        print("  (figures are noisy on a shared machine: compare the ratios within this run)")

        var t = Date()
        let clip = try CLIPModel.load(directory: dir, maxImagesPerPass: imagesPerPass)
        let loadSeconds = Date().timeIntervalSince(t)
        let vision = clip.config.vision, text = clip.config.text

        // The ceiling: sgemm at the vision tower's linear shapes, in the same run.
        let rows = vision.positions * imagesPerPass
        let D = vision.tower.hiddenSize, I = vision.tower.intermediateSize
        var ceilings: [Double] = []
        for (n, k) in [(D, D), (I, D), (D, I)] {
            let r = sgemmThroughput(m: rows, n: n, k: k, seconds: 1.5)
            ceilings.append(r.mean)
            print(String(format: "sgemm [%d x %d] x [%d x %d]^T: %.0f GFLOP/s mean, %.0f best", rows, k, n, k, r.mean, r.best))
        }
        // Weighted as a layer uses them: 4 D x D products, one D->I and one I->D.
        let ceiling = 6 / (4 / ceilings[0] + 1 / ceilings[1] + 1 / ceilings[2])

        let pixels = (0..<(images * clip.pixelsPerImage)).map { Float(($0 * 7919) % 1000) / 500 - 1 }
        t = Date()
        _ = try clip.encodeImages(pixels: Array(pixels.prefix(clip.pixelsPerImage)), count: 1)
        let firstImage = Date().timeIntervalSince(t)
        t = Date()
        _ = try clip.encodeImages(pixels: pixels, count: images)
        let imageSeconds = Date().timeIntervalSince(t)
        let imageRate = Double(images) / imageSeconds
        let gflopPerImage = flop(vision.tower, tokens: vision.positions, extra: 2.0 * Double(vision.positions - 1) * Double(vision.patchFeatures) * Double(D)) / 1e9

        print(String(format: "load: %.2f s (mmap + header + config); first image (pages the weights in): %.2f s", loadSeconds, firstImage))
        print(String(format: "images: %.3f /s (%d in %.1f s, %d per pass) = %.0f GFLOP/s at %.0f GFLOP per image",
                     imageRate, images, imageSeconds, imagesPerPass, imageRate * gflopPerImage, gflopPerImage))
        print(String(format: "  sgemm ceiling %.0f GFLOP/s -> %.3f images/s; this run reaches %.0f%% of it",
                     ceiling, ceiling / gflopPerImage, 100 * imageRate * gflopPerImage / ceiling))

        for length in [text.maxPositions, captionTokens] {
            // Start token, distinct ordinary tokens, end token.
            let ids = (0..<texts).map { j in [49406] + (1..<(length - 1)).map { (($0 + j) * 7919) % 49000 + 1 } + [49407] }
            _ = try clip.encodeTexts(tokenIDs: Array(ids.prefix(2)))
            t = Date()
            _ = try clip.encodeTexts(tokenIDs: ids)
            let seconds = Date().timeIntervalSince(t)
            let gflop = flop(text.tower, tokens: length, extra: 0) / 1e9
            print(String(format: "texts of %d tokens: %.1f /s (%d in %.2f s) = %.0f GFLOP/s at %.1f GFLOP per text",
                         length, Double(texts) / seconds, texts, seconds, Double(texts) * gflop / seconds, gflop))
        }
        let memory = residentMemory()
        print("resident memory: \(memory.current / (1 << 20)) MiB now, \(memory.peak / (1 << 20)) MiB peak")
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
