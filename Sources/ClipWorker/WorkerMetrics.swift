import ClipAMQP
import ClipImage
import ClipPipeline
import ClipSchema
import Foundation
import Metrics

/// The worker's metrics (docs/operations.md). The pipeline tells this one type what happened;
/// only this type knows the metrics' names, labels, units and buckets. The handles are
/// swift-metrics ones, made by the factory passed in: `prometheus()` (WorkerMetrics+Prometheus.swift) makes them on a private
/// Prometheus registry for `/metrics`, and the no-op factory keeps tests and tools quiet.
public final class WorkerMetrics: @unchecked Sendable {
    public enum RequestOutcome: Sendable {
        case success
        /// An error reply and a dead letter.
        case error(ErrorCode)
        /// Given back to the queue unanswered (shutdown).
        case requeued
    }

    private let requests: [String: Counter]
    private let requestSeconds: [String: Timer]
    private let inFlight: Meter
    private let rows: [Worker.Lane: Counter]
    private let batchSize: [Worker.Lane: Recorder]
    private let queueWait: [Worker.Lane: Timer]
    private let encodeSeconds: [Worker.Lane: Timer]
    private let stageSeconds: [ImageIngest.Stage: Timer]
    private let tokenizeSeconds: Timer
    private let connected: Meter
    private let blocked: Meter
    private let reconnects: Counter
    private let deadLetters: [ErrorCode: Counter]
    private let unroutableReplies: Counter
    private let laneRequests: [TrafficLane: Counter]
    private let laneRows: [TrafficLane: Counter]
    private let laneWait: [TrafficLane: Timer]
    private let laneDepth: [TrafficLane: Meter]
    private let cacheHits: Counter
    private let cacheMisses: Counter
    private let deduplicatedRows: Counter

    private let lock = NSLock()
    // Guarded by `lock`:
    /// Dead letters handed to the link and not yet confirmed, by the delivery they settle.
    private var pendingDeadLetters: [DeliveryID: ErrorCode] = [:]
    private var everConnected = false

    private let factory: any MetricsFactory

