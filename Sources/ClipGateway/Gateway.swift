import ClipAMQP
import ClipSchema
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// How a gateway serves.
public struct GatewaySettings: Sendable {
    public var host: String
    public var port: Int
    /// Nil: no authentication, which is allowed on loopback only.
    public var apiKeys: APIKeys?
    /// How long a request waits for its reply; also its `x-deadline` for the workers.
    public var requestTimeout: Duration
    /// The worker's limits: a request the workers would refuse never reaches the queue.
    public var limits: RequestLimits
    /// Names `/v1/embeddings` accepts as `model` (and echoes back).
    public var models: [String]
    /// The embeddings' length, when known: `/v1/embeddings` then refuses any other `dimensions`
    /// before the queue. Unset, it refuses them once the reply shows the length.
    public var dimensions: Int?

    public static let defaultModels = ["clip-vit-large-patch14-336", "clipq"]

    public init(
        host: String = "127.0.0.1", port: Int = 8080, apiKeys: APIKeys? = nil, requestTimeout: Duration = .seconds(30),
        limits: RequestLimits = RequestLimits(), models: [String] = defaultModels, dimensions: Int? = nil
    ) {
        self.host = host
        self.port = port
        self.apiKeys = apiKeys
        self.requestTimeout = requestTimeout
        self.limits = limits
        self.models = models
        self.dimensions = dimensions
    }

    /// Refuses to serve without keys anywhere but loopback: an open embedding service on a
    /// network is free compute for anyone who finds it.
    public func validate() throws(GatewayConfigurationError) {
        if apiKeys == nil && !Self.isLoopback(host) {
            throw GatewayConfigurationError(
                "refusing to listen on \(host) without API keys: give --api-key-file (env CLIPQ_API_KEY_FILE), "
                    + "or listen on loopback (127.0.0.1, ::1, localhost)")
        }
        guard (0...65535).contains(port) else { throw GatewayConfigurationError("port \(port) is out of range") }
        guard !models.isEmpty else { throw GatewayConfigurationError("at least one model name is needed") }
        guard requestTimeout > .zero else { throw GatewayConfigurationError("the request timeout must be positive") }
        if let dimensions, dimensions < 1 { throw GatewayConfigurationError("dimensions must be positive") }
    }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// The HTTP front door onto the queue: `/score` (the hosted endpoint's protocol) and
/// `/v1/embeddings` (OpenAI's), each request one queue request awaited on direct reply-to;
/// plus liveness, readiness, metrics and the OpenAPI document. Stateless: run any number.
public final class Gateway: Sendable {
    public let settings: GatewaySettings
    private let link: QueueLink
    private let decoder: ClipSchema.RequestDecoder
    private let metrics: GatewayMetrics
    private let metricsText: @Sendable () -> [UInt8]
    private let openAPI: [UInt8]
    private let log: Logger

    /// - metricsText: what `/metrics` serves (the Prometheus registry behind `metrics`).
    public init(
        settings: GatewaySettings, link: QueueLink, metrics: GatewayMetrics, metricsText: @escaping @Sendable () -> [UInt8],
        log: Logger
    ) throws {
        try settings.validate()
        self.settings = settings
        self.link = link
        self.decoder = try ClipSchema.RequestDecoder(limits: settings.limits)
        self.metrics = metrics
        self.metricsText = metricsText
        self.openAPI = OpenAPIDocument.served(models: settings.models, dimensions: settings.dimensions)
        self.log = log
    }

