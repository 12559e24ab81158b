import ClipAMQP
import ClipModelTestSupport
import ClipPipeline
import ClipSchema
import Foundation
import XCTest

@testable import ClipWorker

/// An encoder for pipeline tests: embeddings that say what went in (an image's pixel sum, a
/// text's token count and first content token), at the speed and with the faults a test asks for.
final class FakeEncoder: EmbeddingEncoder, @unchecked Sendable {
    let embeddingSize = 4
    let pixelsPerImage: Int
    private let lock = NSLock()
    private var delay: Duration = .zero
    private var failure: ClipError?
    private var nanTexts = false
    private var gate: DispatchSemaphore?
    private var batches: [(lane: String, count: Int)] = []

    init(pixelsPerImage: Int) {
        self.pixelsPerImage = pixelsPerImage
    }

    /// Each batch takes this long.
    func setDelay(_ delay: Duration) { lock.withLock { self.delay = delay } }
    /// Every batch throws `error`.
    func setFailure(_ error: ClipError?) { lock.withLock { failure = error } }
    /// Text embeddings come out NaN (the reply then fails its own schema).
    func setNaNTexts(_ on: Bool) { lock.withLock { nanTexts = on } }
    /// Batches wait for a signal on `gate` before they compute.
    func hold(on gate: DispatchSemaphore?) { lock.withLock { self.gate = gate } }
    /// The batches computed so far.
    var computed: [(lane: String, count: Int)] { lock.withLock { batches } }

    private func run(_ lane: String, _ count: Int) throws {
        let (delay, failure, gate) = lock.withLock { (self.delay, self.failure, self.gate) }
        gate?.wait()
        if delay > .zero { Thread.sleep(forTimeInterval: Double(delay / .milliseconds(1)) / 1000) }
        if let failure { throw failure }
        lock.withLock { batches.append((lane, count)) }
    }

    func encodeImages(pixels: [Float], count: Int) throws -> [[Float]] {
        try run("image", count)
        return (0..<count).map { i in
            let image = pixels[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)]
            return [image.reduce(0, +), Float(image.count), 1, 0]
        }
    }

    func encodeTexts(tokenIDs: [[Int]]) throws -> [[Float]] {
        try run("text", tokenIDs.count)
        let nan = lock.withLock { nanTexts }
        return tokenIDs.map { ids in nan ? Array(repeating: .nan, count: 4) : [Float(ids.count), Float(ids.dropFirst().first ?? 0), 0, 1] }
    }
}

/// One worker in process on an in-memory transport, with the tiny model's tokenizer and image
/// preprocessing and a fake encoder: the whole queue pipeline in milliseconds, no broker.
final class WorkerHarness {
    let transport: InMemoryTransport
    let encoder: FakeEncoder
    let worker: Worker
    let topology = Topology()
    let events = EventRecorder()
    private var stopped = false

    init(
        limits: RequestLimits = RequestLimits(), imageBatch: Int = 8, textBatch: Int = 64, prefetch: Int = 32, bulkPrefetch: Int = 8,
        encoderGrace: Duration = .seconds(3), metrics: WorkerMetrics = .disabled,
        encoder: FakeEncoder? = nil, cache: PreparationCache? = nil
    ) throws {
        let preparer = try TinyModel.preparer.get()
        let config = preparer.images.config
        self.encoder = encoder ?? FakeEncoder(pixelsPerImage: 3 * config.cropHeight * config.cropWidth)
        transport = InMemoryTransport(topology: topology, prefetch: prefetch, bulkPrefetch: bulkPrefetch)
        var settings = WorkerSettings(topology: topology, limits: limits, modelName: "fake")
        settings.imageBatch.maxBatch = imageBatch
        settings.textBatch.maxBatch = textBatch
        settings.encoderGrace = encoderGrace
        worker = try Worker(
            settings: settings, transport: transport, encoder: self.encoder, preparer: preparer, cache: cache, metrics: metrics,
            onEvent: events.add)
        worker.start()
    }

    deinit {
        if !stopped { worker.stop(timeout: .seconds(5)) }
    }

    @discardableResult
    func stop(timeout: Duration) -> WorkerStopReport {
        stopped = true
        return worker.stop(timeout: timeout)
    }

    /// Publishes a request of `rows` (image cell, text cell) with reply_to "replies".
    func send(
        _ id: String, _ rows: [(String, String)], headers: [String: AMQPFieldValue]? = nil, replyTo: String? = "replies",
        lane: TrafficLane = .interactive
    ) {
        send(
            id, body: RequestEncoder.encode(rows.map { EmbeddingRequest.Row(image: $0.0, text: $0.1) }), headers: headers, replyTo: replyTo,
            lane: lane)
    }

    func send(
        _ id: String, body: [UInt8], headers: [String: AMQPFieldValue]? = nil, replyTo: String? = "replies",
        lane: TrafficLane = .interactive
    ) {
        transport.enqueue(
            body, properties: AMQPProperties(contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: id, replyTo: replyTo),
            lane: lane)
    }

    /// Replies published so far, by correlation id (all of them, duplicates included).
    var replies: [(id: String, type: String, body: [UInt8])] {
        transport.published.filter { $0.routingKey == "replies" }
            .map { ($0.properties.correlationID ?? "", $0.properties.type ?? "", $0.body) }
    }

    var deadLetters: [OutgoingMessage] { transport.published.filter { $0.exchange == topology.deadLetterExchange } }

    /// Waits for a reply to each id and returns them decoded.
    func awaitReplies(_ ids: [String], timeout: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line)
        -> [String: Result<[ReplyRow], ClipError>]
    {
        let wanted = Set(ids)
        let arrived = transport.waitForPublished(timeout: timeout) { published in
            wanted.isSubset(of: Set(published.filter { $0.routingKey == "replies" }.compactMap(\.properties.correlationID)))
        }
        XCTAssertTrue(arrived, "replies to \(wanted.sorted()) did not all arrive", file: file, line: line)
        var decoded: [String: Result<[ReplyRow], ClipError>] = [:]
        for reply in replies where wanted.contains(reply.id) {
            decoded[reply.id] = (try? ReplyDecoder.decode(reply.body)) ?? .failure(ClipError(.internal, "malformed reply"))
        }
        return decoded
    }

    func awaitError(_ id: String, file: StaticString = #filePath, line: UInt = #line) -> ClipError? {
        guard case .failure(let error)? = awaitReplies([id], file: file, line: line)[id] else { return nil }
        return error
    }
}

/// The worker's events, from any thread.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [WorkerEvent] = []

    func add(_ event: WorkerEvent) { lock.withLock { recorded.append(event) } }
    var all: [WorkerEvent] { lock.withLock { recorded } }

    /// The request outcomes by correlation id once `count` are known (events follow the publish).
    func outcomes(count: Int, timeout: Duration = .seconds(5)) -> [String: String] {
        let deadline = ContinuousClock.now + timeout
        while outcomes.count < count && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        return outcomes
    }

    /// The request outcomes by correlation id: "replied", or "failed CODE".
    var outcomes: [String: String] {
        var byID: [String: String] = [:]
        for event in all {
            switch event {
            case .replied(let request, _, _, _): byID[request.correlationID ?? "?"] = "replied"
            case .failed(let request, let error): byID[request.correlationID ?? "?"] = "failed \(error.code.rawValue)"
            case .link: break
            }
        }
        return byID
    }
}
