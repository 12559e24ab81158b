import ClipImage
import ClipSchema
import ClipModelTestSupport
import Foundation
import XCTest

@testable import ClipPipeline

/// The whole in-process path (`clipq embed`): image files and texts through ingest, the
/// tokenizer and the encoders, against the Python reference stack end to end.
final class EmbedderTests: XCTestCase {
    func testRequestRowsMatchTheReferenceStack() throws {
        let embedder = try TinyModel.embedder.get()
        let reference = try TinyModel.Reference.load()
        var rows: [EmbeddingRequest.Row] = try reference.images.indices.map { .init(image: try reference.imageCell($0)) }
        rows += reference.texts.map { EmbeddingRequest.Row(text: $0.isEmpty ? nil : $0) }
        // An empty cell means "no text" in the contract; embed the empty caption through a row
        // that has an image too, so every reference text is checked.
        let emptyText = try XCTUnwrap(reference.texts.firstIndex(of: ""))
        rows[reference.images.count + emptyText] = .init(image: try reference.imageCell(0), text: nil)
        let replies = try embedder.embed(EmbeddingRequest(rows: rows))
        XCTAssertEqual(replies.count, rows.count)

        for (i, expected) in reference.imageFeatures.enumerated() {
            let got = try XCTUnwrap(replies[i].imageFeatures, reference.images[i])
            let (cosine, error) = closeness(got, expected)
            XCTAssertGreaterThanOrEqual(cosine, 0.99999, reference.images[i])
            XCTAssertLessThanOrEqual(error, 1e-4, reference.images[i])
        }
        for (i, expected) in reference.textFeatures.enumerated() where i != emptyText {
            let got = try XCTUnwrap(replies[reference.images.count + i].textFeatures, reference.texts[i])
            let (cosine, error) = closeness(got, expected)
            XCTAssertGreaterThanOrEqual(cosine, 0.99999, reference.texts[i])
            XCTAssertLessThanOrEqual(error, 1e-4, reference.texts[i])
        }
    }

    func testTheEmptyCaptionMatchesTooWhenItIsTheOnlyText() throws {
        let embedder = try TinyModel.embedder.get()
        let reference = try TinyModel.Reference.load()
        let i = try XCTUnwrap(reference.texts.firstIndex(of: ""))
        let ids = embedder.preparer.tokens("")
        XCTAssertEqual(ids, [49406, 49407])
        let features = try embedder.encoder.encodeTexts(tokenIDs: [ids])
        XCTAssertGreaterThanOrEqual(closeness(features[0], reference.textFeatures[i]).cosine, 0.99999)
    }

    func testNormalizeGivesUnitVectorsInTheSameDirection() throws {
        let embedder = try TinyModel.embedder.get()
        let request = EmbeddingRequest(rows: [.init(text: "a photo of a cat")])
        let raw = try XCTUnwrap(try embedder.embed(request)[0].textFeatures)
        let unit = try XCTUnwrap(try embedder.embed(request, normalize: true)[0].textFeatures)
        XCTAssertEqual(unit.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5)
        XCTAssertGreaterThan(closeness(unit, raw).cosine, 0.999999)
    }

    func testAnImageErrorPointsAtItsCellAndTheFirstBadRowWins() throws {
        let embedder = try TinyModel.embedder.get()
        let request = EmbeddingRequest(rows: [
            .init(text: "fine"), .init(image: "bm90IGFuIGltYWdl"), .init(image: "ftp://example.com/x.jpg"),
        ])
        XCTAssertThrowsError(try embedder.embed(request)) { error in
            XCTAssertEqual((error as? ClipError)?.code, .unsupportedImageFormat)
            XCTAssertEqual((error as? ClipError)?.pointer, "/input_data/data/1/0")
        }
    }
}