    /// Serves until SIGTERM or SIGINT; `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let app = Application(
            router: router(), configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "clipq"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) }, logger: log)
        try await app.runService()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AllowedMethods(methods: [
            "/": [.get], "/healthz": [.get], "/readyz": [.get], "/metrics": [.get], "/openapi.json": [.get],
            "/score": [.post], "/v1/embeddings": [.post],
        ]))
        // The hosted endpoint's server answers liveness on its root.
        router.get("/") { _, _ in Self.text("Healthy", status: .ok) }
        router.get("/healthz") { _, _ in Self.json(#"{"status":"ok"}"#, status: .ok) }
        router.get("/readyz") { [link] _, _ in
            let state = link.state
            return Self.json(#"{"status":"\#(state.rawValue)"}"#, status: state == .connected ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { [metricsText] _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metricsText())))
        }
        router.get("/openapi.json") { [openAPI] _, _ in
            Self.json(openAPI, status: .ok)
        }
        router.post("/score") { [self] request, _ in
            await serve(request, route: "/score", errorBody: ScoreProtocol.errorBody) { body, trace throws(GatewayError) in
                try await score(body, trace)
            }
        }
        router.post("/v1/embeddings") { [self] request, _ in
            await serve(request, route: "/v1/embeddings", errorBody: EmbeddingsProtocol.errorBody) { body, trace throws(GatewayError) in
                try await embeddings(body, trace)
            }
        }
        return router
    }

    // MARK: - The two protocols

    /// What a route answers: a body and the rows it carried (for the log).
    struct Answer {
        var body: [UInt8]
        var rows: Int
    }

    private func score(_ body: [UInt8], _ trace: TraceHeaders) async throws(GatewayError) -> Answer {
        let request: EmbeddingRequest
        do {
            request = try decoder.decode(body)
        } catch {
            throw GatewayError(error)
        }
        let reply = try await send(body, trace)
        // An embeddings reply goes back byte for byte; only an error reply needs reading.
        if reply.properties.type == "embeddings" { return Answer(body: reply.body, rows: request.rows.count) }
        switch decodeReply(reply.body) {
        case .success: return Answer(body: reply.body, rows: request.rows.count)
        case .failure(let error): throw error
        }
    }

    private func embeddings(_ body: [UInt8], _ trace: TraceHeaders) async throws(GatewayError) -> Answer {
        let request = try EmbeddingsProtocol.parse(
            body, limits: settings.limits, models: settings.models, dimensions: settings.dimensions)
        let contract = RequestEncoder.encode(request.rows)
        do {
            // The translation can still break a worker's limit (e.g. the body size): say so here.
            _ = try decoder.decode(contract)
        } catch {
            throw EmbeddingsProtocol.translate(error)
        }
        let reply = try await send(contract, trace)
        switch decodeReply(reply.body) {
        case .success(let rows):
            return Answer(body: try EmbeddingsProtocol.response(rows, for: request), rows: request.rows.count)
        case .failure(let error):
            throw EmbeddingsProtocol.translate(ClipError(ErrorCode(rawValue: error.code) ?? .internal, error.message, pointer: error.pointer))
        }
    }

    private func decodeReply(_ body: [UInt8]) -> Result<[ReplyRow], GatewayError> {
        do {
            switch try ReplyDecoder.decode(body) {
            case .success(let rows): return .success(rows)
            case .failure(let error): return .failure(GatewayError(error))
            }
        } catch {
            return .failure(GatewayError.badReply(error.message))
        }
    }

    /// One queue request; its reply, or why there is none.
    private func send(_ body: [UInt8], _ trace: TraceHeaders) async throws(GatewayError) -> AMQPDelivery {
        let outcome = await link.send(
            QueueRequest(body: body, headers: trace.amqpHeaders, deadline: .now + settings.requestTimeout))
        switch outcome {
        case .reply(let delivery): return delivery
        case .unavailable(let reason): throw GatewayError.unavailable(reason)
        case .timedOut: throw GatewayError.deadlineExceeded(milliseconds: Int(settings.requestTimeout / .milliseconds(1)))
        }
    }

    // MARK: - What every protocol request goes through

    /// Authentication, content type, the body (up to the limit), the route's work, then the
    /// answer in the route's protocol, with the request's trace headers, a log line and metrics.
    private func serve(
        _ request: Request, route: String, errorBody: @Sendable (GatewayError) -> [UInt8],
        work: @Sendable ([UInt8], TraceHeaders) async throws(GatewayError) -> Answer
    ) async -> Response {
        let started = ContinuousClock.now
        metrics.started()
        let trace = TraceHeaders(
            traceparent: request.headers[.traceparent], requestID: request.headers[.requestID])
        var status = 200
        var code = "none"
        var rows = 0
        var response: Response
        do {
            let body = try await checkedBody(request)
            let answer = try await work(body, trace)
            rows = answer.rows
            response = Self.json(answer.body, status: .ok)
        } catch {
            status = error.status
            code = error.code
            response = Self.json(errorBody(error), status: HTTPResponse.Status(code: error.status))
            if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            if error.status == 401 { response.headers[.wwwAuthenticate] = #"Bearer realm="clipq""# }
        }
        response.headers[.requestID] = trace.requestID
        if let traceparent = trace.traceparent { response.headers[.traceparent] = traceparent }
        let duration = ContinuousClock.now - started
        metrics.answered(route: route, status: status, code: code, duration: duration)
        var metadata: Logger.Metadata = [
            "event": "request", "route": .string(route), "status": .stringConvertible(status),
            "duration_ms": .stringConvertible((duration / .milliseconds(1) * 1000).rounded() / 1000),
            "request_id": .string(trace.requestID), "rows": .stringConvertible(rows),
        ]
        if code != "none" { metadata["code"] = .string(code) }
        if let traceparent = trace.traceparent { metadata["traceparent"] = .string(traceparent) }
        log.log(level: status >= 500 ? .warning : .info, "request", metadata: metadata)
        return response
    }

    /// The body, once the caller is known and says it sends JSON, read no further than the limit.
    private func checkedBody(_ request: Request) async throws(GatewayError) -> [UInt8] {
        if let keys = settings.apiKeys, !keys.accepts(authorization: request.headers[.authorization]) {
            throw GatewayError.unauthorized()
        }
        if let contentType = request.headers[.contentType], !Self.isJSON(contentType) {
            throw GatewayError.unsupportedMediaType(contentType)
        }
        let limit = settings.limits.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw GatewayError.bodyTooLarge(limit: limit)
        }
        var collected = ByteBuffer()
        do {
            for try await chunk in request.body {
                guard collected.readableBytes + chunk.readableBytes <= limit else { throw GatewayError.bodyTooLarge(limit: limit) }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(status: 400, code: ErrorCode.invalidJSON.rawValue, message: "the body could not be read: \(error)")
        }
        return collected.readBytes(length: collected.readableBytes) ?? []
    }

    /// `application/json`, with or without parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }

    static func json(_ body: [UInt8], status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        json(Array(text.utf8), status: status)
    }

    static func text(_ text: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

extension HTTPField.Name {
    static let requestID = Self("x-request-id")!
    static let traceparent = Self("traceparent")!
}
