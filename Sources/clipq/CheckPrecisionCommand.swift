import ArgumentParser
import ClipCommandLine
import ClipModel
import ClipPipeline
import ClipSchema
import ClipTensor
import Foundation

/// `clipq check-precision`: a precision's embeddings against fp32's on this checkpoint and CPU.
struct CheckPrecisionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-precision",
        abstract: "Compare --precision's embeddings with fp32's on this model and CPU.",
        discussion: """
            Encodes each --image (local path, http(s) URL, data URI or base64) and --text in fp32 \
            and in --precision as a worker on this CPU runs it (auto: as it chooses here), and \
            prints each embedding's cosine to fp32 and the lowest per tower. With no --image, \
            synthetic images; with no --text, built-in captions of every length. Exits 1 when a \
            cosine is below --minimum-cosine, so that a deployment can gate on it. Real \
            checkpoints carry activation outliers that random weights lack, and bf16's and int8's \
            accuracy depends on them: check your checkpoint, on your images, before choosing one.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "An image: local path, http(s) URL, data URI or base64. Repeatable.")
    var image: [String] = []

    @Option(help: "A text. Repeatable.")
    var text: [String] = []

    @Option(help: "The lowest cosine to fp32 accepted for any embedding.")
    var minimumCosine: Double = 0.999

    @Option(help: "Synthetic images encoded when no --image is given.")
    var syntheticImages: Int = 3

    func validate() throws {
        guard (0...1).contains(minimumCosine) else { throw ValidationError("--minimum-cosine must be within 0...1") }
        guard syntheticImages >= 0 else { throw ValidationError("--synthetic-images must not be negative") }
    }

    func run() throws {
        let warnings = Warnings()
        let candidate = try model.loadedEmbedder(warnings: warnings)
        print("\(model.model): \(candidate.precisionChoice) against fp32, oneDNN \(oneDNNInstructionSet)")
        guard candidate.precision != .fp32 else {
            print("runs fp32 here: nothing to compare")
            return
        }
        let reference = try CLIPModel.load(directory: model.directory, precision: .fp32, weightsCache: .off, warnings: warnings)
        let preparer = candidate.embedder.preparer
        let images: [(label: String, pixels: [Float])]
        if image.isEmpty {
            let side = Int((Double(reference.pixelsPerImage / 3)).squareRoot())
            images = PrecisionProbes.images(count: syntheticImages, channels: 3, size: side).enumerated()
                .map { ("synthetic \($0.offset + 1)", $0.element) }
        } else {
            images = try image.enumerated().map { i, value in
                let cell: PreparedCell<[Float]>
                do {
                    cell = try preparer.image(try imageCell(value), row: i, deadline: nil).get()
                } catch let error as ClipError {
                    throw ClipError(error.code, "--image \(value.prefix(80)): \(error.message)")
                }
                // Without a cache (none is given) every image comes back as pixels.
                guard case .input(let pixels, _) = cell else { throw CommandError(.invalidInput, "--image \(value): no pixels") }
                return (value, pixels)
            }
        }
        let texts = (text.isEmpty ? PrecisionProbes.captions : text).map { ($0, preparer.tokens($0)) }
        let check = try PrecisionCheck(reference: reference, candidate: candidate.embedder.encoder, images: images, texts: texts)
        for probe in check.probes {
            // Long labels cut to 60 characters: a caption keeps its start, an image (a path, a URL) its end.
            let label = probe.label.count <= 60 ? probe.label
                : probe.tower == .text ? probe.label.prefix(57) + "..." : "..." + probe.label.suffix(57)
            print(String(format: "%@ %@: cosine %.6f", probe.tower.rawValue, "\"\(label)\"", probe.cosine))
        }
        let lowest = [PrecisionCheck.Tower.image, .text].compactMap { tower in
            check.lowest(tower).map { "\(tower.rawValue)s \(String(format: "%.6f", $0))" }
        }
        let holds = check.probes.allSatisfy { $0.cosine >= minimumCosine }
        print("lowest: \(lowest.joined(separator: ", ")); minimum \(minimumCosine): " + (holds ? "holds" : "NOT met"))
        if !holds { throw ExitCode(1) }
    }
}
