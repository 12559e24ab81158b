import ClipAMQP
import ClipCommandLine
import ClipPipeline
import ClipSchema
import ClipWorker
import Foundation

/// A real worker (model, ingest, batcher, encoder, replies) on an in-memory transport: the
/// scheduling and caching policies measured without a broker's own latency in the figures.
final class PipelineBench {
    let transport: InMemoryTransport
    let worker: Worker
    private var sent: [String: ContinuousClock.Instant] = [:]
    private var serial = 0

    init(model: ModelOptions, cache: PreparationCache?, bulkPrefetch: Int = 8) throws {
        let embedder = try model.loadedEmbedder().embedder
        transport = InMemoryTransport(prefetch: 64, bulkPrefetch: bulkPrefetch)
        var settings = WorkerSettings(modelName: model.directory.lastPathComponent)
        settings.imageBatch.maxBatch = model.maxBatch
        settings.textBatch.maxBatch = max(model.maxBatch, 64)
        worker = try Worker(settings: settings, transport: transport, encoder: embedder.encoder, preparer: embedder.preparer, cache: cache)
        worker.start()
    }

    deinit {
        worker.stop(timeout: .seconds(5))
    }

    /// Queues a one-row request; returns its id.
    @discardableResult
    func send(image: String? = nil, text: String? = nil, lane: TrafficLane = .interactive) -> String {
        serial += 1
        let id = "\(lane.rawValue)-\(serial)"
        sent[id] = .now
        transport.enqueue(
            RequestEncoder.encode([EmbeddingRequest.Row(image: image, text: text)]),
            properties: AMQPProperties(correlationID: id, replyTo: "replies"), lane: lane)
        return id
    }

    /// Waits until every id has its reply; the seconds each took from its send.
    func wait(for ids: [String], timeout: Duration = .seconds(3600)) throws -> [Double] {
        let wanted = Set(ids)
        var done: [String: ContinuousClock.Instant] = [:]
        var seen = 0
        let deadline = ContinuousClock.now + timeout
        while done.count < wanted.count {
            guard ContinuousClock.now < deadline else { throw BenchError("replies did not come within \(timeout)") }
            _ = transport.waitForPublished(timeout: .milliseconds(50)) { $0.count > seen }
            let published = transport.published
            let now = ContinuousClock.now
            for message in published[seen...] {
                if let id = message.properties.correlationID, wanted.contains(id) { done[id] = now }
            }
            seen = published.count
        }
        return ids.compactMap { id in done[id].flatMap { end in sent[id].map { (end - $0) / .seconds(1) } } }
    }
}

/// Makes `count` different image files from one: bytes after a JPEG's end marker are ignored by
/// decoders, so each file decodes to the same picture but hashes differently.
func distinctImages(_ jpeg: Data, count: Int) -> [String] {
    (0..<count).map { i in (jpeg + Data("clipq-bench-\(i)".utf8)).base64EncodedString() }
}
