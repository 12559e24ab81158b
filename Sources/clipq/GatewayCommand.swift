import ArgumentParser
import ClipAMQP
import ClipCommandLine
import ClipGateway
import ClipSchema
import ClipWorker
import Foundation
import Logging

/// `clipq gateway`: the HTTP front door onto the queue, until SIGTERM or SIGINT.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve /score (the hosted endpoint's protocol) and /v1/embeddings (OpenAI's) over HTTP, onto the request queue.",
        discussion: """
            Each HTTP request becomes one queue request, answered on RabbitMQ's direct reply-to \
            within the request timeout; workers need no change. Without --api-key-file the gateway \
            listens on loopback only. Also serves GET / and /healthz (alive), /readyz (broker \
            connected), /metrics (Prometheus) and /openapi.json. Logs one JSON line per request on \
            stderr. Stateless: run as many as you like behind a load balancer.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var topology: TopologyOptions

    @Option(help: "The traffic lane requests go to: interactive, or bulk for a gateway in front of indexing jobs.")
    var lane: TrafficLane = .interactive

    @Option(help: "Address to listen on. Anything but loopback needs --api-key-file. Env CLIPQ_GATEWAY_HOST.")
    var host: String = env("CLIPQ_GATEWAY_HOST") ?? "127.0.0.1"

    @Option(help: "TCP port (0: any free port, logged at start). Env CLIPQ_GATEWAY_PORT.")
    var port: Int = env("CLIPQ_GATEWAY_PORT").flatMap(Int.init) ?? 8080

    @Option(help: "A file of API keys, one per line (# comments); clients send Authorization: Bearer <key>. Env CLIPQ_API_KEY_FILE.")
    var apiKeyFile: String?

    @Option(help: "How long a request waits for a worker's reply, in ms; also its x-deadline, so workers drop work nobody waits for. Env CLIPQ_REQUEST_TIMEOUT_MS.")
    var requestTimeoutMs: Int = env("CLIPQ_REQUEST_TIMEOUT_MS").flatMap(Int.init) ?? 30_000

    @OptionGroup var requestLimits: RequestLimitOptions

    @Option(name: .customLong("model-name"), help: "A model name /v1/embeddings accepts and echoes (repeat for several). Env CLIPQ_MODEL_NAMES, comma-separated. Default: \(GatewaySettings.defaultModels.joined(separator: ", ")).")
    var modelNames: [String] = []

    @Option(help: "The embeddings' length (768 for ViT-L/14@336), if known: /v1/embeddings then refuses any other dimensions before the queue, and /openapi.json says so. Env CLIPQ_DIMENSIONS.")
    var dimensions: Int?

    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error or critical. Env CLIPQ_LOG_LEVEL.")
    var logLevel: String = env("CLIPQ_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: expected trace, debug, info, notice, warning, error or critical, not \(logLevel)")
        }
        guard requestTimeoutMs > 0 else { throw ValidationError("--request-timeout-ms must be positive") }
        guard requestLimits.maxBodyBytes > 0, requestLimits.maxRows > 0 else {
            throw ValidationError("--max-body-bytes and --max-rows must be positive")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let log = Logger(label: "clipq.gateway") { _ in JSONLogHandler(level: level, metadata: ["component": "gateway"]) }
        let models = !modelNames.isEmpty
            ? modelNames
            : env("CLIPQ_MODEL_NAMES").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                ?? GatewaySettings.defaultModels
        let settings = GatewaySettings(
            host: host, port: port, apiKeys: try (apiKeyFile ?? env("CLIPQ_API_KEY_FILE")).map { try APIKeys(contentsOf: $0) },
            requestTimeout: .milliseconds(requestTimeoutMs), limits: requestLimits.limits,
            models: models, dimensions: dimensions ?? env("CLIPQ_DIMENSIONS").flatMap { Int($0) })
        try settings.validate()

        let amqp = try broker.settings(connectionName: "clipq gateway \(ProcessInfo.processInfo.hostName)")
        let (metrics, registry) = GatewayMetrics.prometheus()
        let topology = topology.topology(requestQueue: broker.queue, bulkQueue: broker.bulkQueue)
        let link = QueueLink(QueueLink.Configuration(settings: amqp, topology: topology, lane: lane)) { event in
            metrics.record(event)
            log.log(event)
        }
        let gateway = try Gateway(
            settings: settings, link: link, metrics: metrics, metricsText: { registry.emitToBuffer() }, log: log)
        if settings.apiKeys == nil {
            log.notice("no --api-key-file: serving without authentication, on loopback only", metadata: ["event": "no_auth"])
        }
        link.start()
        let (host, queue) = (settings.host, topology.queue(for: lane))
        try await gateway.run { port in
            log.info("listening", metadata: [
                "event": "listening", "host": .string(host), "port": .stringConvertible(port),
                "broker": .string(amqp.url.description), "queue": .string(queue), "version": .string(clipqVersion),
                "auth": .string(settings.apiKeys.map { "\($0.count) key(s)" } ?? "none"),
            ])
        }
        link.stop()
        log.info("stopped", metadata: ["event": "stopped"])
    }
}

extension Logger {
    fileprivate func log(_ event: QueueLink.LinkEvent) {
        switch event {
        case .connected:
            info("connected to the broker", metadata: ["event": "connected"])
        case .connectionLost(let error, let retryIn):
            warning("lost the broker; answering 503 until it is back", metadata: [
                "event": "connection_lost", "error": .string(error),
                "retry_in_ms": .stringConvertible(Int(retryIn / .milliseconds(1))),
            ])
        case .blocked(let reason):
            warning("the broker blocks publishers; answering 503", metadata: ["event": "blocked", "reason": .string(reason)])
        case .unblocked:
            info("the broker accepts publishes again", metadata: ["event": "unblocked"])
        case .lateReply(let id):
            debug("a reply came after its request's deadline", metadata: ["event": "late_reply", "correlation_id": .string(id)])
        }
    }
}
