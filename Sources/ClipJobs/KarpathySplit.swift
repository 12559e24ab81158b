import ClipSchema
import Foundation

/// Andrej Karpathy's split files (`dataset_flickr30k.json`, `dataset_coco.json`): `images`, each
/// with `filename`, optional `filepath` (COCO's `val2014`), `split` and `sentences` with `raw`.
public struct KarpathySplit: Sendable {
    public struct Image: Sendable {
        public var filename: String
        public var filepath: String?
        public var captions: [String]
    }

    public var images: [Image]

    public init(path: String, split: String) throws(JobError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw JobError(.input, "cannot read \(path)") }
        let document: JSONValue
        do {
            document = try JSONParser(maxDepth: 16).parse(Array(data))
        } catch {
            throw JobError(.input, "\(path) is not JSON: \(error)")
        }
        guard let entries = document["images"]?.array else { throw JobError(.input, "\(path) has no `images` array") }
        images = []
        for (i, entry) in entries.enumerated() where entry["split"]?.string == split {
            guard let filename = entry["filename"]?.string else { throw JobError(.input, "\(path): images[\(i)] has no filename") }
            let captions = (entry["sentences"]?.array ?? []).compactMap { $0["raw"]?.string }
            guard !captions.isEmpty else { throw JobError(.input, "\(path): \(filename) has no captions") }
            images.append(Image(filename: filename, filepath: entry["filepath"]?.string, captions: captions))
        }
        guard !images.isEmpty else { throw JobError(.input, "\(path) has no images in split \(split)") }
    }

    /// The batch rows of the split: per image, row 0 its image, rows 1... its captions, all named
    /// by the image's file name (the key `clipq eval` reads embeddings back by).
    public func rows(imageFolder: String) -> [BatchRow] {
        let folder = URL(fileURLWithPath: imageFolder)
        return images.flatMap { image -> [BatchRow] in
            var file = folder.appendingPathComponent(image.filename)
            if let sub = image.filepath, FileManager.default.fileExists(atPath: folder.appendingPathComponent(sub).path) {
                file = folder.appendingPathComponent(sub).appendingPathComponent(image.filename)
            }
            return [BatchRow(file: image.filename, row: 0, image: .file(file.path))]
                + image.captions.enumerated().map { BatchRow(file: image.filename, row: $0.offset + 1, text: $0.element) }
        }
    }
}
