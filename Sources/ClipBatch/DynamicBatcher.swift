import Foundation

/// How a lane forms batches: at most `maxBatch` items, and no item waits longer than
/// `maxWait` for others to join it.
public struct BatchPolicy: Equatable, Sendable {
    public var maxBatch: Int
    public var maxWait: Duration

    public init(maxBatch: Int, maxWait: Duration) {
        self.maxBatch = max(1, maxBatch)
        self.maxWait = maxWait
    }
}

/// What the encoder gets: items of one lane to compute together, and items whose deadline
/// passed while they waited (to be answered `deadline_exceeded`, not computed).
public struct Batch<Lane: Hashable & Sendable, Payload: Sendable>: Sendable {
    public var lane: Lane
    public var items: [Payload]
    public var expired: [Payload]
}

/// How soon an item wants its turn: urgent items (interactive traffic) always go before
/// background ones (bulk traffic), which only fill the room urgent items leave.
public enum Urgency: Sendable {
    case urgent
    case background
}

/// The dynamic batcher (docs/design.md): ingest threads submit validated items; the one encoder
/// thread takes batches. Lanes (images, texts) batch separately. A lane's batch leaves when it
/// is full, when its oldest item has waited `maxWait`, or when an item's deadline comes, so
/// nothing is held past its deadline. Urgent items lead every batch and their lane is served
/// first; background items fill what is left. It is the only owner of its queues.
public final class DynamicBatcher<Lane: Hashable & Sendable, Payload: Sendable>: @unchecked Sendable {
    private struct Entry {
        var payload: Payload
        var enqueued: ContinuousClock.Instant
        var deadline: ContinuousClock.Instant?
        var urgency: Urgency
    }

    private let policies: [Lane: BatchPolicy]
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queues: [Lane: [Entry]] = [:]
    private var isClosed = false

    public init(policies: [Lane: BatchPolicy]) {
        self.policies = policies
    }

    /// Adds an item; false (and the item is not taken) if the lane is unknown or the batcher
    /// is closed.
    @discardableResult
    public func submit(_ payload: Payload, lane: Lane, deadline: ContinuousClock.Instant? = nil, urgency: Urgency = .urgent) -> Bool {
        submit([(payload, lane)], deadline: deadline, urgency: urgency)
    }

    /// Adds a request's items at once, so the encoder never takes half of them: all or none.
    @discardableResult
    public func submit(
        _ items: [(payload: Payload, lane: Lane)], deadline: ContinuousClock.Instant? = nil, urgency: Urgency = .urgent
    ) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosed, items.allSatisfy({ policies[$0.lane] != nil }) else { return false }
        let now = ContinuousClock.now
        for item in items {
            let entry = Entry(payload: item.payload, enqueued: now, deadline: deadline, urgency: urgency)
            var queue = queues[item.lane, default: []]
            switch urgency {
            case .background: queue.append(entry)
            case .urgent:  // after the urgent entries already queued, before every background one
                queue.insert(entry, at: queue.firstIndex { $0.urgency == .background } ?? queue.endIndex)
            }
            queues[item.lane] = queue
        }
        condition.signal()
        return true
    }

    /// Stops taking items; `nextBatch` hands out what is queued, then returns nil.
    public func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Items queued now, over all lanes.
    public var pendingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queues.values.reduce(0) { $0 + $1.count }
    }

    /// Blocks until a batch is due and returns it; nil once closed and drained.
    public func nextBatch() -> Batch<Lane, Payload>? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let now = ContinuousClock.now
            var earliestDue: ContinuousClock.Instant?
            // Of the lanes that are due, serve one led by urgent items first, then the one whose
            // first item has waited longest.
            var dueLane: (lane: Lane, urgent: Bool, since: ContinuousClock.Instant)?
            for (lane, entries) in queues where !entries.isEmpty {
                guard let policy = policies[lane] else { continue }
                let due = dueTime(entries, policy)
                if due <= now || isClosed {
                    let candidate = (lane: lane, urgent: entries[0].urgency == .urgent, since: entries[0].enqueued)
                    if dueLane.map({ (candidate.urgent && !$0.urgent) || (candidate.urgent == $0.urgent && candidate.since < $0.since) })
                        ?? true
                    {
                        dueLane = candidate
                    }
                } else {
                    earliestDue = min(earliestDue ?? due, due)
                }
            }
            if let dueLane { return takeBatch(dueLane.lane, now: now) }
            if isClosed { return nil }
            if let earliestDue {
                _ = condition.wait(until: Date(timeIntervalSinceNow: (earliestDue - now) / .seconds(1)))
            } else {
                condition.wait()
            }
        }
    }

    /// When a lane must leave: full now, or its oldest item's wait is up, or a deadline comes.
    private func dueTime(_ entries: [Entry], _ policy: BatchPolicy) -> ContinuousClock.Instant {
        let oldest = entries.lazy.map(\.enqueued).min() ?? entries[0].enqueued
        if entries.count >= policy.maxBatch { return oldest }
        var due = oldest + policy.maxWait
        for entry in entries { if let deadline = entry.deadline, deadline < due { due = deadline } }
        return due
    }

    private func takeBatch(_ lane: Lane, now: ContinuousClock.Instant) -> Batch<Lane, Payload> {
        let maxBatch = policies[lane]?.maxBatch ?? 1
        var entries = queues[lane] ?? []
        var items: [Payload] = []
        var expired: [Payload] = []
        var taken = 0
        // Expired items cost nothing to answer: take them all, plus up to maxBatch live ones.
        while taken < entries.count && items.count < maxBatch {
            let entry = entries[taken]
            if let deadline = entry.deadline, deadline <= now { expired.append(entry.payload) } else { items.append(entry.payload) }
            taken += 1
        }
        entries.removeFirst(taken)
        queues[lane] = entries
        return Batch(lane: lane, items: items, expired: expired)
    }
}
