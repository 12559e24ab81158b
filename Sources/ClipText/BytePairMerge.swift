/// Byte-pair merging as OpenAI's `bpe` does it: each round finds the lowest-ranked adjacent pair
/// and merges every occurrence of it, left to right, until no adjacent pair has a rank.
///
/// This one keeps the pairs in a heap keyed by (rank, position) and runs a round by popping
/// every entry of the lowest rank in position order; pairs a merge creates join the heap only
/// after the round, as the reference recomputes its pairs only then. O(n log n) where the
/// reference is O(n^2): a long run of letters must not stall an ingest thread.
func mergeBytePairs(_ word: [Int32], merges: [UInt64: Merge]) -> [Int32] {
    let n = word.count
    guard n > 1 else { return word }
    var symbol = word  // -1 where a symbol was merged into its left neighbour
    var next = [Int](1...n)
    next[n - 1] = -1
    var previous = [Int](-1..<(n - 1))
    var heap = MinHeap()
    func push(_ i: Int) {
        guard i >= 0, symbol[i] >= 0, next[i] >= 0,
              let merge = merges[pairKey(symbol[i], symbol[next[i]])] else { return }
        heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(i))
    }
    for i in 0..<(n - 1) { push(i) }

    var created: [Int] = []
    while let first = heap.pop() {
        let rank = first >> 32
        var entry: UInt64? = first
        while let current = entry {
            let i = Int(current & 0xFFFF_FFFF)
            let j = next[i]
            if symbol[i] >= 0, j >= 0, let merge = merges[pairKey(symbol[i], symbol[j])],
               UInt64(merge.rank) == rank {
                symbol[i] = merge.merged
                symbol[j] = -1
                next[i] = next[j]
                if next[j] >= 0 { previous[next[j]] = i }
                created.append(previous[i])
                created.append(i)
            }
            entry = heap.popIfTop(below: (rank + 1) << 32)
        }
        for i in created { push(i) }
        created.removeAll(keepingCapacity: true)
    }
    var out: [Int32] = []
    var i = 0
    while i >= 0 {
        out.append(symbol[i])
        i = next[i]
    }
    return out
}

/// The reference algorithm, transcribed from OpenAI's `bpe`: kept for tests of the fast one.
func mergeBytePairsReference(_ word: [Int32], merges: [UInt64: Merge]) -> [Int32] {
    var word = word
    while word.count > 1 {
        var best: Merge? = nil
        var bestPair: (Int32, Int32) = (0, 0)
        for k in 0..<(word.count - 1) {
            if let m = merges[pairKey(word[k], word[k + 1])], m.rank < best?.rank ?? .max {
                best = m
                bestPair = (word[k], word[k + 1])
            }
        }
        guard let merge = best else { break }
        var merged: [Int32] = []
        var k = 0
        while k < word.count {
            if k < word.count - 1 && word[k] == bestPair.0 && word[k + 1] == bestPair.1 {
                merged.append(merge.merged)
                k += 2
            } else {
                merged.append(word[k])
                k += 1
            }
        }
        word = merged
    }
    return word
}
