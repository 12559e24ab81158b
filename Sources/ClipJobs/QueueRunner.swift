import ClipAMQP
import ClipSchema
import ClipWorker
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
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.broker, "\(error)")
        }
    }

    private func gather(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws {
        guard !chunks.isEmpty else { return }
        let connection = try AMQPConnection(settings)
        defer { connection.close() }
        let replyQueue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try connection.enableConfirms()
        try connection.consume(replyQueue)
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
                try connection.publish(
                    routingKey: queue, body: Self.requestBody(rows),
                    properties: AMQPProperties(contentType: "application/json", deliveryMode: 2, correlationID: id, replyTo: replyQueue),
                    mandatory: true)
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

            switch try connection.nextEvent(timeout: .milliseconds(100)) {
            case .delivery(let delivery)?:
                try connection.ack(delivery.deliveryTag)
                guard let id = delivery.properties.correlationID, let sent = inFlight.removeValue(forKey: id) else { continue }  // a duplicate
                lastReply = .now
                var reply = Self.decode(delivery.body)
                if normalize {
                    reply = reply.map { $0.map { ReplyRow(imageFeatures: $0.imageFeatures.map(l2Normalized), textFeatures: $0.textFeatures.map(l2Normalized)) } }
                }
                isolations[sent.chunk]?.receive(reply, for: sent.rows)
                collect(sent.chunk)
            case .returned(let returned)?:
                throw JobError(.broker, "no queue \(queue) took a request (\(returned.replyText)): are workers running against this broker?")
            case .nacked?:
                throw JobError(.broker, "the broker refused a request (nack)")
            default:
                if !inFlight.isEmpty, ContinuousClock.now - lastReply > replyTimeout {
                    throw JobError(.broker, "no reply for \(replyTimeout) with \(inFlight.count) requests out: rerun to resume")
                }
            }
        }
    }

    static func requestBody(_ rows: [EmbeddingRequest.Row]) -> [UInt8] {
        let data: [JSONValue] = rows.map { [.string($0.image ?? ""), .string($0.text ?? "")] }
        return JSONWriter.serialize([
            "input_data": ["columns": ["image", "text"], "index": .array(data.indices.map { .number(Double($0)) }), "data": .array(data)],
        ])
    }

    /// A reply body: an array of rows, or `{"error": {...}}`.
    static func decode(_ body: [UInt8]) -> Result<[ReplyRow], ClipError> {
        guard let document = try? JSONParser().parse(body) else { return .failure(ClipError(.internal, "the reply is not JSON")) }
        if let error = document["error"] {
            let code = error["code"]?.string.flatMap(ErrorCode.init(rawValue:)) ?? .internal
            return .failure(ClipError(code, error["message"]?.string ?? code.rawValue, pointer: error["pointer"]?.string))
        }
        guard let rows = document.array else { return .failure(ClipError(.internal, "the reply is not an array")) }
        func floats(_ value: JSONValue?) -> [Float]? { value?.array.map { $0.map { Float($0.number ?? .nan) } } }
        return .success(rows.map { ReplyRow(imageFeatures: floats($0["image_features"]), textFeatures: floats($0["text_features"])) })
    }
}
