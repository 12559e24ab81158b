import ClipAMQP
import ClipBatch
import ClipPipeline
import ClipSchema
import Foundation

/// Everything a worker is told (only the `clipq` executable reads flags and environment).
public struct WorkerSettings: Sendable {
    /// The queue names; the dead-letter exchange is where refused requests go.
    public var topology: Topology
    public var limits: RequestLimits
    public var imageBatch: BatchPolicy
    public var textBatch: BatchPolicy
    /// Threads fetching, decoding and tokenizing; the encoder has its own.
    public var ingestThreads: Int
    public var workerID: String
    public var modelName: String
    /// How long a batch already in the encoder may run past the stop deadline before the
    /// worker leaves without it (its requests go back to the queue).
    public var encoderGrace: Duration = .seconds(3)
    /// What dead letters record of the worker beside its id and model: its release and the
    /// precision its linear layers run in.
    public var version: String?
    public var precision: String?

    public init(
        topology: Topology = Topology(), limits: RequestLimits = RequestLimits(),
        imageBatch: BatchPolicy = BatchPolicy(maxBatch: 8, maxWait: .zero),
        textBatch: BatchPolicy = BatchPolicy(maxBatch: 64, maxWait: .zero), ingestThreads: Int = 4,
        workerID: String = Worker.defaultID, modelName: String
    ) {
        self.topology = topology
        self.limits = limits
        self.imageBatch = imageBatch
        self.textBatch = textBatch
        self.ingestThreads = ingestThreads
        self.workerID = workerID
        self.modelName = modelName
    }
}

/// What names a request in logs: the client's correlation id, and the W3C `traceparent` and
/// `x-request-id` headers an HTTP front door (or any client) carried through the queue.
public struct RequestIdentity: Equatable, Sendable {
    public var correlationID: String?
    public var traceparent: String?
    public var requestID: String?

    public init(correlationID: String? = nil, traceparent: String? = nil, requestID: String? = nil) {
        self.correlationID = correlationID
        self.traceparent = traceparent
        self.requestID = requestID
    }

    init(_ properties: AMQPProperties) {
        func header(_ name: String) -> String? {
            if case .string(let value)? = properties.headers?[name] { value } else { nil }
        }
        self.init(correlationID: properties.correlationID, traceparent: header("traceparent"), requestID: header("x-request-id"))
    }
}

/// What happened, for the log: one event per request outcome, and the link's news.
public enum WorkerEvent: Sendable {
    /// `cached`: cells whose embedding came from the cache.
    case replied(RequestIdentity, rows: Int, cached: Int, milliseconds: Int)
    case failed(RequestIdentity, error: ClipError)
    case link(LinkEvent)
}

/// How a worker's stop went: requests answered after the stop began, and requests handed back
/// to the queue for another worker.
public struct WorkerStopReport: Equatable, Sendable {
    public var answered: Int
    public var requeued: Int
    /// Whether everything in flight was answered before the deadline.
    public var drained: Bool
}

/// The worker (DESIGN §3): the link thread consumes; a small pool checks, fetches, decodes
/// and tokenizes; the dynamic batcher gathers rows across requests; one encoder thread runs
/// batches; each request ends in a confirmed reply, or in an error reply and a dead-letter
/// record, before its delivery is acked.
public final class Worker: @unchecked Sendable {
    enum Lane: String, CaseIterable, Sendable { case image, text }

    /// What the encoder computes for one row of one lane.
    enum Input: Sendable {
        /// [C, H, W] pixels.
        case image([Float])
        /// Token ids, start ... end, unpadded.
        case text([Int])
    }

    struct Item: Sendable {
        var job: RequestJob
        var row: Int
        var enqueued: ContinuousClock.Instant
        var input: Input
        /// The input's content key: identical inputs in a batch are computed once, and the result
        /// is stored in the cache under it.
        var key: EmbeddingCacheKey?
    }

    public static var defaultID: String {
        "\(ProcessInfo.processInfo.hostName)/\(getpid())"
    }

