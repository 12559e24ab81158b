import ClipAMQP
import ClipBatch
import ClipSchema
import Foundation

/// Everything a worker is told (only the `clipq` executable reads flags and environment).
public struct WorkerSettings: Sendable {
    public var link: BrokerLink.Configuration
    public var limits: RequestLimits
    public var imageBatch: BatchPolicy
    public var textBatch: BatchPolicy
    /// Threads fetching, decoding and tokenizing; the encoder has its own.
    public var ingestThreads: Int
    public var workerID: String
    public var modelName: String
    /// What dead letters record of the worker beside its id and model: its release and the
    /// precision its linear layers run in.
    public var version: String?
    public var precision: String?

    public init(
        link: BrokerLink.Configuration, limits: RequestLimits = RequestLimits(),
        imageBatch: BatchPolicy = BatchPolicy(maxBatch: 8, maxWait: .zero),
        textBatch: BatchPolicy = BatchPolicy(maxBatch: 64, maxWait: .zero), ingestThreads: Int = 4,
        workerID: String = Worker.defaultID, modelName: String
    ) {
        self.link = link
        self.limits = limits
        self.imageBatch = imageBatch
        self.textBatch = textBatch
        self.ingestThreads = ingestThreads
        self.workerID = workerID
        self.modelName = modelName
    }
}

/// What happened, for the log: one event per request outcome, and the link's news.
public enum WorkerEvent: Sendable {
    case replied(correlationID: String?, rows: Int, milliseconds: Int)
    case failed(correlationID: String?, error: ClipError)
    case link(LinkEvent)
}

/// The worker (DESIGN §3): the link thread consumes; a small pool checks, fetches, decodes
/// and tokenizes; the dynamic batcher gathers rows across requests; one encoder thread runs
/// batches; each request ends in a confirmed reply, or in an error reply and a dead-letter
/// record, before its delivery is acked.
public final class Worker: @unchecked Sendable {
    enum Lane: String, CaseIterable, Sendable { case image, text }

    struct Item: Sendable {
        var job: RequestJob
        var row: Int
        var enqueued: ContinuousClock.Instant
        var pixels: [Float]?
        var tokenIDs: [Int]?
    }

    public static var defaultID: String {
        "\(ProcessInfo.processInfo.hostName)/\(getpid())"
    }

    private let settings: WorkerSettings
    private let encoder: any EmbeddingEncoder
    private let preparer: RowPreparer
    private let decoder: RequestDecoder
    private let outcomes: OutcomeBuilder
    private let batcher: DynamicBatcher<Lane, Item>
    private let onEvent: @Sendable (WorkerEvent) -> Void
    private let metrics: WorkerMetrics
    /// The ingest pool: at most `ingestThreads` requests are checked and fetched at once; the
    /// rest wait as queued operations, not as blocked threads.
    private let ingestQueue = OperationQueue()
    private var link: BrokerLink?
    private let encoderDone = DispatchSemaphore(value: 0)
    /// For the health probes; guarded by `healthLock`.
    private let healthLock = NSLock()
    private var connected = false
    /// The connection generation whose deliveries are still ours to settle (nil while
    /// reconnecting): work for any other is void, as the broker redelivers it.
    private var liveGeneration: Int?
    private var stopping = false
    private var encoderRunning = false

    public init(
        settings: WorkerSettings, encoder: any EmbeddingEncoder, preparer: RowPreparer,
        metrics: WorkerMetrics = .disabled, onEvent: @escaping @Sendable (WorkerEvent) -> Void = { _ in }
    ) throws {
        self.settings = settings
        self.encoder = encoder
        self.preparer = preparer
        self.metrics = metrics
        self.onEvent = onEvent
        decoder = try RequestDecoder(limits: settings.limits)
        outcomes = OutcomeBuilder(
            topology: settings.link.topology, workerID: settings.workerID, modelName: settings.modelName,
            version: settings.version, precision: settings.precision, replies: try ReplyEncoder())
        batcher = DynamicBatcher(policies: [.image: settings.imageBatch, .text: settings.textBatch])
        ingestQueue.maxConcurrentOperationCount = max(1, settings.ingestThreads)
        ingestQueue.name = "clipq.ingest"
    }

    /// Connects and serves until `stop`.
    public func start() {
        let link = BrokerLink(
            settings.link,
            onDelivery: { [weak self] id, delivery in self?.accept(id, delivery) },
            onEvent: { [weak self, metrics, onEvent] event in
                self?.track(event)
                metrics.link(event)
                onEvent(.link(event))
            })
        healthLock.withLock {  // the health thread may already be asking
            self.link = link
            encoderRunning = true
        }
        let thread = Thread { [self] in
            encodeLoop()
            healthLock.withLock { encoderRunning = false }
            encoderDone.signal()
        }
        thread.name = "clipq-encoder"
        thread.start()
        link.start()
    }

