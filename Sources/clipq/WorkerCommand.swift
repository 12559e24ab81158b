import ArgumentParser
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
    @OptionGroup var model: ModelOptions

    @Option(help: "Unacknowledged requests the broker may hand this worker at once: enough to fill text batches; lower it for image-heavy fleets that autoscale. Env CLIPQ_PREFETCH.")
    var prefetch: Int = env("CLIPQ_PREFETCH").flatMap(Int.init) ?? 64

    @Option(help: "Longest a row waits for others to fill its batch, in ms (0: the encoder takes what is queued whenever it is free, and what arrives while it works forms the next batch). Env CLIPQ_MAX_WAIT_MS.")
    var maxWaitMs: Int = env("CLIPQ_MAX_WAIT_MS").flatMap(Int.init) ?? 0

    @Option(help: "Most rows per request. Env CLIPQ_MAX_ROWS.")
    var maxRows: Int = env("CLIPQ_MAX_ROWS").flatMap(Int.init) ?? RequestLimits().maxRows

    @Option(help: "Largest request body in bytes. Env CLIPQ_MAX_BODY_BYTES.")
    var maxBodyBytes: Int = env("CLIPQ_MAX_BODY_BYTES").flatMap(Int.init) ?? RequestLimits().maxBodyBytes

    @Option(help: "Threads fetching, decoding and tokenizing. Env CLIPQ_INGEST_THREADS.")
    var ingestThreads: Int = env("CLIPQ_INGEST_THREADS").flatMap(Int.init) ?? 4

    @Option(help: "Seconds to finish in-flight work after SIGTERM before leaving it to the broker.")
    var drainSeconds: Int = 60

    @Option(name: [.customLong("http-port"), .customLong("health-port")], help: "Serve GET /healthz (alive), /readyz (connected, model loaded, not stopping) and /metrics (Prometheus) on this TCP port, all interfaces (off by default). Env CLIPQ_HTTP_PORT; --health-port and CLIPQ_HEALTH_PORT are the same setting's former names.")
    var httpPort: UInt16?

    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error or critical. Env CLIPQ_LOG_LEVEL.")
    var logLevel: String = env("CLIPQ_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: expected trace, debug, info, notice, warning, error or critical, not \(logLevel)")
        }
    }

    func run() throws {
        let log = Logger(label: "clipq.worker") { _ in
            JSONLogHandler(level: Logger.Level(rawValue: logLevel) ?? .info, metadata: ["worker": .string(Worker.defaultID)])
        }
        // The model's warnings (e.g. a bf16 fallback) go to the JSON log.
        let (embedder, weights) = try model.loadedEmbedder(warnings: Warnings { log.warning("\($0)", metadata: ["event": "warning"]) })
        var settings = WorkerSettings(
            link: BrokerLink.Configuration(
                settings: try broker.settings(connectionName: "clipq worker \(Worker.defaultID)"), topology: broker.topology,
                prefetch: prefetch),
            modelName: model.directory.lastPathComponent)
        settings.limits = RequestLimits(maxBodyBytes: maxBodyBytes, maxRows: maxRows)
        settings.imageBatch = BatchPolicy(maxBatch: model.maxBatch, maxWait: .milliseconds(maxWaitMs))
        settings.textBatch = BatchPolicy(maxBatch: max(model.maxBatch, 64), maxWait: .milliseconds(maxWaitMs))
        settings.ingestThreads = ingestThreads
        let (metrics, registry) = WorkerMetrics.prometheus()
        let worker = try Worker(
            settings: settings, encoder: embedder.encoder, preparer: embedder.preparer, metrics: metrics, onEvent: { log.log($0) })
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
            "event": "started", "model": .string(settings.modelName), "broker": .string(settings.link.settings.url.description),
            "queue": .string(broker.queue), "version": .string(clipqVersion),
        ]
        if let http { started["http_port"] = .stringConvertible(Int(http.port)) }
        if let weights { started["weights"] = .string(weights) }  // bf16/int8: converted, or mapped from the cache
        log.info("started", metadata: started)
        worker.start()
        stop.wait()
        log.info("stopping: answering what is in flight", metadata: ["event": "stopping"])
        let drained = worker.stop(timeout: .seconds(drainSeconds))
        log.info(drained ? "stopped" : "stopped; unanswered requests are left to the broker",
                 metadata: ["event": "stopped", "drained": .stringConvertible(drained)])
        http?.stop()
        withExtendedLifetime(signals) {}
    }
}
