import ClipTensor
import ClipPipeline

/// Recall@K of zero-shot retrieval in the CLIP paper's protocol, in percent.
///
/// Scores are cosine similarities (both sides L2-normalized here). Text to image: a caption's
/// query succeeds at K when its own image ranks in the top K of all images. Image to text: an
/// image's query succeeds at K when any of its captions ranks in the top K of all captions.
///
/// Ties count against the query: the rank of the right answer is 1 + the number of wrong
/// candidates scoring at least as high as it (for image to text, as the best of its own
/// captions; its other captions are not wrong candidates). So a model whose embeddings are all
/// equal scores 0 rather than 100, and the result does not depend on the order of candidates.
public struct RetrievalRecall: Equatable, Sendable {
    public var textToImage: [Int: Double]
    public var imageToText: [Int: Double]
}

/// `images`: one embedding per image; `captions`: one per caption, `owner[c]` the index of
/// caption c's image. Every image needs at least one caption.
public func retrievalRecall(images: [[Float]], captions: [[Float]], owner: [Int], ks: [Int] = [1, 5, 10]) -> RetrievalRecall {
    let scores = similarities(captions.map(l2Normalized), images.map(l2Normalized))  // [captions][images]
    var textRanks: [Int] = []
    for (c, row) in scores.enumerated() {
        let right = row[owner[c]]
        textRanks.append(1 + row.indices.filter { $0 != owner[c] && row[$0] >= right }.count)
    }
    var best = Array(repeating: -Float.infinity, count: images.count)
    for (c, row) in scores.enumerated() { best[owner[c]] = max(best[owner[c]], row[owner[c]]) }
    var imageRanks = Array(repeating: 1, count: images.count)
    for (c, row) in scores.enumerated() {
        for i in images.indices where owner[c] != i && row[i] >= best[i] { imageRanks[i] += 1 }
    }
    func recall(_ ranks: [Int], _ k: Int) -> Double {
        ranks.isEmpty ? 0 : 100 * Double(ranks.filter { $0 <= k }.count) / Double(ranks.count)
    }
    return RetrievalRecall(
        textToImage: Dictionary(uniqueKeysWithValues: ks.map { ($0, recall(textRanks, $0)) }),
        imageToText: Dictionary(uniqueKeysWithValues: ks.map { ($0, recall(imageRanks, $0)) }))
}

/// a · bᵀ for rows of equal width, through BLAS (a Flickr30k test split is 25000 x 1000).
func similarities(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
    guard let width = a.first?.count, !b.isEmpty, (a + b).allSatisfy({ $0.count == width }) else {
        return a.map { row in b.map { zip(row, $0).reduce(0) { $0 + $1.0 * $1.1 } } }  // what BLAS cannot take, slowly
    }
    let flatA = a.flatMap { $0 }, flatB = b.flatMap { $0 }
    var c = [Float](repeating: 0, count: a.count * b.count)
    c.withUnsafeMutableBufferPointer { c in
        flatA.withUnsafeBufferPointer { pa in
            flatB.withUnsafeBufferPointer { pb in
                guard let c = c.baseAddress, let pa = pa.baseAddress, let pb = pb.baseAddress else { return }
                gemm(c, pa, pb, transposeB: true, m: a.count, n: b.count, k: width, lda: width, ldb: width, ldc: b.count)
            }
        }
    }
    return (0..<a.count).map { Array(c[$0 * b.count..<($0 + 1) * b.count]) }
}