    /// Every series is made here, so that `/metrics` shows zeros (not gaps) before the first event.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
            Counter(label: name, dimensions: labels, factory: factory)
        }
        func timer(_ name: String, _ labels: [(String, String)] = []) -> Timer {
            Timer(label: name, dimensions: labels, factory: factory)
        }
        func gauge(_ name: String) -> Meter { Meter(label: name, dimensions: [], factory: factory) }
        func byLane<T>(_ make: (Worker.Lane) -> T) -> [Worker.Lane: T] {
            Dictionary(uniqueKeysWithValues: Worker.Lane.allCases.map { ($0, make($0)) })
        }
        let outcomes = ["success", "requeued"].map { ($0, "none") } + ErrorCode.allCases.map { ("error", $0.rawValue) }
        requests = Dictionary(uniqueKeysWithValues: outcomes.map {
            ("\($0.0)/\($0.1)", counter("clipq_requests_total", [("outcome", $0.0), ("code", $0.1)]))
        })
        requestSeconds = Dictionary(uniqueKeysWithValues: ["success", "error", "requeued"].map {
            ($0, timer("clipq_request_duration_seconds", [("outcome", $0)]))
        })
        inFlight = gauge("clipq_requests_in_flight")
        rows = byLane { counter("clipq_rows_total", [("kind", $0.rawValue)]) }
        batchSize = byLane { Recorder(label: "clipq_batch_size", dimensions: [("lane", $0.rawValue)], factory: factory) }
        queueWait = byLane { timer("clipq_queue_wait_seconds", [("lane", $0.rawValue)]) }
        encodeSeconds = byLane { timer("clipq_encode_seconds", [("lane", $0.rawValue)]) }
        stageSeconds = [.fetch: timer("clipq_fetch_seconds"), .preprocess: timer("clipq_preprocess_seconds")]
        tokenizeSeconds = timer("clipq_tokenize_seconds")
        connected = gauge("clipq_broker_connected")
        blocked = gauge("clipq_broker_blocked")
        reconnects = counter("clipq_broker_reconnects_total")
        deadLetters = Dictionary(uniqueKeysWithValues: ErrorCode.allCases.map {
            ($0, counter("clipq_dead_letters_total", [("code", $0.rawValue)]))
        })
        unroutableReplies = counter("clipq_replies_unroutable_total")
        func byTraffic<T>(_ make: (TrafficLane) -> T) -> [TrafficLane: T] {
            Dictionary(uniqueKeysWithValues: TrafficLane.allCases.map { ($0, make($0)) })
        }
        laneRequests = byTraffic { counter("clipq_lane_requests_total", [("lane", $0.rawValue)]) }
        laneRows = byTraffic { counter("clipq_lane_rows_total", [("lane", $0.rawValue)]) }
        laneWait = byTraffic { timer("clipq_lane_wait_seconds", [("lane", $0.rawValue)]) }
        laneDepth = byTraffic { Meter(label: "clipq_queue_depth", dimensions: [("lane", $0.rawValue)], factory: factory) }
        cacheHits = counter("clipq_cache_hits_total")
        cacheMisses = counter("clipq_cache_misses_total")
        deduplicatedRows = counter("clipq_deduplicated_rows_total")
    }

    /// Metrics that go nowhere (in-process tools, tests of other things).
    public static var disabled: WorkerMetrics { WorkerMetrics(factory: NOOPMetricsHandler.instance) }

    /// What this worker runs, as a constant series (`clipq_worker_info{version,model,precision} 1`)
    /// that dashboards join on.
    public func describe(version: String, model: String, precision: String) {
        Meter(label: "clipq_worker_info", dimensions: [("version", version), ("model", model), ("precision", precision)], factory: factory)
            .set(1)
    }

    // MARK: - What the pipeline reports

    /// A delivery of `lane` was taken in.
    func received(_ lane: TrafficLane) {
        inFlight.increment()
        laneRequests[lane]?.increment()
    }

    /// A request ended; call it before its outcome goes to the link, so that the dead letter's
    /// confirmation cannot come first.
    func ended(_ job: RequestJob, _ outcome: RequestOutcome) {
        let name: String
        let code: String
        switch outcome {
        case .success: (name, code) = ("success", "none")
        case .requeued: (name, code) = ("requeued", "none")
        case .error(let error):
            (name, code) = ("error", error.rawValue)
            lock.withLock { pendingDeadLetters[job.id] = error }
        }
        requests["\(name)/\(code)"]?.increment()
        requestSeconds[name]?.record(duration: .now - job.received)
        inFlight.decrement()
    }

    /// The encoder took a batch of `lane` whose items came from `items`' traffic lanes and were
    /// queued at their instants.
    func batch(_ lane: Worker.Lane, items: [(traffic: TrafficLane, enqueued: ContinuousClock.Instant)]) {
        let now = ContinuousClock.now
        batchSize[lane]?.record(items.count)
        for item in items {
            queueWait[lane]?.record(duration: now - item.enqueued)
            laneWait[item.traffic]?.record(duration: now - item.enqueued)
            laneRows[item.traffic]?.increment()
        }
    }

    /// The encoder computed `rows` rows of `lane` in `duration`.
    func encoded(_ lane: Worker.Lane, rows count: Int, in duration: Duration) {
        encodeSeconds[lane]?.record(duration: duration)
        rows[lane]?.increment(by: count)
    }

    /// A request's cells looked up in the embedding cache.
    func cacheLookups(hits: Int, misses: Int) {
        cacheHits.increment(by: hits)
        cacheMisses.increment(by: misses)
    }

    /// Rows of a batch that repeated another row's content and were not computed again.
    func deduplicated(_ count: Int) {
        if count > 0 { deduplicatedRows.increment(by: count) }
    }

    /// A stage of preparing a request's rows took `duration`.
    func stage(_ stage: PreparationStage, _ duration: Duration) {
        switch stage {
        case .image(let stage): stageSeconds[stage]?.record(duration: duration)
        case .tokenize: tokenizeSeconds.record(duration: duration)
        }
    }

    /// The broker link's news: connection state, reconnects, returned replies, and the
    /// settlements that confirm dead letters.
    func link(_ event: LinkEvent) {
        switch event {
        case .connected:
            connected.set(1)
            if lock.withLock({ defer { everConnected = true }; return everConnected }) { reconnects.increment() }
        case .connectionLost(let generation, _, _):
            connected.set(0)
            blocked.set(0)
            lock.withLock { pendingDeadLetters = pendingDeadLetters.filter { $0.key.generation > generation } }
        case .returned(let returned):
            if returned.exchange.isEmpty { unroutableReplies.increment() }  // the default exchange: a reply
        case .settled(let id, let settlement):
            // Acked only once every publish of the outcome was confirmed; a nack requeues instead.
            let code = lock.withLock { pendingDeadLetters.removeValue(forKey: id) }
            if let code, settlement == .ack { deadLetters[code]?.increment() }
        case .staleOutcome(let id):
            _ = lock.withLock { pendingDeadLetters.removeValue(forKey: id) }
        case .blocked: blocked.set(1)
        case .unblocked: blocked.set(0)
        case .queueDepth(let lane, let messages): laneDepth[lane]?.set(messages)
        }
    }
}