    private let settings: WorkerSettings
    private let transport: any Transport
    private let encoder: any EmbeddingEncoder
    private let preparer: RowPreparer
    private let cache: PreparationCache?
    private let decoder: RequestDecoder
    private let outcomes: OutcomeBuilder
    private let batcher: DynamicBatcher<Lane, Item>
    private let onEvent: @Sendable (WorkerEvent) -> Void
    private let metrics: WorkerMetrics
    /// The ingest pools, one per lane so that interactive requests never queue behind bulk ones:
    /// at most `ingestThreads` requests of a lane are checked and fetched at once (bulk: half as
    /// many); the rest wait as queued operations, not as blocked threads.
    private let ingestQueues: [TrafficLane: OperationQueue]
    /// Replies are written, parsed back and checked here, not on the encoder thread.
    private let replyQueue = DispatchQueue(label: "clipq.replies")
    private let encoderDone = DispatchSemaphore(value: 0)
    /// For the health probes; guarded by `healthLock`.
    private let healthLock = NSLock()
    private var connected = false
    /// The connection generation whose deliveries are still ours to settle (nil while
    /// reconnecting): work for any other is void, as the broker redelivers it.
    private var liveGeneration: Int?
    private var stopping = false
    private var started = false
    private var encoderRunning = false

    /// A worker serving the deliveries of `transport` (a `BrokerLink`, or in memory for tests).
    /// With `cache`, rows are keyed by content: identical rows in a batch are computed once, and
    /// embeddings the cache holds are not computed at all.
    public init(
        settings: WorkerSettings, transport: any Transport, encoder: any EmbeddingEncoder, preparer: RowPreparer,
        cache: PreparationCache? = nil, metrics: WorkerMetrics = .disabled,
        onEvent: @escaping @Sendable (WorkerEvent) -> Void = { _ in }
    ) throws {
        self.settings = settings
        self.transport = transport
        self.cache = cache
        self.encoder = encoder
        self.preparer = preparer
        self.metrics = metrics
        self.onEvent = onEvent
        decoder = try RequestDecoder(limits: settings.limits)
        outcomes = OutcomeBuilder(
            topology: settings.topology, workerID: settings.workerID, modelName: settings.modelName,
            version: settings.version, precision: settings.precision, replies: try ReplyEncoder())
        batcher = DynamicBatcher(policies: [.image: settings.imageBatch, .text: settings.textBatch])
        ingestQueues = Dictionary(uniqueKeysWithValues: TrafficLane.allCases.map { lane in
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = max(1, lane == .interactive ? settings.ingestThreads : settings.ingestThreads / 2)
            queue.name = "clipq.ingest.\(lane.rawValue)"
            return (lane, queue)
        })
    }

    /// Starts the encoder thread and the transport; serves until `stop`.
    public func start() {
        healthLock.withLock {  // the health thread may already be asking
            started = true
            encoderRunning = true
        }
        let thread = Thread { [self] in
            encodeLoop()
            healthLock.withLock { encoderRunning = false }
            encoderDone.signal()
        }
        thread.name = "clipq-encoder"
        thread.start()
        transport.start(
            onDelivery: { [weak self] id, delivery, lane in self?.accept(id, delivery, lane) },
            onEvent: { [weak self, metrics, onEvent] event in
                self?.track(event)
                metrics.link(event)
                onEvent(.link(event))
            })
    }

    /// Stops consuming and answers what is in flight until `timeout` has passed (SIGTERM). Then
    /// it stops taking batches, lets a batch already in the encoder finish only within
    /// `encoderGrace`, and closes the transport: every request still unanswered goes back to the
    /// queue for another worker. Returns within `timeout` + `encoderGrace` + a moment.
    @discardableResult
    public func stop(timeout: Duration) -> WorkerStopReport {
        healthLock.withLock { stopping = true }
        let report = transport.stop(deadline: .now + timeout)
        // The transport is closed: whatever is still queued or computing is void, and requeued.
        healthLock.withLock { liveGeneration = nil }
        batcher.close()
        _ = encoderDone.wait(timeout: .now() + settings.encoderGrace / .seconds(1))
        for queue in ingestQueues.values { queue.cancelAllOperations() }
        return WorkerStopReport(answered: report.settled, requeued: report.requeued, drained: report.drained)
    }

    // MARK: - Health (any thread)