    /// Stops consuming, finishes and answers what is in flight, then closes (SIGTERM).
    /// Returns false if in-flight work outlived `timeout` (the broker redelivers it).
    @discardableResult
    public func stop(timeout: Duration) -> Bool {
        healthLock.withLock { stopping = true }
        let drained = link?.stop(timeout: timeout) ?? true
        batcher.close()
        encoderDone.wait()
        return drained
    }

    // MARK: - Health (any thread)

    /// Liveness: the link thread and the encoder thread run.
    public var isAlive: Bool {
        let (link, encoderRunning) = healthLock.withLock { (self.link, self.encoderRunning) }
        return (link?.isRunning ?? false) && encoderRunning
    }

    /// Readiness: connected to the broker (the model was loaded before the worker existed)
    /// and not stopping; false during a reconnect and from SIGTERM on.
    public var isReady: Bool {
        healthLock.withLock { connected && !stopping && encoderRunning }
    }

    private func track(_ event: LinkEvent) {
        switch event {
        case .connected(let generation): healthLock.withLock { (connected, liveGeneration) = (true, generation) }
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

    private func accept(_ id: DeliveryID, _ delivery: AMQPDelivery) {
        let job = RequestJob(id: id, delivery: delivery, received: .now, deadline: Self.deadline(of: delivery.properties))
        metrics.received()
        ingestQueue.addOperation { [self] in ingest(job) }
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
        switch preparer.prepare(request, concurrency: settings.ingestThreads, deadline: job.deadline, metrics: metrics) {
        case .failure(let error):
            fail(job, error)
        case .success(let rows):
            let items = rows.reduce(0) { $0 + ($1.pixels == nil ? 0 : 1) + ($1.tokenIDs == nil ? 0 : 1) }
            job.expect(rowCount: rows.count, items: items)
            var batchItems: [(payload: Item, lane: Lane)] = []
            let now = ContinuousClock.now
            for (row, prepared) in rows.enumerated() {
                if let pixels = prepared.pixels { batchItems.append((Item(job: job, row: row, enqueued: now, pixels: pixels), .image)) }
                if let tokens = prepared.tokenIDs { batchItems.append((Item(job: job, row: row, enqueued: now, tokenIDs: tokens), .text)) }
            }
            if !batcher.submit(batchItems, deadline: job.deadline) {
                // Shutting down: not the request's fault. Back to the queue for another worker.
                metrics.ended(job, .requeued)
                link?.finish(Outcome(delivery: job.id, publishes: [], settlement: .requeue))
            }
        }
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
            metrics.batch(batch.lane, enqueued: items.map(\.enqueued))
            do {
                let start = ContinuousClock.now
                let features: [[Float]]
                switch batch.lane {
                case .image:
                    features = try encoder.encodeImages(pixels: items.flatMap { $0.pixels ?? [] }, count: items.count)
                case .text:
                    features = try encoder.encodeTexts(tokenIDs: items.map { $0.tokenIDs ?? [] })
                }
                metrics.encoded(batch.lane, rows: items.count, in: .now - start)
                for (item, embedding) in zip(items, features) {
                    let rows = batch.lane == .image
                        ? item.job.fulfil(row: item.row, image: embedding) : item.job.fulfil(row: item.row, text: embedding)
                    if let rows { succeed(item.job, rows) }
                }
            } catch {
                for item in items { fail(item.job, ClipError(.internal, "the encoder failed: \(error)")) }
            }
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
        metrics.ended(job, .success)
        link?.finish(outcome)
        onEvent(.replied(correlationID: job.delivery.properties.correlationID, rows: rows.count, milliseconds: total))
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
        link?.finish(outcomes.failure(job, error))
        onEvent(.failed(correlationID: job.delivery.properties.correlationID, error: error))
    }

    /// The sooner of the `x-deadline` header (epoch ms) and the broker TTL (`expiration`,
    /// counted from the message's timestamp when it has one, else from now).
    static func deadline(of properties: AMQPProperties) -> ContinuousClock.Instant? {
        let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        var candidates: [Int64] = []
        switch properties.headers?["x-deadline"] {
        case .int(let epochMilliseconds)?: candidates.append(epochMilliseconds)
        case .double(let epochMilliseconds)? where epochMilliseconds.isFinite: candidates.append(Int64(epochMilliseconds))
        case .string(let text)?: if let epochMilliseconds = Int64(text) { candidates.append(epochMilliseconds) }
        default: break
        }
        if let ttl = properties.expiration.flatMap({ Int64($0) }) {
            let start = properties.timestamp.map { Int64($0) * 1000 } ?? nowMilliseconds
            candidates.append(start + ttl)
        }
        guard let earliest = candidates.min() else { return nil }
        return .now + .milliseconds(earliest - nowMilliseconds)
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration / .milliseconds(1))
    }
}
