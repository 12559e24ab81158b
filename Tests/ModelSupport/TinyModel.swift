import ClipImage
import ClipModel
import ClipSchema
import ClipText
import ClipTestSupport
import Foundation

import ClipPipeline

/// The tiny random-weight CLIP of Tests/Fixtures/tiny-clip (same architecture and code paths as
/// ViT-L/14@336, small widths), loaded once for the whole test process.
public enum TinyModel {
    public static let fixtures = TestFixtures.root
    public static let directory = fixtures.appendingPathComponent("tiny-clip")

    /// The tiny model's tokenizer and image preprocessing, without its weights.
    public static let preparer: Result<RowPreparer, Error> = Result {
        let config = try PreprocessorConfig(contentsOfFile: directory.appendingPathComponent("preprocessor_config.json").path)
        var settings = IngestSettings()
        settings.fetch.addressPolicy.allowPrivateNetworks = true  // tests serve images on loopback
        return RowPreparer(tokenizer: try CLIPTokenizer(modelDirectory: directory), images: ImageIngest(config: config, settings: settings))
    }

    public static let embedder: Result<Embedder, Error> = Result {
        Embedder(encoder: try CLIPModel.load(directory: directory), preparer: try preparer.get())
    }

    /// pipeline_reference.json: what Pillow + CLIPImageProcessor, open_clip's tokenizer and
    /// transformers' CLIPModel make of some image files and texts.
    public struct Reference {
        public var images: [String]
        public var texts: [String]
        public var imageFeatures: [[Float]]
        public var textFeatures: [[Float]]

        public static func load() throws -> Reference {
            let json = try JSONParser().parse(Array(try Data(contentsOf: directory.appendingPathComponent("pipeline_reference.json"))))
            func matrix(_ key: String) -> [[Float]] {
                (json[key]?.array ?? []).map { ($0.array ?? []).map { Float($0.number ?? .nan) } }
            }
            return Reference(
                images: (json["images"]?.array ?? []).compactMap(\.string), texts: (json["texts"]?.array ?? []).compactMap(\.string),
                imageFeatures: matrix("image_features"), textFeatures: matrix("text_features"))
        }

        /// The image file as a request cell (base64).
        public func imageCell(_ i: Int) throws -> String {
            try Data(contentsOf: fixtures.appendingPathComponent("images/inputs/\(images[i])")).base64EncodedString()
        }
    }
}

/// Cosine similarity and the largest difference relative to the reference's norm.
public func closeness(_ a: [Float], _ b: [Float]) -> (cosine: Double, relativeMaxError: Double) {
    let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    let na = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    let nb = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    let maxError = zip(a, b).map { abs(Double($0) - Double($1)) }.max() ?? .infinity
    return (dot / (na * nb), maxError / nb)
}
