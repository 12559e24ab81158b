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

    /// Expects `items` features for `rowCount` rows.
    func expect(rowCount: Int, items: Int) {
        lock.withLock {
            rows = Array(repeating: ReplyRow(), count: rowCount)
            remaining = items
            ingestDone = .now
        }
    }

    /// Records one row's embedding of `lane`; returns the rows when this was the last item missing.
    func fulfil(row: Int, lane: Worker.Lane, _ embedding: [Float]) -> [ReplyRow]? {
        lock.withLock {
            guard !ended, rows.indices.contains(row) else { return nil }
            switch lane {
            case .image: rows[row].imageFeatures = embedding
            case .text: rows[row].textFeatures = embedding
            }
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
