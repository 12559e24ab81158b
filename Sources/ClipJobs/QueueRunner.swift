import ClipAMQP
import ClipClient
import ClipPipeline
import ClipSchema
import Foundation

/// Through the broker: each chunk is a request to the worker fleet's queue, at most
/// `maxOutstanding` requests in flight, replies gathered by correlation id on a private reply
/// queue and handed back in chunk order. A refused request is narrowed down as `RowIsolation`
/// says, with more requests. If the job dies, the replies still on their way are lost with its
/// reply queue; the checkpoint covers only chunks written, so a rerun asks for them again.
public struct QueueRunner: ChunkRunner {
    public var settings: AMQPSettings
    public var queue: String
    public var maxOutstanding: Int
    /// The job fails (resumable) when no reply arrives for this long while requests are out.
    public var replyTimeout: Duration
    public var normalize: Bool

    public init(settings: AMQPSettings, queue: String, maxOutstanding: Int = 16, replyTimeout: Duration = .seconds(600),
                normalize: Bool = false) {
        self.settings = settings
        self.queue = queue
        self.maxOutstanding = max(1, maxOutstanding)
        self.replyTimeout = replyTimeout
        self.normalize = normalize
    }

    private struct Sent {
        var chunk: Int
        var rows: [Int]
    }

    public mutating func run(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws(JobError) {
        do {
            try gather(chunks, completed: completed)
        } catch let error as AMQPError {
            throw JobError(.broker, error.description)
        } catch let error as ClipClientError {
            throw JobError(.broker, error.message)
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.broker, "\(error)")
        }
    }

    private func gather(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws {
        guard !chunks.isEmpty else { return }
        let client = try ClipClient(settings: settings, queue: queue)
        let job = UUID().uuidString.prefix(8)

        var cells: [Int: [Result<EmbeddingRequest.Row, ClipError>]] = [:]
        var isolations: [Int: RowIsolation] = [:]
        var ready: [Int: [RowOutcome]] = [:]
        var toPublish: [Sent] = []
        var inFlight: [String: Sent] = [:]
        var nextChunk = 0, nextToHand = 0, serial = 0
        var lastReply = ContinuousClock.now

        func collect(_ chunk: Int) {
            guard var isolation = isolations[chunk] else { return }
            toPublish += isolation.takeRequests().map { Sent(chunk: chunk, rows: $0) }
            isolations[chunk] = isolation
            if isolation.isComplete {
                ready[chunk] = isolation.outcomes.map { $0 ?? .failure(ClipError(.internal, "row not computed")) }
                isolations[chunk] = nil
                cells[chunk] = nil
            }
        }

        while nextToHand < chunks.count {
            // Start chunks while the window has room; never run far ahead of the one to hand back.
            while toPublish.isEmpty, inFlight.count < maxOutstanding, nextChunk < chunks.count, nextChunk < nextToHand + maxOutstanding {
                cells[nextChunk] = chunks[nextChunk].map { $0.requestRow() }
                isolations[nextChunk] = RowIsolation(cells[nextChunk] ?? [])
                collect(nextChunk)
                nextChunk += 1
            }
            while !toPublish.isEmpty, inFlight.count < maxOutstanding {
                let sent = toPublish.removeFirst()
                let rows = sent.rows.compactMap { try? cells[sent.chunk]?[$0].get() }
                serial += 1
                let id = "batch-\(job)-\(sent.chunk)-\(serial)"
                try client.publish(RequestEncoder.encode(rows), correlationID: id)
                if inFlight.isEmpty { lastReply = .now }
                inFlight[id] = sent
            }
            while let outcomes = ready.removeValue(forKey: nextToHand) {
                try completed(nextToHand, outcomes)
                nextToHand += 1
            }
            guard nextToHand < chunks.count else { break }
            if !toPublish.isEmpty && inFlight.count < maxOutstanding { continue }
            if nextChunk < chunks.count && inFlight.count < maxOutstanding && nextChunk < nextToHand + maxOutstanding { continue }

            if let (id, reply) = try client.nextReply(timeout: .milliseconds(100)) {
                guard let sent = inFlight.removeValue(forKey: id) else { continue }  // a duplicate
                lastReply = .now
                var rows = reply.result
                if normalize { rows = rows.map { $0.map(\.normalized) } }
                isolations[sent.chunk]?.receive(rows, for: sent.rows)
                collect(sent.chunk)
            } else if !inFlight.isEmpty, ContinuousClock.now - lastReply > replyTimeout {
                throw JobError(.broker, "no reply for \(replyTimeout) with \(inFlight.count) requests out: rerun to resume")
            }
        }
    }
}