    /// Liveness: the transport's thread and the encoder thread run.
    public var isAlive: Bool {
        let (started, encoderRunning) = healthLock.withLock { (self.started, self.encoderRunning) }
        return started && transport.isRunning && encoderRunning
    }

    /// Readiness: connected to the broker (the model was loaded before the worker existed)
    /// and not stopping; false during a reconnect and from SIGTERM on.
    public var isReady: Bool {
        healthLock.withLock { connected && !stopping && encoderRunning }
    }

    private func track(_ event: LinkEvent) {
        switch event {
        case .connected(let generation, _): healthLock.withLock { (connected, liveGeneration) = (true, generation) }
        case .connectionLost: healthLock.withLock { (connected, liveGeneration) = (false, nil) }
        default: break
        }
    }

    /// Whether the job's delivery can still be settled; if not, computing it is wasted: after
    /// a consumer timeout the redelivered copies would queue behind it and time out in turn.
    private func isLive(_ job: RequestJob) -> Bool {
        healthLock.withLock { liveGeneration == job.id.generation }
    }

    // MARK: - Ingest (pool threads)

    private func accept(_ id: DeliveryID, _ delivery: AMQPDelivery, _ lane: TrafficLane) {
        let job = RequestJob(id: id, delivery: delivery, lane: lane, received: .now, deadline: delivery.properties.deadline())
        metrics.received(lane)
        ingestQueues[lane]?.addOperation { [self] in ingest(job) }
    }

    private func ingest(_ job: RequestJob) {
        guard isLive(job) else { return abandon(job) }
        let properties = job.delivery.properties
        if properties.replyTo?.isEmpty ?? true {
            return fail(job, ClipError(.missingReplyTo, "the request has no reply_to property: there is nowhere to answer"))
        }
        if let deadline = job.deadline, deadline <= .now {
            return fail(job, ClipError(.deadlineExceeded, "the request's deadline passed before work began"))
        }
        let request: EmbeddingRequest
        do {
            request = try decoder.decode(job.delivery.body)
        } catch {
            return fail(job, error)
        }
        let prepared = preparer.prepare(
            request, concurrency: settings.ingestThreads, deadline: job.deadline, cache: cache, timed: { [metrics] in metrics.stage($0, $1) })
        switch prepared {
        case .failure(let error):
            fail(job, error)
        case .success(let rows):
            let (items, cached) = split(rows, of: job)
            if cache?.cache != nil { metrics.cacheLookups(hits: cached.count, misses: items.count) }
            if let complete = job.expect(rowCount: rows.count, items: items.count, cached: cached) {
                return replyQueue.async { [self] in succeed(job, complete) }
            }
            if !batcher.submit(items, deadline: job.deadline, urgency: job.lane == .interactive ? .urgent : .background) {
                // Shutting down: not the request's fault. Back to the queue for another worker.
                guard job.fail() else { return }
                metrics.ended(job, .requeued)
                transport.finish(Outcome(delivery: job.id, publishes: [], settlement: .requeue))
            }
        }
    }

    /// A request's prepared cells: the inputs to compute, and the embeddings the cache had.
    private func split(_ rows: [PreparedRow], of job: RequestJob)
        -> (items: [(payload: Item, lane: Lane)], cached: [(row: Int, lane: Lane, embedding: [Float])])
    {
        let now = ContinuousClock.now
        var items: [(payload: Item, lane: Lane)] = []
        var cached: [(row: Int, lane: Lane, embedding: [Float])] = []
        for (row, prepared) in rows.enumerated() {
            switch prepared.image {
            case .input(let pixels, let key)?: items.append((Item(job: job, row: row, enqueued: now, input: .image(pixels), key: key), .image))
            case .cached(let embedding)?: cached.append((row, .image, embedding))
            case nil: break
            }
            switch prepared.text {
            case .input(let ids, let key)?: items.append((Item(job: job, row: row, enqueued: now, input: .text(ids), key: key), .text))
            case .cached(let embedding)?: cached.append((row, .text, embedding))
            case nil: break
            }
        }
        return (items, cached)
    }

    // MARK: - Encoder (one thread)

