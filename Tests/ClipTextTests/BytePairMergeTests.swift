@testable import ClipText
import Testing

@Suite struct BytePairMergeTests {
    /// Symbols 0...3 are a, b, c, d; merges make 10 = ab, 11 = aa, 12 = (ab)c, 13 = a(aa).
    let merges: [UInt64: Merge] = [
        pairKey(0, 1): Merge(rank: 0, merged: 10),
        pairKey(0, 0): Merge(rank: 1, merged: 11),
        pairKey(10, 2): Merge(rank: 2, merged: 12),
        pairKey(0, 11): Merge(rank: 3, merged: 13),
    ]

    @Test func mergesLowestRankFirstAndLeftToRight() {
        #expect(mergeBytePairs([0, 1, 2], merges: merges) == [12])
        #expect(mergeBytePairs([0, 0, 0], merges: merges) == [11, 0])
        #expect(mergeBytePairs([0, 0, 0, 0], merges: merges) == [11, 11])
        #expect(mergeBytePairs([3], merges: merges) == [3])
        #expect(mergeBytePairs([], merges: merges) == [])
    }

    @Test func fastMergeAgreesWithTheReferenceOnRandomWords() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let word = (0..<Int.random(in: 1...40, using: &generator)).map { _ in Int32.random(in: 0...3, using: &generator) }
            #expect(mergeBytePairs(word, merges: merges) == mergeBytePairsReference(word, merges: merges), "\(word)")
        }
    }
}
