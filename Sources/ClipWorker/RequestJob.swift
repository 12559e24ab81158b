import ClipAMQP
import ClipSchema
import Foundation

/// One request in flight: the delivery it came in, and the features of its rows as the
/// encoder thread fills them in. It ends exactly once, in a reply or an error.
final class RequestJob: @unchecked Sendable {
    let id: DeliveryID
    let delivery: AMQPDelivery
    let lane: TrafficLane
    let received: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant?

    private let lock = NSLock()
    // Guarded by `lock`:
    private var rows: [ReplyRow] = []
    private var remaining = 0
    private var ended = false
    private(set) var ingestDone: ContinuousClock.Instant?
    private var cached = 0

    init(
        id: DeliveryID, delivery: AMQPDelivery, lane: TrafficLane = .interactive, received: ContinuousClock.Instant,
        deadline: ContinuousClock.Instant?
    ) {
        self.id = id
        self.delivery = delivery
        self.lane = lane
        self.received = received
        self.deadline = deadline
    }

    var hasEnded: Bool { lock.withLock { ended } }

    /// Cells whose embedding came from the cache.
    var cachedCells: Int { lock.withLock { cached } }

    /// Expects `items` embeddings from the encoder for `rowCount` rows, some embeddings already
    /// known (`cached`). Returns the rows at once when nothing is left to compute.
    func expect(rowCount: Int, items: Int, cached: [(row: Int, lane: Worker.Lane, embedding: [Float])] = []) -> [ReplyRow]? {
        lock.withLock {
            rows = Array(repeating: ReplyRow(), count: rowCount)
            for cell in cached { rows[cell.row].set(cell.lane, cell.embedding) }
            self.cached = cached.count
            remaining = items
            ingestDone = .now
            guard items == 0, !ended else { return nil }
            ended = true
            return rows
        }
    }

    /// Records one row's embedding of `lane`; returns the rows when this was the last item missing.
    func fulfil(row: Int, lane: Worker.Lane, _ embedding: [Float]) -> [ReplyRow]? {
        lock.withLock {
            guard !ended, rows.indices.contains(row) else { return nil }
            rows[row].set(lane, embedding)
            remaining -= 1
            guard remaining == 0 else { return nil }
            ended = true
            return rows
        }
    }

    /// Marks the job failed; true only for the first end, so it is answered once.
    func fail() -> Bool {
        lock.withLock {
            guard !ended else { return false }
            ended = true
            return true
        }
    }
}

extension ReplyRow {
    mutating func set(_ lane: Worker.Lane, _ embedding: [Float]) {
        switch lane {
        case .image: imageFeatures = embedding
        case .text: textFeatures = embedding
        }
    }
}
