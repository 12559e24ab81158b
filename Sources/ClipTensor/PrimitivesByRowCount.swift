import Synchronization

/// A layer's oneDNN matmul primitives by row count, made on first use with the weights' layout
/// fixed at load. Texts bring a new row count with almost every batch (the sum of their lengths);
/// oneDNN's own primitive cache (1024 shapes, LRU, shared by all layers) makes remaking an evicted
/// one cheap, so keeping at most `kept` only bounds memory. The row count the layout was chosen
/// for stays; a count oneDNN refuses is remembered (nil: that shape runs in fp32).
final class PrimitivesByRowCount<Primitive: Sendable>: Sendable {
    static var kept: Int { 16 }

    private let primitives = Mutex<[Int: Primitive?]>([:])
    private let loadRows: Int

    init(loadRows: Int, _ first: Primitive) {
        self.loadRows = loadRows
        primitives.withLock { $0[loadRows] = first }
    }

    /// The primitive for `rows`, made by `make` if not kept; `refused` says why there is none.
    func primitive(rows: Int, make: () throws -> Primitive, refused: () -> Void) -> Primitive? {
        primitives.withLock { cache in
            if let known = cache[rows] { return known }
            if cache.count >= Self.kept, let evicted = cache.keys.first(where: { $0 != loadRows }) {
                cache[evicted] = nil
            }
            let made = try? make()
            if made == nil { refused() }
            cache[rows] = .some(made)
            return made
        }
    }
}
