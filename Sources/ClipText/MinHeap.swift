/// A binary min-heap of UInt64 keys, just what `mergeBytePairs` needs.
struct MinHeap {
    private var keys: [UInt64] = []

    mutating func push(_ key: UInt64) {
        keys.append(key)
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if keys[parent] <= keys[child] { break }
            keys.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = keys.popLast() else { return nil }
        guard !keys.isEmpty else { return last }
        let top = keys[0]
        keys[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < keys.count && keys[left] < keys[smallest] { smallest = left }
            if right < keys.count && keys[right] < keys[smallest] { smallest = right }
            if smallest == parent { break }
            keys.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    /// Pops the smallest key if it is below `limit`.
    mutating func popIfTop(below limit: UInt64) -> UInt64? {
        guard let top = keys.first, top < limit else { return nil }
        return pop()
    }
}
