import ArgumentParser
import ClipAMQP
import ClipBatch
import ClipSchema
import ClipWorker
import Foundation

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

    @Option(help: "Serve GET /healthz (alive) and /readyz (connected, model loaded, not stopping) on this TCP port, all interfaces (off by default). Env CLIPQ_HEALTH_PORT.")
    var healthPort: UInt16? = env("CLIPQ_HEALTH_PORT").flatMap { UInt16($0) }

    func run() throws {
        let log = JSONLog()
        let (embedder, weights) = try model.loadedEmbedder()
        var settings = WorkerSettings(
            link: BrokerLink.Configuration(
                settings: try broker.settings(connectionName: "clipq worker \(Worker.defaultID)"), topology: broker.topology,
                prefetch: prefetch),
            modelName: model.directory.lastPathComponent)
        settings.limits = RequestLimits(maxBodyBytes: maxBodyBytes, maxRows: maxRows)
        settings.imageBatch = BatchPolicy(maxBatch: model.maxBatch, maxWait: .milliseconds(maxWaitMs))
        settings.textBatch = BatchPolicy(maxBatch: max(model.maxBatch, 64), maxWait: .milliseconds(maxWaitMs))
        settings.ingestThreads = ingestThreads
        let worker = try Worker(settings: settings, encoder: embedder.encoder, preparer: embedder.preparer, onEvent: log.record)
        let health = try healthPort.map { port in
            try HealthServer(port: port, isAlive: { worker.isAlive }, isReady: { worker.isReady })
        }

        let stop = DispatchSemaphore(value: 0)
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        log.line(["event": "started", "worker": .string(settings.workerID), "model": .string(settings.modelName),
                  "broker": .string(settings.link.settings.url.description), "queue": .string(broker.queue),
                  "health_port": health.map { .number(Double($0.port)) } ?? .null,
                  "weights": weights.map(JSONValue.string) ?? .null])
        worker.start()
        stop.wait()
        log.line(["event": "stopping"])
        let drained = worker.stop(timeout: .seconds(drainSeconds))
        log.line(["event": "stopped", "drained": .bool(drained)])
        health?.stop()
        withExtendedLifetime(signals) {}
    }
}

/// One JSON object per line on stderr: easy to read, easy to ship to a log store.
final class JSONLog: Sendable {
    func line(_ fields: JSONObject) {
        var fields = fields
        fields["time"] = .string(ISO8601DateFormatter().string(from: Date()))
        FileHandle.standardError.write(Data(JSONWriter.serialize(.object(fields)) + [0x0A]))
    }

    func record(_ event: WorkerEvent) {
        switch event {
        case .replied(let correlationID, let rows, let milliseconds):
            line(["event": "replied", "correlation_id": correlationID.map(JSONValue.string) ?? .null,
                  "rows": .number(Double(rows)), "ms": .number(Double(milliseconds))])
        case .failed(let correlationID, let error):
            line(["event": "failed", "correlation_id": correlationID.map(JSONValue.string) ?? .null,
                  "code": .string(error.code.rawValue), "message": .string(error.message),
                  "pointer": error.pointer.map(JSONValue.string) ?? .null])
        case .link(let event):
            switch event {
            case .connected(let generation): line(["event": "connected", "generation": .number(Double(generation))])
            case .connectionLost(let generation, let error, let retryIn):
                line(["event": "connection_lost", "generation": .number(Double(generation)), "error": .string(error.description),
                      "retry_in_ms": .number(retryIn / .milliseconds(1))])
            case .returned(let returned):
                line(["event": "reply_unroutable", "reply_to": .string(returned.routingKey),
                      "correlation_id": returned.properties.correlationID.map(JSONValue.string) ?? .null,
                      "reason": .string(returned.replyText)])
            case .staleOutcome(let id): line(["event": "stale_outcome", "delivery": .string(id.description)])
            case .blocked(let reason): line(["event": "broker_blocked", "reason": .string(reason)])
            case .unblocked: line(["event": "broker_unblocked"])
            case .settled: break  // one line per request is enough
            }
        }
    }
}
