import ArgumentParser
import ClipCommandLine
import ClipPipeline
import ClipAMQP
import ClipBatch
import ClipSchema
import ClipTensor
import ClipWorker
import Foundation
import Logging

/// `clipq worker`: consume requests, embed them, reply; until SIGTERM or SIGINT.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve embedding requests from RabbitMQ until SIGTERM/SIGINT.",
        discussion: """
            Declares the topology (idempotently), consumes the request queue, and answers each \
            request on its reply_to. Logs one JSON line per request outcome on stderr. On SIGTERM \
            or SIGINT it stops consuming, answers what is in flight, and exits 0.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var model: ModelOptions

    @Option(help: "Unacknowledged requests the broker may hand this worker at once: enough to fill text batches; lower it for image-heavy fleets that autoscale. Env CLIPQ_PREFETCH.")
    var prefetch: Int = env("CLIPQ_PREFETCH").flatMap(Int.init) ?? 64

    @Option(help: "Unacknowledged bulk requests held at once: few, so that bulk work never stands between an interactive request and the encoder for more than a batch. Env CLIPQ_BULK_PREFETCH.")
    var bulkPrefetch: Int = env("CLIPQ_BULK_PREFETCH").flatMap(Int.init) ?? 8

    @Option(help: "The traffic lanes this worker serves, comma-separated: interactive,bulk (both, interactive first), or one of them for a dedicated worker. Env CLIPQ_LANES.")
    var lanes: String = env("CLIPQ_LANES") ?? "interactive,bulk"

    @Option(help: "Bytes of embeddings kept in this worker's cache, looked up by content (image file bytes, a text's tokens) before computing; 0 turns it off. Env CLIPQ_CACHE_BYTES.")
    var cacheBytes: Int = env("CLIPQ_CACHE_BYTES").flatMap(Int.init) ?? 256 << 20

    @Option(help: "A Redis (or Valkey) the workers share as a second cache tier: redis://[[user]:password@]host[:port][/db]. A slow or absent Redis never slows a request (lookups give up after --cache-timeout-ms). Env CLIPQ_CACHE_URL.")
    var cacheURL: String? = env("CLIPQ_CACHE_URL")

    @Option(help: "Longest a shared-cache lookup may take, in ms. Env CLIPQ_CACHE_TIMEOUT_MS.")
    var cacheTimeoutMs: Int = env("CLIPQ_CACHE_TIMEOUT_MS").flatMap(Int.init) ?? 50

    @Option(help: "Longest a row waits for others to fill its batch, in ms (0: the encoder takes what is queued whenever it is free, and what arrives while it works forms the next batch). Env CLIPQ_MAX_WAIT_MS.")
    var maxWaitMs: Int = env("CLIPQ_MAX_WAIT_MS").flatMap(Int.init) ?? 0

    @OptionGroup var requestLimits: RequestLimitOptions

    @Option(help: "Threads fetching, decoding and tokenizing. Env CLIPQ_INGEST_THREADS.")
    var ingestThreads: Int = env("CLIPQ_INGEST_THREADS").flatMap(Int.init) ?? 4

    @Option(help: "Seconds to answer in-flight work after SIGTERM/SIGINT; then the worker closes and the broker requeues what is left for another worker (a batch already in the encoder gets 3 s more). Env CLIPQ_DRAIN_SECONDS.")
    var drainSeconds: Int = env("CLIPQ_DRAIN_SECONDS").flatMap(Int.init) ?? 60

    @Option(name: [.customLong("http-port"), .customLong("health-port")], help: "Serve GET /healthz (alive), /readyz (connected, model loaded, not stopping) and /metrics (Prometheus) on this TCP port, all interfaces (off by default). Env CLIPQ_HTTP_PORT; --health-port and CLIPQ_HEALTH_PORT are the same setting's former names.")
    var httpPort: UInt16?

    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error or critical. Env CLIPQ_LOG_LEVEL.")
    var logLevel: String = env("CLIPQ_LOG_LEVEL") ?? "info"

    var servedLanes: [TrafficLane] {
        get throws {
            let names = lanes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let served = try names.map { name in
                guard let lane = TrafficLane(rawValue: name) else {
                    throw ValidationError("--lanes: expected interactive, bulk or both, not \(name)")
                }
                return lane
            }
            guard !served.isEmpty else { throw ValidationError("--lanes: name at least one lane") }
            return TrafficLane.allCases.filter(served.contains)
        }
    }

    func validate() throws {
        _ = try servedLanes
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: expected trace, debug, info, notice, warning, error or critical, not \(logLevel)")
        }
    }

    func run() throws {
        let log = Logger(label: "clipq.worker") { _ in
            JSONLogHandler(level: Logger.Level(rawValue: logLevel) ?? .info, metadata: ["worker": .string(Worker.defaultID)])
        }
        // The model's warnings (e.g. a bf16 fallback) go to the JSON log.
        let loaded = try model.loadedEmbedder(warnings: Warnings { log.warning("\($0)", metadata: ["event": "warning"]) })
        let topology = topology.topology(requestQueue: broker.queue, bulkQueue: broker.bulkQueue)
        let amqp = try broker.settings(connectionName: "clipq worker \(Worker.defaultID)")
        let link = BrokerLink(BrokerLink.Configuration(
            settings: amqp, topology: topology, prefetch: prefetch, bulkPrefetch: bulkPrefetch, lanes: try servedLanes))
        var settings = WorkerSettings(topology: topology, modelName: model.directory.lastPathComponent)
        settings.version = clipqVersion
        settings.precision = loaded.precision.rawValue
        settings.limits = requestLimits.limits
        settings.imageBatch = BatchPolicy(maxBatch: model.maxBatch, maxWait: .milliseconds(maxWaitMs))
        settings.textBatch = BatchPolicy(maxBatch: max(model.maxBatch, 64), maxWait: .milliseconds(maxWaitMs))
        settings.ingestThreads = ingestThreads
        let (metrics, registry) = WorkerMetrics.prometheus()
        metrics.describe(version: clipqVersion, model: model.directory.lastPathComponent, precision: loaded.precisionChoice)
        let cache = try embeddingCache(precision: loaded.precisionChoice)
        let worker = try Worker(
            settings: settings, transport: link, encoder: loaded.embedder.encoder, preparer: loaded.embedder.preparer, cache: cache,
            metrics: metrics,
            onEvent: { log.log($0) })
        let port = httpPort ?? (env("CLIPQ_HTTP_PORT") ?? env("CLIPQ_HEALTH_PORT")).flatMap { UInt16($0) }
        let http = try port.map { port in
            try HealthServer(
                port: port, isAlive: { worker.isAlive }, isReady: { worker.isReady }, metrics: { registry.emitToBuffer() })
        }

        let stop = DispatchSemaphore(value: 0)
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        var started: Logger.Metadata = [
            "event": "started", "model": .string(settings.modelName), "broker": .string(amqp.urls.map(\.description).joined(separator: ",")),
            "queue": .string(broker.queue), "bulk_queue": .string(topology.bulkQueue),
            "lanes": .string(try servedLanes.map(\.rawValue).joined(separator: ",")), "version": .string(clipqVersion),
        ]
        if let http { started["http_port"] = .stringConvertible(Int(http.port)) }
        if let weights = loaded.weights { started["weights"] = .string(weights) }
        started["precision"] = .string(loaded.precisionChoice)
        started["cache"] = .string(cacheDescription)  // bf16/int8: converted, or mapped from the cache
        log.info("started", metadata: started)
        worker.start()
        stop.wait()
        log.info("stopping: answering what is in flight", metadata: [
            "event": "stopping", "drain_seconds": .stringConvertible(drainSeconds),
        ])
        let report = worker.stop(timeout: Duration.seconds(max(0, drainSeconds)))
        log.info(report.drained ? "stopped" : "stopped; requests still unanswered went back to the queue", metadata: [
            "event": "stopped", "drained": .stringConvertible(report.drained),
            "answered": .stringConvertible(report.answered), "requeued": .stringConvertible(report.requeued),
        ])
        http?.stop()
        withExtendedLifetime(signals) {}
    }

    /// Content keys for this model and precision, and the cache tiers the flags ask for.
    func embeddingCache(precision: String) throws -> PreparationCache {
        let identity = try ModelIdentity(modelDirectory: model.directory, precision: precision)
        let memory: (any EmbeddingCache)? = cacheBytes > 0 ? MemoryEmbeddingCache(capacityBytes: cacheBytes) : nil
        let shared: (any EmbeddingCache)? = try cacheURL.map {
            try RedisEmbeddingCache(url: $0, timeout: .milliseconds(max(1, cacheTimeoutMs)))
        }
        switch (memory, shared) {
        case (let memory?, let shared?): return PreparationCache(model: identity, cache: TieredEmbeddingCache(first: memory, second: shared))
        case (let one?, nil), (nil, let one?): return PreparationCache(model: identity, cache: one)
        case (nil, nil): return PreparationCache(model: identity, cache: nil)
        }
    }

    var cacheDescription: String {
        let memory = cacheBytes > 0 ? "memory \(cacheBytes >> 20) MiB" : "memory off"
        return cacheURL.map { memory + " + redis " + ((try? RedisEndpoint(url: $0).description) ?? "?") } ?? memory
    }
}
