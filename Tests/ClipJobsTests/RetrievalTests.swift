import XCTest

@testable import ClipJobs

/// The recall arithmetic on embeddings whose answer is worked out by hand, ties included.
final class RetrievalTests: XCTestCase {
    private func unit(_ i: Int, _ n: Int = 4) -> [Float] { (0..<n).map { $0 == i ? 1 : 0 } }

    func testHandWorkedRanksWithTies() {
        let images = [unit(0), unit(1), unit(2)]
        let captions: [[Float]] = [
            unit(0),              // image 0's: its image alone scores 1           -> rank 1
            unit(1),              // image 0's: image 1 scores 1, image 2 ties at 0 -> rank 3
            [0, 1, 0.5, 0],       // image 1's: image 1 scores highest              -> rank 1
            unit(2),              // image 1's: image 2 scores 1, image 0 ties at 0 -> rank 3
            [1, 0, 1, 0],         // image 2's: image 0 ties with image 2          -> rank 2
            unit(3),              // image 2's: every image scores 0               -> rank 3
        ]
        let owner = [0, 0, 1, 1, 2, 2]
        let recall = retrievalRecall(images: images, captions: captions, owner: owner, ks: [1, 2, 3])
        // Text to image, ranks [1, 3, 1, 3, 2, 3].
        XCTAssertEqual(recall.textToImage[1]!, 100 * 2 / 6, accuracy: 1e-9)
        XCTAssertEqual(recall.textToImage[2]!, 100 * 3 / 6, accuracy: 1e-9)
        XCTAssertEqual(recall.textToImage[3]!, 100, accuracy: 1e-9)
        // Image to text: image 0's best caption (1.0) is beaten by no other image's caption (the
        // nearest, [1,0,1,0], scores 0.71) -> rank 1; image 1's best (0.89) is beaten by caption 1
        // (1.0) -> rank 2; image 2's best (0.71) is beaten by caption 3 (1.0) -> rank 2.
        XCTAssertEqual(recall.imageToText[1]!, 100.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(recall.imageToText[2]!, 100, accuracy: 1e-9)
    }

    func testEqualEmbeddingsScoreNothingBecauseTiesCountAgainst() {
        let same: [Float] = [0.3, -0.2, 0.9]
        let recall = retrievalRecall(images: Array(repeating: same, count: 4), captions: Array(repeating: same, count: 8),
                                     owner: [0, 0, 1, 1, 2, 2, 3, 3], ks: [1, 3, 4])
        XCTAssertEqual(recall.textToImage, [1: 0, 3: 0, 4: 100])
        XCTAssertEqual(recall.imageToText, [1: 0, 3: 0, 4: 0], "6 wrong captions tie with the right ones")
    }

    func testScaleDoesNotMatterAndAPerfectModelScores100() {
        let images = (0..<5).map { unit($0, 5) }
        let captions = (0..<10).map { c in unit(c / 2, 5).map { $0 * Float(c + 1) * 3.5 } }
        let recall = retrievalRecall(images: images, captions: captions, owner: (0..<10).map { $0 / 2 })
        XCTAssertEqual(recall.textToImage, [1: 100, 5: 100, 10: 100])
        XCTAssertEqual(recall.imageToText, [1: 100, 5: 100, 10: 100])
    }

    /// Against ranks found by sorting (no ties in random data), through BLAS.
    func testRandomEmbeddingsAgreeWithSorting() {
        var generator = SystemRandomNumberGenerator()
        func vector() -> [Float] { (0..<16).map { _ in Float.random(in: -1...1, using: &generator) } }
        let images = (0..<30).map { _ in vector() }
        let owner = (0..<30).flatMap { [Int](repeating: $0, count: 5) }
        let captions = owner.map { images[$0].map { $0 + Float.random(in: -1.5...1.5, using: &generator) } }
        func cosine(_ a: [Float], _ b: [Float]) -> Double {
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            return dot / (a.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() * b.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot())
        }
        var t2i = [Int](), i2t = [Int]()
        for (c, caption) in captions.enumerated() {
            let order = images.indices.sorted { cosine(caption, images[$0]) > cosine(caption, images[$1]) }
            t2i.append((order.firstIndex(of: owner[c]) ?? 99) + 1)
        }
        for (i, image) in images.enumerated() {
            let order = captions.indices.sorted { cosine(captions[$0], image) > cosine(captions[$1], image) }
            i2t.append((order.firstIndex { owner[$0] == i } ?? 99) + 1)
        }
        let recall = retrievalRecall(images: images, captions: captions, owner: owner)
        for k in [1, 5, 10] {
            XCTAssertEqual(recall.textToImage[k]!, 100 * Double(t2i.filter { $0 <= k }.count) / Double(t2i.count), accuracy: 1e-9)
            XCTAssertEqual(recall.imageToText[k]!, 100 * Double(i2t.filter { $0 <= k }.count) / Double(i2t.count), accuracy: 1e-9)
        }
        XCTAssertLessThan(recall.textToImage[1]!, 100, "the noise makes some queries miss: the test can tell")
    }
}

extension RetrievalTests {
    func testSimilaritiesThroughBLASEqualPlainDotProducts() {
        let a: [[Float]] = [[1, 2, 3], [-1, 0.5, 2]], b: [[Float]] = [[0, 1, 0], [2, 2, -1], [1, 1, 1]]
        let plain = a.map { row in b.map { zip(row, $0).reduce(0) { $0 + $1.0 * $1.1 } } }
        XCTAssertEqual(similarities(a, b), plain)
        XCTAssertEqual(similarities([[1, 2]], [[3, 4, 5]]), [[11]], "mismatched widths do not crash")
    }
}