    private func encodeLoop() {
        while let batch = batcher.nextBatch() {
            for item in batch.expired {
                fail(item.job, ClipError(.deadlineExceeded, "the request's deadline passed while it waited for the encoder"))
            }
            // A failed request's other rows, and work whose delivery is void, cost nothing.
            for item in batch.items where !isLive(item.job) { abandon(item.job) }
            let items = batch.items.filter { !$0.job.hasEnded }
            guard !items.isEmpty else { continue }
            metrics.batch(batch.lane, items: items.map { ($0.job.lane, $0.enqueued) })
            do {
                let start = ContinuousClock.now
                let (unique, slots) = Self.distinct(items)
                let computed = try encode(unique.map(\.input), lane: batch.lane)
                metrics.encoded(batch.lane, rows: unique.count, in: .now - start)
                metrics.deduplicated(items.count - unique.count)
                guard computed.count == unique.count else {
                    throw ClipError(.internal, "\(computed.count) embeddings for \(unique.count) inputs")
                }
                if let store = cache?.cache {
                    for (item, embedding) in zip(unique, computed) { if let key = item.key { store.store(embedding, for: key) } }
                }
                for (item, slot) in zip(items, slots) {
                    let embedding = computed[slot]
                    guard let rows = item.job.fulfil(row: item.row, lane: batch.lane, embedding) else { continue }
                    replyQueue.async { [self] in succeed(item.job, rows) }
                }
            } catch {
                for item in items { fail(item.job, ClipError(.internal, "the encoder failed: \(error)")) }
            }
        }
    }

    /// The items with distinct content (by key; items without one are all distinct), and for each
    /// item the index of its distinct one.
    static func distinct(_ items: [Item]) -> (unique: [Item], slots: [Int]) {
        var unique: [Item] = []
        var slots: [Int] = []
        var slotOfKey: [EmbeddingCacheKey: Int] = [:]
        for item in items {
            if let key = item.key, let slot = slotOfKey[key] {
                slots.append(slot)
                continue
            }
            if let key = item.key { slotOfKey[key] = unique.count }
            slots.append(unique.count)
            unique.append(item)
        }
        return (unique, slots)
    }

    /// One lane's inputs, all images or all texts, through the encoder.
    private func encode(_ inputs: [Input], lane: Lane) throws -> [[Float]] {
        switch lane {
        case .image:
            let pixels: [Float] = inputs.flatMap { input -> [Float] in if case .image(let pixels) = input { pixels } else { [] } }
            return try encoder.encodeImages(pixels: pixels, count: inputs.count)
        case .text:
            return try encoder.encodeTexts(tokenIDs: inputs.compactMap { input -> [Int]? in
                if case .text(let ids) = input { ids } else { nil }
            })
        }
    }

    // MARK: - Outcomes

    private func succeed(_ job: RequestJob, _ rows: [ReplyRow]) {
        let total = Self.milliseconds(ContinuousClock.now - job.received)
        let ingest = job.ingestDone.map { Self.milliseconds($0 - job.received) } ?? 0
        let outcome: Outcome
        do {
            outcome = try outcomes.success(job, rows: rows, timings: ["ingest": ingest, "total": total])
        } catch {
            return refuse(job, error)  // a reply that fails its schema is our fault: answered as `internal`
        }
        guard isLive(job) else { return metrics.ended(job, .requeued) }  // stopped or reconnected meanwhile
        metrics.ended(job, .success)
        transport.finish(outcome)
        onEvent(.replied(RequestIdentity(job.delivery.properties), rows: rows.count, cached: job.cachedCells, milliseconds: total))
    }

    private func fail(_ job: RequestJob, _ error: ClipError) {
        guard job.fail() else { return }
        refuse(job, error)
    }

    /// Ends a job whose delivery is void (its connection is gone; the broker redelivers it):
    /// nothing to publish, and it counts as requeued.
    private func abandon(_ job: RequestJob) {
        guard job.fail() else { return }
        metrics.ended(job, .requeued)
    }

    /// The error reply and the dead letter of a job that has ended.
    private func refuse(_ job: RequestJob, _ error: ClipError) {
        metrics.ended(job, .error(error.code))
        transport.finish(outcomes.failure(job, error))
        onEvent(.failed(RequestIdentity(job.delivery.properties), error: error))
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration / .milliseconds(1))
    }
}
