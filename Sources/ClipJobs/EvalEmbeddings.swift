import ClipSchema
import Foundation

/// The embeddings of a Karpathy split, read back from a batch job's npy output: an image's
/// embedding is a row named by its file name that has an image, its captions' embeddings are
/// the rows of that name that have a text. `clipq eval` writes such output itself; so does
/// `clipq batch --format npy` on an image folder with a caption beside each image.
public struct EvalEmbeddings: Sendable {
    public var images: [[Float]]
    public var captions: [[Float]]
    /// The image of each caption.
    public var owner: [Int]

    public init(directory: String, split: KarpathySplit) throws(JobError) {
        let folder = URL(fileURLWithPath: directory)
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(NPYWriter.metadataFile).path) else {
            throw JobError(.input, "\(directory) holds no \(NPYWriter.metadataFile) (the npy output of clipq batch)")
        }
        var imageIndex: [String: Int] = [:], textIndices: [String: [Int]] = [:], failed: [String: String] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let row = try? JSONParser().parse(Array(line)), let file = row["file"]?.string else {
                throw JobError(.input, "\(NPYWriter.metadataFile): a line that is not a row object")
            }
            if let error = row["error"] { failed[file] = JSONWriter.string(error) }
            if let i = row["image_index"]?.number, imageIndex[file] == nil { imageIndex[file] = Int(i) }
            if let i = row["text_index"]?.number { textIndices[file, default: []].append(Int(i)) }
        }
        let names = split.images.map(\.filename)
        if let bad = names.first(where: { failed[$0] != nil }) {
            throw JobError(.input, "\(names.filter { failed[$0] != nil }.count) images or captions of the split failed to embed, e.g. \(bad): \(failed[bad] ?? "")")
        }
        if let missing = names.first(where: { imageIndex[$0] == nil || textIndices[$0] == nil }) {
            throw JobError(.input, "\(directory) has no image or no caption embedding for \(missing)")
        }
        let imageMatrix = try NPYMatrix(contentsOf: folder.appendingPathComponent(NPYWriter.imageFile).path)
        let textMatrix = try NPYMatrix(contentsOf: folder.appendingPathComponent(NPYWriter.textFile).path)
        guard imageMatrix.columns == textMatrix.columns else {
            throw JobError(.input, "image embeddings have \(imageMatrix.columns) values, text embeddings \(textMatrix.columns)")
        }
        images = []
        captions = []
        owner = []
        for (i, name) in names.enumerated() {
            guard let row = imageIndex[name], row < imageMatrix.rows else { throw JobError(.input, "image index out of range for \(name)") }
            images.append(Array(imageMatrix[row]))
            for t in textIndices[name] ?? [] {
                guard t < textMatrix.rows else { throw JobError(.input, "text index out of range for \(name)") }
                captions.append(Array(textMatrix[t]))
                owner.append(i)
            }
        }
    }
}

/// Recall figures of OpenAI's ViT-L/14@336 in the CLIP paper (Table 13, zero-shot), in percent.
public struct PublishedRecall: Sendable {
    public var dataset: String
    public var textToImage: [Int: Double]
    public var imageToText: [Int: Double]

    public static let flickr30k = PublishedRecall(dataset: "Flickr30k", textToImage: [1: 68.7, 5: 90.6], imageToText: [1: 88.0, 5: 98.7])
    public static let coco = PublishedRecall(dataset: "MSCOCO", textToImage: [1: 37.8, 5: 62.4], imageToText: [1: 58.4, 5: 81.5])
}
