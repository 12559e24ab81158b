import ArgumentParser
import ClipCommandLine
import ClipJobs
import Foundation

/// `clipq eval`: zero-shot image-text retrieval on a Karpathy split, as in the CLIP paper.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Zero-shot retrieval recall (R@1/5/10) on a Karpathy-format split (Flickr30k, MSCOCO).",
        discussion: """
            Embeds the split's images (from --images) and captions, L2-normalizes them and prints \
            text-to-image and image-to-text recall beside the published ViT-L/14@336 figures. \
            Ties count against the query (docs/batch-and-eval.md). --embeddings DIR keeps the embeddings (the \
            npy output of clipq batch): a complete DIR is reused without the model, an incomplete \
            one is resumed.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "The split file: dataset_flickr30k.json or dataset_coco.json (Karpathy's format).")
    var splitFile: String

    @Option(help: "Which split.")
    var split = "test"

    @Option(help: "The image folder (COCO: the folder holding val2014/, or val2014 itself).")
    var images: String?

    @Option(help: "Where the embeddings are kept (npy output of clipq batch); reused when complete.")
    var embeddings: String?

    @Option(help: "Published figures to print beside: flickr30k or coco (default: from the split file's name).")
    var dataset: String?

    @Flag(help: "Print {\"text_to_image\": {\"R@1\": ...}, \"image_to_text\": {...}} in percent, and nothing else.")
    var json = false

    @Flag(help: "Embed through the broker's workers instead of the model here.")
    var viaQueue = false

    func run() throws {
        do {
            let splitSet = try KarpathySplit(path: splitFile, split: split)
            let directory = embeddings ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("clipq-eval-\(UUID().uuidString)").path
            defer { if embeddings == nil { try? FileManager.default.removeItem(atPath: directory) } }
            let checkpoint = try Checkpoint.read(URL(fileURLWithPath: directory).appendingPathComponent("checkpoint.json").path)
            if checkpoint?.complete != true {
                guard let images else { throw JobError(.input, "give --images (or --embeddings with a complete batch output)") }
                let rows = splitSet.rows(imageFolder: images)
                let input = BatchInput(rows: rows, fingerprint: "karpathy:\(URL(fileURLWithPath: splitFile).lastPathComponent):\(split):\(rows.count)")
                var job = BatchJob(input: input, format: .npy, output: directory)
                job.chunkRows = 64
                let progress = json ? nil : ClipJobs.Progress(total: rows.count)
                _ = try runJob(job, model: model, broker: broker, viaQueue: viaQueue, lane: .bulk, normalize: false,
                               maxOutstanding: 16, replyTimeout: 600, progress: progress)
            }
            let vectors = try EvalEmbeddings(directory: directory, split: splitSet)
            let recall = retrievalRecall(images: vectors.images, captions: vectors.captions, owner: vectors.owner)
            print(json ? Self.json(recall) : Self.table(recall, published: published, images: vectors.images.count,
                                                        captions: vectors.captions.count))
        } catch let error as JobError {
            FileHandle.standardError.write(Data("eval: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private var published: PublishedRecall? {
        let name = (dataset ?? URL(fileURLWithPath: splitFile).lastPathComponent).lowercased()
        return name.contains("coco") ? .coco : name.contains("flickr") ? .flickr30k : nil
    }

    static func json(_ recall: RetrievalRecall) -> String {
        func object(_ figures: [Int: Double]) -> String {
            "{" + [1, 5, 10].map { "\"R@\($0)\": \(String(format: "%.2f", figures[$0] ?? 0))" }.joined(separator: ", ") + "}"
        }
        return "{\"text_to_image\": \(object(recall.textToImage)), \"image_to_text\": \(object(recall.imageToText))}"
    }

    static func table(_ recall: RetrievalRecall, published: PublishedRecall?, images: Int, captions: Int) -> String {
        func cells(_ figures: [Int: Double], _ ks: [Int]) -> String {
            ks.map { k in figures[k].map { String(format: "%6.1f", $0) } ?? "     -" }.joined(separator: " ")
        }
        var lines = ["zero-shot retrieval: \(images) images, \(captions) captions, recall in percent (ties count against)",
                     "                    R@1    R@5   R@10" + (published.map { "   | \($0.dataset), ViT-L/14@336 (CLIP paper)  R@1    R@5" } ?? "")]
        for (name, ours, theirs) in [("text -> image", recall.textToImage, published?.textToImage),
                                     ("image -> text", recall.imageToText, published?.imageToText)] {
            lines.append(name.padding(toLength: 16, withPad: " ", startingAt: 0) + cells(ours, [1, 5, 10])
                + (theirs.map { "   | " + String(repeating: " ", count: 36) + cells($0, [1, 5]) } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
