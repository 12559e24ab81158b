import ClipAMQP
import ClipClient
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// Deploy/ checked as far as this machine allows: the health endpoints of a real worker, the
/// broker definitions imported into a real broker, the deployment files parsed, `make model`
/// against a loopback server, the shell client against a real worker.
final class DeployTests: XCTestCase {
    private static let root = TestFixtures.repository
    private var broker: TestBroker!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
    }

    // MARK: - Health endpoints

    func testReadyzFollowsTheBrokerAndShutdownWhileHealthzStaysUp() throws {
        let port = try TestBroker.freePort()
        // An image that takes ~3 s to arrive keeps a request in flight through the drain.
        let server = try LoopbackServer { _, _ in .trickle(total: 1000, chunk: 100, every: 0.3) }
        let topology = Topology.unique(name, deliveryLimit: 5)
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: ["--health-port", String(port)])
        XCTAssertTrue(worker.log.contains { $0.contains(#""http_port":\#(port)"#) }, "the port is logged")

        XCTAssertTrue(waitFor(status: 200, port: port, path: "/readyz"), "ready once connected")
        XCTAssertEqual(Self.get(port: port, path: "/healthz")?.status, 200)
        XCTAssertEqual(Self.get(port: port, path: "/metrics")?.status, 200, "--health-port, the former name, serves it all")
        XCTAssertEqual(Self.get(port: port, path: "/other")?.status, 404)
        XCTAssertEqual(Self.get(port: port, path: "/readyz", method: "POST")?.status, 405)

        try broker.ctl(["stop_app"])
        let down = waitFor(status: 503, port: port, path: "/readyz")
        let aliveWhileDown = Self.get(port: port, path: "/healthz")?.status
        try broker.ctl(["start_app"])
        XCTAssertTrue(down, "not ready while the broker is down")
        XCTAssertEqual(aliveWhileDown, 200, "alive while reconnecting: no reason to restart it")
        XCTAssertTrue(waitFor(status: 200, port: port, path: "/readyz", timeout: .seconds(60)), "ready again after the reconnect")

        let client = try ReplyCollector(broker: broker)
        try client.send(Self.request(image: server.url("/slow.jpg")), id: "slow", to: topology.requestQueue)
        Thread.sleep(forTimeInterval: 0.5)
        kill(worker.process.processIdentifier, SIGTERM)
        XCTAssertTrue(waitFor(status: 503, port: port, path: "/readyz"), "not ready from SIGTERM on, while it drains")
        XCTAssertTrue(worker.process.isRunning, "still draining when readyz said 503")
        XCTAssertEqual(worker.terminate(), 0)
        try client.collect(["slow"], timeout: .seconds(10))
        XCTAssertNotNil(client.replies["slow"], "the request in flight was answered during the drain")
    }

    private func waitFor(status: Int, port: Int, path: String, timeout: Duration = .seconds(15)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if Self.get(port: port, path: path)?.status == status { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    /// A bare HTTP/1.1 GET over a socket, as a probe sends it: the status code and body, or nil.
    static func get(port: Int, path: String, method: String = "GET") -> (status: Int, body: String)? {
        guard let fd = TestBroker.connectToLoopback(port: port) else { return nil }
        defer { close(fd) }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: kube-probe/1.30\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        guard let statusLine = parts.first?.split(separator: "\r\n").first, statusLine.hasPrefix("HTTP/1.1 "),
              let status = Int(statusLine.split(separator: " ")[1]) else { return nil }
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    private static func request(image: String = "", text: String = "") -> [UInt8] {
        JSONWriter.serialize(["input_data": ["columns": ["image", "text"], "index": [0], "data": [[.string(image), .string(text)]]]])
    }

    // MARK: - Broker definitions

    /// Deploy/rabbitmq/definitions.json imported with rabbitmqctl (into a vhost of its own, so
    /// that its fixed names meet no other test), then a worker with the default topology starts
    /// against it: the same arguments, or the broker would refuse its declaration (406).
    func testTheBrokerDefinitionsImportAndAWorkerDeclaresTheSameTopology() throws {
        let vhost = "clipq-deploy-\(UInt32.random(in: 0...UInt32.max))"
        let text = try String(contentsOf: Self.root.appendingPathComponent("Deploy/rabbitmq/definitions.json"), encoding: .utf8)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(vhost).json")
        try text.replacingOccurrences(of: #""vhost": "/""#, with: #""vhost": "\#(vhost)""#)
            .replacingOccurrences(of: #""name": "/""#, with: #""name": "\#(vhost)""#)
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try broker.ctl(["import_definitions", file.path])
        defer { _ = try? broker.ctl(["delete_vhost", vhost]) }
        try broker.ctl(["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])

        let defaults = Topology()
        let queues = try broker.ctl(["list_queues", "-p", vhost, "name", "type", "durable", "arguments", "--no-table-headers"])
        for name in [defaults.requestQueue, defaults.bulkQueue] {
            let requests = try XCTUnwrap(queues.split(separator: "\n").first { $0.hasPrefix(name + "\t") }, queues)
            XCTAssertTrue(requests.contains("\tquorum\ttrue\t"), String(requests))
            XCTAssertTrue(requests.contains(#"{"x-delivery-limit",5}"#), String(requests))
            XCTAssertTrue(requests.contains(#"{"x-dead-letter-exchange","clipq.dlx"}"#), String(requests))
        }
        XCTAssertTrue(queues.contains("\(defaults.deadLetterQueue)\tclassic\ttrue"), queues)
        let bindings = try broker.ctl(["list_bindings", "-p", vhost, "source_name", "destination_name", "--no-table-headers"])
        XCTAssertTrue(bindings.contains("\(defaults.deadLetterExchange)\t\(defaults.deadLetterQueue)"), bindings)
        let exchanges = try broker.ctl(["list_exchanges", "-p", vhost, "name", "type", "durable", "--no-table-headers"])
        XCTAssertTrue(exchanges.contains("\(defaults.deadLetterExchange)\tfanout\ttrue"), exchanges)
        let policies = try broker.ctl(["list_queues", "-p", vhost, "name", "policy", "--no-table-headers"])
        XCTAssertTrue(policies.contains("\(defaults.deadLetterQueue)\tclipq-dead-bounded"), policies)

        let url = broker.url + vhost
        // Control: a topology with other arguments is refused by this broker, so the worker's
        // start below proves the arguments are the same.
        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(url)))
        var other = defaults
        other.deliveryLimit = 4
        XCTAssertThrowsError(try other.declare(on: connection)) { XCTAssertEqual(($0 as? AMQPError)?.replyCode, 406) }

        let worker = try WorkerProcess(broker: broker, topology: defaults, environment: ["CLIPQ_AMQP_URL": url])
        XCTAssertFalse(worker.log.contains { $0.contains("connection_lost") }, worker.log.joined(separator: "\n"))
        let client = try ClipClient(settings: AMQPSettings(url: try AMQPURL(url)))
        guard case .embeddings(let rows) = try client.embed(texts: ["a photo of a cat"], timeout: .seconds(30)) else {
            return XCTFail("expected embeddings through the imported topology")
        }
        XCTAssertEqual(rows.first?.textFeatures?.count, 16)
        XCTAssertEqual(worker.terminate(), 0)
    }

    // MARK: - Deployment files

    /// compose, Kubernetes, systemd, Dockerfile: see Tests/Fixtures/deploy/check_deploy.py.
    func testTheDeploymentFilesParseAndCarryWhatTheWorkerNeeds() throws {
        let result = try Self.run(
            ["python3", CLI.fixtures.appendingPathComponent("deploy/check_deploy.py").path, Self.root.path, CLI.executable.path])
        XCTAssertEqual(result.status, 0, result.output)

        // The definitions carry exactly the arguments the worker declares.
        let definitions = try JSONParser().parse(Array(try Data(contentsOf: Self.root.appendingPathComponent("Deploy/rabbitmq/definitions.json"))))
        var declared = JSONObject()
        for (key, value) in Topology().requestQueueArguments {
            switch value {
            case .string(let s): declared[key] = .string(s)
            case .int(let i): declared[key] = .number(Double(i))
            default: XCTFail("unexpected argument type for \(key)")
            }
        }
        for name in [Topology().requestQueue, Topology().bulkQueue] {
            let queue = try XCTUnwrap(definitions["queues"]?.array?.first { $0["name"]?.string == name }, name)
            XCTAssertEqual(queue["arguments"], .object(declared), name)
            XCTAssertEqual(queue["durable"], .bool(true), name)
        }

        // The unit file, as systemd reads it (with the built binary in place of the installed one).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-unit-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let unit = try String(contentsOf: Self.root.appendingPathComponent("Deploy/systemd/clipq-worker@.service"), encoding: .utf8)
            let instance = directory.appendingPathComponent("clipq-worker@1.service")
            try unit.replacingOccurrences(of: "/usr/local/bin/clipq", with: CLI.executable.path).write(to: instance, atomically: true, encoding: .utf8)
            let verify = try Self.run(["systemd-analyze", "verify", instance.path])
            XCTAssertFalse(verify.output.contains("clipq-worker"), verify.output)
        }
    }

    // MARK: - make model

    /// scripts/fetch-model.py against a loopback server holding the tiny model: a download cut
    /// midway resumes with a Range request, a corrupt file fails its checksum and is not kept.
    func testMakeModelResumesAnInterruptedDownloadAndRefusesACorruptFile() throws {
        let tiny = CLI.fixtures.appendingPathComponent("tiny-clip")
        let names = ["config.json", "vocab.json", "merges.txt", "preprocessor_config.json", "model.safetensors"]
        var files: [String: [UInt8]] = [:]
        for name in names { files[name] = Array(try Data(contentsOf: tiny.appendingPathComponent(name))) }
        let files_ = files
        let weights = files["model.safetensors"] ?? []
        let ranges = LockedList()
        let server = try LoopbackServer(requests: { request in
            let name = String(request.path.dropFirst("/tiny/".count))
            if name == "corrupt/config.json" {
                return .status(200, body: Array("{\"not\": \"the config\"}".utf8))
            }
            guard var body = files_[name.replacingOccurrences(of: "corrupt/", with: "")] else { return .status(404) }
            if name == "model.safetensors" && request.n == 1 {
                return .cut(200, body: Array(body.prefix(body.count / 2)), declaredLength: body.count)  // the connection drops
            }
            if let range = request.headers["range"] {
                ranges.append("\(name) \(range)")
                guard let start = Int(range.dropFirst("bytes=".count).prefix { $0 != "-" }), start <= body.count else { return .status(416) }
                let total = body.count
                body = Array(body[start...])
                return .status(206, headers: ["Content-Range: bytes \(start)-\(total - 1)/\(total)"], body: body)
            }
            return .status(200, body: body)
        })
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-model-\(getpid())")
        try? FileManager.default.removeItem(at: out)
        defer { try? FileManager.default.removeItem(at: out) }
        let script = Self.root.appendingPathComponent("scripts/fetch-model.py").path
        let manifest = tiny.appendingPathComponent("manifest.json").path
        func fetch(_ base: String) throws -> (status: Int32, output: String) {
            try Self.run(["python3", script, "--manifest", manifest, "--out", out.path], environment: ["CLIPQ_MODEL_BASE_URL": base])
        }

        let first = try fetch(server.url("/tiny"))
        XCTAssertEqual(first.status, 1, first.output)
        XCTAssertTrue(first.output.contains("model.safetensors: FAILED"), first.output)
        let part = out.appendingPathComponent("model.safetensors.part")
        XCTAssertEqual(try Data(contentsOf: part).count, weights.count / 2, "the first half is kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))

        let second = try fetch(server.url("/tiny"))
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(ranges.items, ["model.safetensors bytes=\(weights.count / 2)-"], "resumed where it stopped, nothing else refetched")
        XCTAssertTrue(second.output.contains("config.json: present, sha256 ok"), second.output)
        for name in names {
            XCTAssertEqual(Array(try Data(contentsOf: out.appendingPathComponent(name))), files[name], name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: part.path))
        XCTAssertEqual(server.hits("/tiny/model.safetensors"), 2)

        // The model it fetched loads and serves.
        let embed = try CLI.run(["embed", "--model", out.path, "--text", "a photo of a cat"])
        XCTAssertEqual(embed.status, 0, embed.stderr)

        try FileManager.default.removeItem(at: out.appendingPathComponent("config.json"))
        let corrupt = try fetch(server.url("/tiny/corrupt"))
        XCTAssertEqual(corrupt.status, 1, corrupt.output)
        XCTAssertTrue(corrupt.output.contains("config.json: FAILED: sha256 mismatch"), corrupt.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("config.json").path), "not kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("config.json.part").path), "not resumed")
    }

    /// A manifest without hashes (the real model's, until filled): the weights are checked
    /// against the SHA-256 the hub puts on its redirect (X-Linked-ETag), a small file without
    /// one is refused, and `--record` writes what was downloaded into the manifest.
    func testMakeModelUsesTheHubsHashAndRecordsUnknownOnesOnlyWhenAsked() throws {
        let tiny = CLI.fixtures.appendingPathComponent("tiny-clip")
        let weights = Array(try Data(contentsOf: tiny.appendingPathComponent("model.safetensors")))
        let config = Array(try Data(contentsOf: tiny.appendingPathComponent("config.json")))
        let weightsHash = "7c11008104e146cd2294ee84b1f6ec0c4678d8bc3eb2f0e13232564ddda726e9"
        let server = try LoopbackServer { path, _ in
            switch path {
            case "/hub/model.safetensors":
                return .status(302, headers: ["Location: /storage/weights", "X-Linked-ETag: \"\(weightsHash)\""])
            case "/bad/model.safetensors":
                return .status(302, headers: ["Location: /storage/weights", "X-Linked-ETag: \"\(String(repeating: "0", count: 64))\""])
            case "/storage/weights": return .status(200, body: weights)
            case "/hub/config.json", "/bad/config.json": return .status(200, headers: ["ETag: \"0a1b2c\""], body: config)
            default: return .status(404)
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-hub-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifest = directory.appendingPathComponent("manifest.json")
        try #"{"name": "m", "base_url": "unused", "files": {"model.safetensors": null, "config.json": null}}"#
            .write(to: manifest, atomically: true, encoding: .utf8)
        let script = Self.root.appendingPathComponent("scripts/fetch-model.py").path
        func fetch(_ base: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
            try Self.run(["python3", script, "--manifest", manifest.path, "--out", directory.appendingPathComponent("m").path,
                          "--base-url", server.url(base)] + extra)
        }

        let lying = try fetch("/bad")
        XCTAssertEqual(lying.status, 1)
        XCTAssertTrue(lying.output.contains("model.safetensors: FAILED: sha256 mismatch"), lying.output)
        let unknown = try fetch("/hub")
        XCTAssertEqual(unknown.status, 1, "config.json has no known hash")
        XCTAssertTrue(unknown.output.contains("model.safetensors: sha256 ok (\(weightsHash))"), unknown.output)
        XCTAssertTrue(unknown.output.contains("config.json: FAILED: no known sha256"), unknown.output)
        let recorded = try fetch("/hub", ["--record"])
        XCTAssertEqual(recorded.status, 0, recorded.output)
        let files = try JSONParser().parse(Array(try Data(contentsOf: manifest)))["files"]
        XCTAssertEqual(files?["model.safetensors"]?.string, weightsHash)
        XCTAssertEqual(files?["config.json"]?.string, "601b3e644f48323a8d5d1fe6752a57235fa487e80ecfcf557bff15ac9904c4c9")
    }

    // MARK: - Clients

    /// Deploy/clients/shell/clipq-request.sh (amqp-tools) against a real worker.
    func testTheShellClientGetsEmbeddingsAndErrors() throws {
        let topology = Topology.unique(name, deliveryLimit: 5)
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let script = Self.root.appendingPathComponent("Deploy/clients/shell/clipq-request.sh").path
        let environment = ["CLIPQ_AMQP_URL": broker.url, "CLIPQ_QUEUE": topology.requestQueue, "CLIPQ_TIMEOUT": "30"]
        let image = CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path
        let ok = try Self.run([script, "--image", image, "--text", #"a "quoted" cat\"#], environment: environment)
        XCTAssertEqual(ok.status, 0, ok.output)
        let rows = try XCTUnwrap(try JSONParser().parse(Array(ok.output.utf8)).array, ok.output)
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["image_features"]?.array?.count, 16)
        XCTAssertEqual(rows[1]["text_features"]?.array?.count, 16)
        let refused = try Self.run([script, "--image", "ftp://example.com/a.jpg"], environment: environment)
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("url_not_allowed"), refused.output)
        XCTAssertEqual(worker.terminate(), 0)
        XCTAssertFalse(try broker.ctl(["list_queues", "name"]).contains("clipq.reply."), "reply queues are deleted")
    }

    /// docs/clients.md's ClipClient example, as written (compiled, not run: it names a host "broker").
    func readmeClipClientExample() throws {
        let client = try ClipClient(settings: AMQPSettings(url: try AMQPURL("amqp://guest:guest@broker:5672/")))
        switch try client.embed(texts: ["a photo of a cat"], timeout: .seconds(30)) {
        case .embeddings(let rows): print(rows[0].textFeatures?.count ?? 0)   // 768
        case .error(let error): print(error.code, error.message, error.pointer ?? "")
        }
    }

    // MARK: -

    /// Runs a command; stdout and stderr together.
    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Strings appended from the server's threads, read by the test.
private final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ item: String) { lock.withLock { list.append(item) } }
    var items: [String] { lock.withLock { list } }
}
