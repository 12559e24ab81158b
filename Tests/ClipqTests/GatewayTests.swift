import ClipAMQP
import ClipModelTestSupport
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `clipq gateway` in front of a real broker and a real `clipq worker` on the tiny model,
/// driven by real clients: the official `openai` package and Python `requests`.
final class GatewayTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = .unique(name)
    }

    private static let imagePath = CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path

    /// `clipq embed` on the same rows, the reference the gateway must agree with.
    private func embedReference(_ arguments: [String]) throws -> [[Float]] {
        let result = try CLI.run(["embed", "--model", WorkerProcess.modelDirectory] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try XCTUnwrap(try JSONParser().parse(result.stdout).array)
        return rows.compactMap { $0["image_features"]?.floats ?? $0["text_features"]?.floats }
    }

    private func assertClose(_ got: [Float]?, _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let got else { return XCTFail("\(what): no embedding", file: file, line: line) }
        XCTAssertEqual(got.count, expected.count, what, file: file, line: line)
        XCTAssertGreaterThanOrEqual(closeness(got, expected).cosine, 0.99999, what, file: file, line: line)
    }

    private static func decodeBase64Floats(_ text: String?) -> [Float]? {
        guard let text, let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: 4).map { (i: Int) -> Float in
            var bits: UInt32 = 0
            for k in 0..<4 { bits |= UInt32(bytes[i + k]) << UInt32(8 * k) }
            return Float(bitPattern: bits)
        }
    }

    // MARK: - OpenAI's protocol through the official SDK

    func testOpenAIClientEmbedsTextsImagesAndMixedInputsAsClipqEmbedNormalizes() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology)
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: Self.imagePath))
        let server = try LoopbackServer { path, _ in
            path == "/astronaut.jpg" ? .status(200, headers: ["Content-Type: image/jpeg"], body: Array(jpeg)) : .status(404)
        }
        let base64 = jpeg.base64EncodedString()
        let dataURI = "data:image/jpeg;base64," + base64

        let reference = try embedReference(["--normalize", "--text", "a photo of a cat", "--text", "a dog", "--image", Self.imagePath])
        let (cat, dog, astronaut) = (reference[0], reference[1], reference[2])

        let results = try PythonClient.openAI(baseURL: gateway.baseURL, calls: [
            // The SDK's default: it asks for base64 and decodes it itself.
            ["input": "a photo of a cat", "model": "clipq"],
            ["input": ["a photo of a cat", "a dog"], "model": "clip-vit-large-patch14-336", "encoding_format": "float"],
            // Jina's convention: texts and images mixed, images as a URL, a data URI, bare base64.
            ["input": [["image": .string(server.url("/astronaut.jpg"))], ["text": "a dog"], ["image": .string(dataURI)], ["image": .string(base64)]],
             "model": "clipq", "encoding_format": "float"],
            // Infinity's convention: plain strings are images; raw base64 floats back.
            ["input": [.string(base64)], "model": "clipq", "encoding_format": "base64", "extra_body": ["modality": "image"]],
            ["input": "a dog", "model": "clipq", "dimensions": 16, "encoding_format": "float"],
        ])
        XCTAssertEqual(results.count, 5)
        for (i, result) in results.enumerated() {
            XCTAssertEqual(result["ok"], true, "call \(i): \(JSONWriter.string(result["body"] ?? .null))")
        }

        let single = results[0]["response"]
        XCTAssertEqual(single?["object"], "list")
        XCTAssertEqual(single?["model"], "clipq")
        XCTAssertEqual(single?["usage"]?["prompt_tokens"], 0)
        XCTAssertEqual(single?["data"]?.array?.count, 1)
        XCTAssertEqual(single?["data"]?.array?.first?["object"], "embedding")
        assertClose(single?["data"]?.array?.first?["embedding"]?.floats, cat, "default (base64 decoded by the SDK)")
        XCTAssertNotNil(results[0]["headers"]?["x-request-id"]?.string, "every answer carries a request id")

        let pair = try XCTUnwrap(results[1]["response"]?["data"]?.array)
        XCTAssertEqual(results[1]["response"]?["model"], "clip-vit-large-patch14-336")
        XCTAssertEqual(pair.map { $0["index"] }, [0, 1])
        assertClose(pair[0]["embedding"]?.floats, cat, "text 0")
        assertClose(pair[1]["embedding"]?.floats, dog, "text 1")
        let norm = (pair[1]["embedding"]?.floats ?? []).reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(norm, 1, accuracy: 1e-5, "/v1/embeddings answers unit vectors")

        let mixed = try XCTUnwrap(results[2]["response"]?["data"]?.array)
        XCTAssertEqual(mixed.count, 4)
        assertClose(mixed[0]["embedding"]?.floats, astronaut, "image by URL")
        assertClose(mixed[1]["embedding"]?.floats, dog, "text among images")
        assertClose(mixed[2]["embedding"]?.floats, astronaut, "image as data URI")
        assertClose(mixed[3]["embedding"]?.floats, astronaut, "image as base64")
        XCTAssertEqual(server.hits("/astronaut.jpg"), 1)

        let raw = results[3]["response"]?["data"]?.array?.first?["embedding"]?.string
        assertClose(Self.decodeBase64Floats(raw), astronaut, "base64 little-endian float32")

        let sized = results[4]["response"]?["data"]?.array?.first?["embedding"]?.floats
        XCTAssertEqual(sized?.count, 16, "dimensions equal to the embedding length is accepted")
        XCTAssertEqual(cat.count, 16, "the tiny model's projection is 16 wide (the test relies on it)")
        withExtendedLifetime(worker) {}
    }

    /// Errors that only a worker can find come back in OpenAI's shape, pointing at the input.
    func testOpenAIErrorsFromTheWorkerAndFromDimensions() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology)
        let results = try PythonClient.openAI(baseURL: gateway.baseURL, calls: [
            ["input": ["a dog", "bm90IGFuIGltYWdl"], "model": "clipq", "extra_body": ["modality": "image"]],
            ["input": "a dog", "model": "clipq", "dimensions": 8],
            ["input": [["image": "!!not base64!!"]], "model": "clipq"],
        ])
        XCTAssertEqual(results[0]["status"], 422, "an image that is not one: \(results[0])")
        XCTAssertEqual(results[0]["exception"], "UnprocessableEntityError")
        XCTAssertEqual(results[0]["body"]?["param"], "input")
        XCTAssertNotNil(results[0]["body"]?["message"]?.string?.range(of: "/input/"), "the message says which input")

        XCTAssertEqual(results[1]["status"], 400, "CLIP is not shortened: \(results[1])")
        XCTAssertEqual(results[1]["body"]?["param"], "dimensions")
        XCTAssertEqual(results[1]["body"]?["type"], "invalid_request_error")

        XCTAssertEqual(results[2]["status"], 422)
        XCTAssertEqual(results[2]["body"]?["code"], "invalid_base64")
        withExtendedLifetime(worker) {}
    }

    // MARK: - The hosted endpoint's protocol through Python requests

    func testScoreAnswersTheSampleRequestsAsClipqEmbedRequestDoes() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology)
        let directory = CLI.fixtures.appendingPathComponent("requests/valid")
        // Requests whose images are on the internet cannot run here.
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            .filter { $0.hasSuffix(".json") }
            .filter { !((try? String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) ?? "http").contains("http") }
        XCTAssertGreaterThanOrEqual(files.count, 8)
        let bodies = try files.map { try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }
        let results = try PythonClient.http(bodies.map {
            ["url": .string(gateway.baseURL + "/score"), "data": .string($0), "headers": ["Content-Type": "application/json"]]
        })
        XCTAssertEqual(results.count, files.count)
        for (file, result) in zip(files, results) {
            XCTAssertEqual(result["status"], 200, "\(file): \(result["text"] ?? .null)")
            let expected = try CLI.run(["embed", "--model", WorkerProcess.modelDirectory, "--request", directory.appendingPathComponent(file).path])
            let want = try XCTUnwrap(try JSONParser().parse(expected.stdout).array, file)
            let got = try XCTUnwrap(result["json"]?.array, file)
            XCTAssertEqual(got.count, want.count, file)
            for (row, (g, w)) in zip(got, want).enumerated() {
                for key in ["image_features", "text_features"] {
                    XCTAssertEqual(g[key] == nil, w[key] == nil, "\(file) row \(row) \(key)")
                    guard let gf = g[key]?.floats, let wf = w[key]?.floats else { continue }
                    assertClose(gf, wf, "\(file) row \(row) \(key)")
                    // Unnormalized, as the hosted endpoint answers: the lengths agree too.
                    let (gn, wn) = (gf.reduce(0) { $0 + $1 * $1 }.squareRoot(), wf.reduce(0) { $0 + $1 * $1 }.squareRoot())
                    XCTAssertEqual(gn, wn, accuracy: wn * 1e-4, "\(file) row \(row) \(key) norm")
                }
            }
        }
        let root = try PythonClient.http([["method": "GET", "url": .string(gateway.baseURL + "/")]])
        XCTAssertEqual(root.first?["status"], 200, "liveness on / as the hosted endpoint's server answers it")
        withExtendedLifetime(worker) {}
    }

    // MARK: - Errors, keys, limits: refused at the gateway, before the queue

    func testErrorsInEachProtocolsShapeAndNothingBadReachesTheQueue() throws {
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-keys-\(getpid())-\(name.hashValue)")
        try "# the tests' client\nsecret-key-1\n\nsecret-key-2\n".write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        let gateway = try GatewayProcess(
            broker: broker, topology: topology,
            arguments: ["--api-key-file", keyFile.path, "--max-rows", "2", "--max-body-bytes", "4096", "--host", "127.0.0.1"])
        let score = gateway.baseURL + "/score"
        let embeddings = gateway.baseURL + "/v1/embeddings"
        let key: JSONValue = ["Authorization": "Bearer secret-key-2", "Content-Type": "application/json"]
        let good: JSONValue = ["input_data": ["columns": ["image", "text"], "index": [0], "data": [["", "a cat"]]]]
        let threeRows: JSONValue = [
            "input_data": ["columns": ["image", "text"], "index": [0, 1, 2], "data": [["", "a"], ["", "b"], ["", "c"]]],
        ]
        let calls: [(String, JSONValue, Int, String)] = [
            ("no key", ["url": .string(score), "json": good], 401, "unauthorized"),
            ("wrong key", ["url": .string(score), "json": good, "headers": ["Authorization": "Bearer secret-key-3"]], 401, "unauthorized"),
            ("key as a prefix", ["url": .string(score), "json": good, "headers": ["Authorization": "Bearer secret-key"]], 401, "unauthorized"),
            ("not JSON", ["url": .string(score), "data": "{\"input_data\": ", "headers": key], 400, "invalid_json"),
            ("schema", ["url": .string(score), "json": ["input_data": ["columns": ["text", "image"], "index": [0], "data": [["", "x"]]]],
                        "headers": key], 400, "schema_violation"),
            ("too many rows", ["url": .string(score), "json": threeRows, "headers": key], 400, "too_many_rows"),
            ("content type", ["url": .string(score), "data": "input_data=1", "headers": ["Authorization": "Bearer secret-key-1", "Content-Type": "text/plain"]], 415, "unsupported_media_type"),
            ("too large", ["url": .string(score), "repeat": [" ", 5000], "headers": key], 413, "message_too_large"),
        ]
        let openAICalls: [(String, JSONValue, Int, String)] = [
            ("v1 no key", ["url": .string(embeddings), "json": ["input": "a", "model": "clipq"]], 401, "invalid_api_key"),
            ("v1 model", ["url": .string(embeddings), "json": ["input": "a", "model": "gpt-4"], "headers": key], 404, "model_not_found"),
            ("v1 tokens", ["url": .string(embeddings), "json": ["input": [1, 2, 3], "model": "clipq"], "headers": key], 400, "schema_violation"),
            ("v1 token arrays", ["url": .string(embeddings), "json": ["input": [[1, 2]], "model": "clipq"], "headers": key], 400, "schema_violation"),
            ("v1 format", ["url": .string(embeddings), "json": ["input": "a", "model": "clipq", "encoding_format": "int8"], "headers": key], 400, "schema_violation"),
            ("v1 rows", ["url": .string(embeddings), "json": ["input": ["a", "b", "c"], "model": "clipq"], "headers": key], 400, "too_many_rows"),
            ("v1 empty", ["url": .string(embeddings), "json": ["input": [], "model": "clipq"], "headers": key], 400, "schema_violation"),
            ("v1 not JSON", ["url": .string(embeddings), "data": "[", "headers": key], 400, "invalid_json"),
            ("v1 too large", ["url": .string(embeddings), "repeat": ["a", 5000], "headers": key], 413, "message_too_large"),
        ]
        let results = try PythonClient.http((calls + openAICalls).map(\.1))
        for ((label, _, status, code), result) in zip(calls, results.prefix(calls.count)) {
            XCTAssertEqual(result["status"], .number(Double(status)), "\(label): \(result["text"] ?? .null)")
            XCTAssertEqual(result["json"]?["error"]?["code"], .string(code), label)
            XCTAssertNotNil(result["json"]?["error"]?["message"]?.string, label)
            XCTAssertNil(result["json"]?["error"]?["type"], "\(label): /score errors are the contract's shape")
            XCTAssertNotNil(result["headers"]?["x-request-id"]?.string, label)
        }
        XCTAssertEqual(results[0]["headers"]?["www-authenticate"], #"Bearer realm="clipq""#)
        XCTAssertEqual(results[4]["json"]?["error"]?["pointer"], "/input_data/columns")
        for ((label, _, status, code), result) in zip(openAICalls, results.dropFirst(calls.count)) {
            XCTAssertEqual(result["status"], .number(Double(status)), "\(label): \(result["text"] ?? .null)")
            let error = result["json"]?["error"]
            XCTAssertEqual(error?["code"], .string(code), label)
            XCTAssertNotNil(error?["message"]?.string, label)
            XCTAssertNotNil(error?["type"]?.string, "\(label): OpenAI's shape")
            XCTAssertNotNil(error?.object?["param"], "\(label): OpenAI's shape has param, null or not")
        }
        let tokens = results[calls.count + 2]["json"]?["error"]?["message"]?.string ?? ""
        XCTAssertTrue(tokens.contains("token arrays are not supported"), tokens)
        XCTAssertEqual(results[calls.count + 1]["json"]?["error"]?["param"], "model")

        // The official SDK sees the same: its exception classes follow the status.
        let sdk = try PythonClient.openAI(baseURL: gateway.baseURL, apiKey: "wrong", calls: [["input": "a", "model": "clipq"]])
        XCTAssertEqual(sdk.first?["exception"], "AuthenticationError")
        let sdkModel = try PythonClient.openAI(baseURL: gateway.baseURL, apiKey: "secret-key-1", calls: [["input": "a", "model": "nope"]])
        XCTAssertEqual(sdkModel.first?["exception"], "NotFoundError")
        XCTAssertEqual(sdkModel.first?["body"]?["code"], "model_not_found")

        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0, "no refused request was published")
        XCTAssertFalse(gateway.log.joined().contains("secret-key"), "keys are never logged")

        // Every answer is counted by route, status and code.
        let metrics = try PythonClient.http([["method": "GET", "url": .string(gateway.baseURL + "/metrics")]])
        let text = metrics.first?["text"]?.string ?? ""
        XCTAssertTrue(text.contains(#"clipq_gateway_requests_total{route="/score",status="401",code="unauthorized"} 3"#), text)
        XCTAssertTrue(text.contains(#"clipq_gateway_requests_total{route="/v1/embeddings",status="404",code="model_not_found"} 2"#), text)
        XCTAssertTrue(text.contains("clipq_gateway_broker_connected 1"), text)
    }

    func testListeningBeyondLoopbackWithoutKeysIsRefused() throws {
        let result = try CLI.run(["gateway", "--host", "0.0.0.0", "--port", "0"], environment: ["CLIPQ_AMQP_URL": broker.url])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("without API keys"), result.stderr)
    }

    // MARK: - Deadlines, trace context and the broker's absence

    /// No worker: the request waits in the queue until its deadline, which the message carries
    /// for the worker, with the caller's trace context and request id.
    func testNoWorkerAnswers504AtTheDeadlineAndTheMessageCarriesDeadlineAndTrace() throws {
        let gateway = try GatewayProcess(broker: broker, topology: topology, arguments: ["--request-timeout-ms", "700"])
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let started = Date()
        let results = try PythonClient.http([
            ["url": .string(gateway.baseURL + "/score"), "json": ["input_data": ["columns": ["image", "text"], "index": [0], "data": [["", "a cat"]]]],
             "headers": ["traceparent": .string(traceparent), "x-request-id": "req-42"]],
            ["url": .string(gateway.baseURL + "/v1/embeddings"), "json": ["input": "a cat", "model": "clipq"],
             "headers": ["traceparent": "not-a-valid-traceparent"]],
        ])
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(results[0]["status"], 504, "\(results[0])")
        XCTAssertEqual(results[0]["json"]?["error"]?["code"], "deadline_exceeded")
        XCTAssertEqual(results[0]["headers"]?["traceparent"]?.string, traceparent)
        XCTAssertEqual(results[0]["headers"]?["x-request-id"], "req-42")
        XCTAssertEqual(results[1]["status"], 504)
        XCTAssertEqual(results[1]["json"]?["error"]?["type"], "server_error")
        XCTAssertNil(results[1]["headers"]?["traceparent"], "a malformed traceparent is dropped, not echoed")
        XCTAssertGreaterThanOrEqual(elapsed, 1.4)
        XCTAssertLessThan(elapsed, 10)

        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        let message = try XCTUnwrap(try connection.get(topology.requestQueue), "the request waits in the queue for a worker")
        let headers = message.properties.headers ?? [:]
        XCTAssertEqual(headers["traceparent"], .string(traceparent))
        XCTAssertEqual(headers["x-request-id"], .string("req-42"))
        guard case .int(let deadline)? = headers["x-deadline"] else { return XCTFail("no x-deadline: \(headers)") }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        XCTAssertLessThan(deadline, now, "the deadline has passed")
        XCTAssertGreaterThan(deadline, now - 30_000)
        XCTAssertTrue(message.properties.replyTo?.hasPrefix("amq.rabbitmq.reply-to.") ?? false, "direct reply-to, as the broker names it")
        XCTAssertNotNil(message.properties.correlationID)
        XCTAssertEqual(try JSONParser().parse(message.body)["input_data"]?["data"], [["", "a cat"]])
    }

    /// A worker that stalls (SIGSTOP) holding the request: 504 at the deadline; when it resumes,
    /// its late answer finds no waiter and is counted, not delivered to anyone.
    func testStalledWorkerAnswers504AndItsLateReplyIsDropped() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology, arguments: ["--request-timeout-ms", "1500", "--log-level", "debug"])
        let call: JSONValue = ["url": .string(gateway.baseURL + "/v1/embeddings"), "json": ["input": "a dog", "model": "clipq"]]
        XCTAssertEqual(try PythonClient.http([call]).first?["status"], 200)
        kill(worker.process.processIdentifier, SIGSTOP)
        defer { kill(worker.process.processIdentifier, SIGCONT) }
        let stalled = try PythonClient.http([call]).first
        XCTAssertEqual(stalled?["status"], 504)
        XCTAssertEqual(stalled?["json"]?["error"]?["code"], "deadline_exceeded")
        kill(worker.process.processIdentifier, SIGCONT)
        XCTAssertTrue(gateway.waitForLog(containing: #""event":"late_reply""#), gateway.log.suffix(5).joined(separator: "\n"))
        let metrics = try PythonClient.http([["method": "GET", "url": .string(gateway.baseURL + "/metrics")]]).first?["text"]?.string ?? ""
        XCTAssertTrue(metrics.contains("clipq_gateway_late_replies_total 1"), metrics)
        XCTAssertEqual(try PythonClient.http([call]).first?["status"], 200, "the worker serves again")
    }

    /// The broker goes away under load: requests in flight and new ones get 503 promptly (none
    /// hangs), readiness says so, and the gateway serves again once the broker is back.
    func testBrokerStoppedAndStartedUnderLoad() throws {
        let broker = try TestBroker()
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology, arguments: ["--request-timeout-ms", "5000"])
        let load = LoadLoop(url: gateway.baseURL + "/v1/embeddings", body: #"{"input": ["a dog", "a cat"], "model": "clipq"}"#)
        load.start(concurrency: 4)
        Thread.sleep(forTimeInterval: 1.5)
        try broker.ctl(["stop_app"])
        XCTAssertTrue(waitFor(.seconds(10)) { (try? Self.status(gateway.baseURL + "/readyz")) == 503 }, "not ready without a broker")
        let refusalStarted = Date()
        let refused = try PythonClient.http([["url": .string(gateway.baseURL + "/score"),
                                              "json": ["input_data": ["columns": ["image", "text"], "index": [0], "data": [["", "x"]]]]]])
        XCTAssertEqual(refused.first?["status"], 503)
        XCTAssertEqual(refused.first?["headers"]?["retry-after"], "1")
        XCTAssertEqual(refused.first?["json"]?["error"]?["code"], "unavailable")
        XCTAssertLessThan(Date().timeIntervalSince(refusalStarted), 3, "refused at once, not at the deadline")
        Thread.sleep(forTimeInterval: 1)
        try broker.ctl(["start_app"])
        XCTAssertTrue(waitFor(.seconds(60)) { (try? Self.status(gateway.baseURL + "/readyz")) == 200 }, "ready again")
        let okBefore = load.counts[200, default: 0]
        XCTAssertTrue(waitFor(.seconds(30)) { load.counts[200, default: 0] > okBefore + 5 }, "serving again: \(load.counts)")
        let counts = load.stop(timeout: .seconds(15))
        XCTAssertNotNil(counts, "a request hung")
        let statuses = Set((counts ?? [:]).keys)
        XCTAssertTrue(statuses.isSubset(of: [200, 503, 504]), "only success, unavailable or deadline: \(counts ?? [:])")
        XCTAssertGreaterThan(counts?[503] ?? 0, 0, "the outage showed as 503: \(counts ?? [:])")
        withExtendedLifetime(worker) {}
    }

    /// A memory alarm blocks publishers: the gateway learns it from connection.blocked, answers
    /// 503 at once instead of queueing requests it cannot publish, and serves again when it lifts.
    func testBlockedBrokerAnswers503AndRecovers() throws {
        let broker = try TestBroker()
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let gateway = try GatewayProcess(broker: broker, topology: topology, arguments: ["--request-timeout-ms", "3000"])
        let body: JSONValue = ["input": "a dog", "model": "clipq"]
        let call: JSONValue = ["url": .string(gateway.baseURL + "/v1/embeddings"), "json": body]
        XCTAssertEqual(try PythonClient.http([call]).first?["status"], 200)

        try broker.ctl(["set_vm_memory_high_watermark", "absolute", "1"])
        // The broker blocks a connection when it next publishes: that request may wait out its
        // deadline (504) or see the block first (503); the ones after it are refused at once.
        var statuses: [Int] = []
        XCTAssertTrue(waitFor(.seconds(30)) {
            statuses.append(Int((try? PythonClient.http([call]))?.first?["status"]?.number ?? -1))
            return statuses.last == 503
        }, "no 503 while blocked: \(statuses)")
        XCTAssertTrue(Set(statuses).isSubset(of: [200, 503, 504]), "\(statuses)")
        XCTAssertEqual(try Self.status(gateway.baseURL + "/readyz"), 503)
        let started = Date()
        let refused = try PythonClient.http([call]).first
        XCTAssertEqual(refused?["status"], 503)
        XCTAssertTrue(refused?["json"]?["error"]?["message"]?.string?.contains("blocking") ?? false, "\(refused ?? .null)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5, "refused at once")
        XCTAssertTrue(gateway.log.contains { $0.contains(#""event":"blocked""#) })

        try broker.ctl(["set_vm_memory_high_watermark", "0.4"])
        XCTAssertTrue(waitFor(.seconds(30)) { (try? Self.status(gateway.baseURL + "/readyz")) == 200 }, "ready once unblocked")
        XCTAssertTrue(waitFor(.seconds(30)) { (try? PythonClient.http([call]))?.first?["status"] == 200 }, "serving again")
        withExtendedLifetime(worker) {}
    }

    private func waitFor(_ timeout: Duration, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    private static func status(_ url: String) throws -> Int {
        try PythonClient.http([["method": "GET", "url": .string(url)]]).first?["status"]?.number.map(Int.init) ?? 0
    }

    // MARK: - The OpenAPI document

    func testOpenAPIDocumentIsServedAndCarriesTheContractsRequestSchema() throws {
        let document = try JSONParser(maxDepth: 128).parse(Array(try Data(contentsOf: CLI.fixtures
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/openapi.json"))))
        let request = try JSONParser().parse(Array(try Data(contentsOf: CLI.fixtures
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/request.schema.json"))))
        let reply = try JSONParser().parse(Array(try Data(contentsOf: CLI.fixtures
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/reply.schema.json"))))
        XCTAssertEqual(document["openapi"], "3.1.0")
        // The contract's schemas verbatim, but for where their $defs live (tools resolve "#/..."
        // against the document's root, whatever a nested $id says).
        func contractSchema(_ name: String, id: JSONValue?) -> JSONValue? {
            guard case .object(var object)? = document["components"]?["schemas"]?[name]?.rerooted(
                from: "#/components/schemas/\(name)/$defs/", to: "#/$defs/")
            else { return nil }
            object["$id"] = id
            return .object(object)
        }
        XCTAssertEqual(contractSchema("ScoreRequest", id: request["$id"]), request, "the /score body is the contract's request")
        XCTAssertEqual(contractSchema("ScoreReply", id: reply["$id"]), reply)
        XCTAssertFalse(JSONWriter.string(document).contains("\"#/$defs/"), "every reference resolves from the document's root")
        XCTAssertEqual(
            document["paths"]?["/score"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]?["$ref"],
            "#/components/schemas/ScoreRequest")
        // Every contract error code is one the /score error schema admits.
        let codes = document["components"]?["schemas"]?["ScoreError"]?["properties"]?["error"]?["properties"]?["code"]?["enum"]?.array ?? []
        for code in ErrorCode.allCases { XCTAssertTrue(codes.contains(.string(code.rawValue)), code.rawValue) }

        let gateway = try GatewayProcess(broker: broker, topology: topology)
        let configured = try GatewayProcess(broker: broker, topology: topology, arguments: ["--model-name", "mine", "--dimensions", "16"])
        let served = try PythonClient.http([
            ["method": "GET", "url": .string(gateway.baseURL + "/openapi.json")],
            ["method": "GET", "url": .string(configured.baseURL + "/openapi.json")],
            ["method": "GET", "url": .string(gateway.baseURL + "/score")],
            ["method": "DELETE", "url": .string(gateway.baseURL + "/v1/embeddings")],
            ["method": "GET", "url": .string(gateway.baseURL + "/nowhere")],
            ["url": .string(configured.baseURL + "/v1/embeddings"), "json": ["input": "a", "model": "mine", "dimensions": 768]],
        ])
        XCTAssertEqual(served[0]["json"], document, "a gateway with the default settings serves the committed document")
        let properties = served[1]["json"]?["components"]?["schemas"]?["EmbeddingsRequest"]?["properties"]
        XCTAssertEqual(properties?["model"]?["enum"], ["mine"], "the served document names this gateway's models")
        XCTAssertEqual(properties?["dimensions"]?["enum"], [16, nil])
        XCTAssertEqual(served[2]["status"], 405)
        XCTAssertEqual(served[2]["headers"]?["allow"], "POST")
        XCTAssertEqual(served[3]["status"], 405)
        XCTAssertEqual(served[4]["status"], 404)
        XCTAssertEqual(served[5]["status"], 400, "a configured length refuses other dimensions before the queue")
        XCTAssertEqual(served[5]["json"]?["error"]?["param"], "dimensions")
        XCTAssertEqual(gateway.terminate(), 0, "SIGTERM stops the gateway cleanly")
        XCTAssertEqual(configured.terminate(), 0)
    }
}

/// Requests in a loop from several threads (URLSession), counting answers by status; a
/// request that never answers shows as `stop` timing out.
private final class LoadLoop: @unchecked Sendable {
    private let url: URL
    private let body: Data
    private let lock = NSLock()
    private var statusCounts: [Int: Int] = [:]
    private var running = true
    private let group = DispatchGroup()

    init(url: String, body: String) {
        self.url = URL(string: url) ?? URL(fileURLWithPath: "/")
        self.body = Data(body.utf8)
    }

    var counts: [Int: Int] { lock.withLock { statusCounts } }

    func start(concurrency: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        let session = URLSession(configuration: configuration)
        for _ in 0..<concurrency {
            group.enter()
            Thread.detachNewThread { [self] in
                let done = DispatchSemaphore(value: 0)
                while lock.withLock({ running }) {
                    var request = URLRequest(url: url)
                    request.httpMethod = "POST"
                    request.httpBody = body
                    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    session.dataTask(with: request) { [self] _, response, _ in
                        let status = (response as? HTTPURLResponse)?.statusCode ?? -1
                        lock.withLock { statusCounts[status, default: 0] += 1 }
                        done.signal()
                    }.resume()
                    done.wait()
                }
                group.leave()
            }
        }
    }

    /// The counts once every loop has finished its last request, or nil if one did not in time.
    func stop(timeout: Duration) -> [Int: Int]? {
        lock.withLock { running = false }
        let finished = group.wait(timeout: .now() + timeout / .seconds(1)) == .success
        return finished ? counts : nil
    }
}
