import ClipAMQP
import ClipImage
import ClipSchema
import ClipTestSupport
import ClipWorker
import Foundation
import XCTest

/// What operators see of a real worker: /metrics after a known mix of requests, /readyz around a
/// broker that is not there yet, the JSON log lines, and a broker password that shows nowhere.
final class OperationsTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = .unique(name)
    }

    func testMetricsCountAKnownMixOfRequestsAndLogLinesAreJSON() throws {
        let port = try TestBroker.freePort()
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: ["--http-port", String(port)])
        let jpeg = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg"))
        let png = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/gray2.png"))
        let server = try LoopbackServer { path, _ in
            path == "/a.jpg" ? .status(200, headers: ["Content-Type: image/jpeg"], body: Array(jpeg)) : .status(404)
        }
        // Three different image files (bytes after the JPEG's end marker differ), so that the
        // embedding cache computes each: this test counts work.
        let (image, other) = ((jpeg + Data([1])).base64EncodedString(), (jpeg + Data([2])).base64EncodedString())
        let client = try ReplyCollector(broker: broker)
        // 7 answered (3 image rows, 6 text rows), 7 refused; failing requests carry no text, so
        // that every text tokenized belongs to an answered request.
        let good: [String: [(String, String)]] = [
            "t1": [("", "a cat")], "t2": [("", "a dog")], "t3": [("", "a bird")], "img": [(image, "")],
            "mixed": [(other, "an astronaut"), ("", "a rocket")], "url": [(server.url("/a.jpg"), "")],
        ]
        let bad: [(id: String, body: [UInt8], code: String)] = [
            ("json1", Array("{".utf8), "invalid_json"), ("json2", Array("[1,".utf8), "invalid_json"),
            ("schema", requestBody([("", "")]), "schema_violation"),
            ("scheme", requestBody([("ftp://example.com/a.jpg", "")]), "url_not_allowed"),
            ("missing", requestBody([(server.url("/missing.jpg"), "")]), "image_fetch_failed"),
            ("corrupt", requestBody([(png.prefix(70).base64EncodedString(), "")]), "image_decode_failed"),
        ]
        for (id, rows) in good { try client.send(requestBody(rows), id: id, to: topology.requestQueue) }
        for c in bad { try client.send(c.body, id: c.id, to: topology.requestQueue) }
        try client.send(requestBody([("", "nowhere")]), id: "noreply", to: topology.requestQueue, replyTo: "")
        try client.send(requestBody([("", "nobody listens")]), id: "orphan", to: topology.requestQueue, replyTo: "no-such-queue")
        try client.collect(Set(good.keys).union(bad.map(\.id)))
        XCTAssertEqual(client.replies.count, good.count + bad.count)

        // Dead letters count once the broker confirmed them, which may come just after the replies.
        var scrape = Scrape("")
        let deadline = ContinuousClock.now + .seconds(15)
        repeat {
            scrape = Scrape(try XCTUnwrap(DeployTests.get(port: port, path: "/metrics")).body)
            if scrape.sum("clipq_dead_letters_total") == 7 && scrape.value("clipq_replies_unroutable_total") == 1 { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while ContinuousClock.now < deadline

        XCTAssertEqual(scrape.value("clipq_requests_total", ["outcome": "success", "code": "none"]), 7)
        XCTAssertEqual(scrape.value("clipq_requests_total", ["outcome": "requeued", "code": "none"]), 0)
        let refusals = ["invalid_json": 2.0, "schema_violation": 1, "url_not_allowed": 1, "image_fetch_failed": 1,
                        "image_decode_failed": 1, "missing_reply_to": 1]
        for code in ErrorCode.allCases.map(\.rawValue) {
            let expected = refusals[code] ?? 0
            XCTAssertEqual(scrape.value("clipq_requests_total", ["outcome": "error", "code": code]), expected, code)
            XCTAssertEqual(scrape.value("clipq_dead_letters_total", ["code": code]), expected, "dead letters: \(code)")
        }
        XCTAssertEqual(scrape.value("clipq_request_duration_seconds_count", ["outcome": "success"]), 7)
        XCTAssertEqual(scrape.value("clipq_request_duration_seconds_count", ["outcome": "error"]), 7)
        XCTAssertEqual(scrape.value("clipq_requests_in_flight"), 0)
        XCTAssertEqual(scrape.value("clipq_replies_unroutable_total"), 1)
        XCTAssertEqual(scrape.value("clipq_broker_reconnects_total"), 0)
        XCTAssertEqual(scrape.value("clipq_broker_connected"), 1)
        XCTAssertEqual(scrape.value("clipq_broker_blocked"), 0)

        for (lane, rows) in [("image", 3.0), ("text", 6.0)] {
            XCTAssertEqual(scrape.value("clipq_rows_total", ["kind": lane]), rows, lane)
            XCTAssertEqual(scrape.value("clipq_batch_size_sum", ["lane": lane]), rows, "\(lane): batch sizes add up to the rows")
            XCTAssertEqual(scrape.value("clipq_queue_wait_seconds_count", ["lane": lane]), rows, "\(lane): one wait per row")
            let batches = try XCTUnwrap(scrape.value("clipq_batch_size_count", ["lane": lane]))
            XCTAssertTrue((1...rows).contains(batches), "\(lane): \(batches) batches")
            XCTAssertEqual(scrape.value("clipq_encode_seconds_count", ["lane": lane]), batches, "\(lane): one encode per batch")
            XCTAssertEqual(scrape.value("clipq_batch_size_bucket", ["lane": lane, "le": "+Inf"]), batches)
        }
        XCTAssertEqual(scrape.value("clipq_tokenize_seconds_count"), 6, "every text of an answered request, and no other")
        XCTAssertEqual(scrape.value("clipq_fetch_seconds_count"), 2, "the image URL and the 404; the ftp URL is refused unfetched")
        XCTAssertEqual(scrape.value("clipq_preprocess_seconds_count"), 4, "three images and the corrupt one")
        XCTAssertGreaterThan(try XCTUnwrap(scrape.value("clipq_encode_seconds_sum", ["lane": "image"])), 0)

        // Every line is one JSON object with the level, the message and the worker; each outcome
        // names its request.
        XCTAssertEqual(worker.terminate(), 0)
        XCTAssertTrue(poll(timeout: .seconds(5)) { worker.log.contains { $0.contains(#""event":"stopped""#) } }, "the last line was read")
        let lines = try worker.log.map { try XCTUnwrap(JSONParser().parse(Array($0.utf8)).object, $0) }
        for line in lines {
            XCTAssertNotNil(line["time"]?.string, "\(line)")
            XCTAssertNotNil(line["level"]?.string, "\(line)")
            XCTAssertNotNil(line["message"]?.string, "\(line)")
            XCTAssertTrue(line["worker"]?.string?.hasSuffix("/\(worker.process.processIdentifier)") ?? false, "\(line)")
        }
        let replied = Set(lines.filter { $0["event"]?.string == "replied" }.compactMap { $0["correlation_id"]?.string })
        XCTAssertEqual(replied, Set(good.keys).union(["orphan"]))
        let failed = lines.filter { $0["event"]?.string == "failed" }
        XCTAssertEqual(Set(failed.compactMap { $0["correlation_id"]?.string }), Set(bad.map(\.id)).union(["noreply"]))
        for c in bad {
            let line = failed.first { $0["correlation_id"]?.string == c.id }
            XCTAssertEqual(line?["code"]?.string, c.code, c.id)
            XCTAssertEqual(line?["level"]?.string, "notice", c.id)
        }
        let rows = lines.first { $0["correlation_id"]?.string == "mixed" }?["rows"]?.number
        XCTAssertEqual(rows, 2, "numbers stay numbers")
    }

    /// Started while the broker is down: alive, not ready; ready once the broker is there. With
    /// --log-level notice, refusals and connection trouble are logged, routine lines are not; the
    /// model's warnings (a bf16 fallback, forced here) are JSON lines too.
    func testReadyzWaitsForTheBrokerAndTheLogLevelFilters() throws {
        let port = try TestBroker.freePort()
        try broker.ctl(["stop_app"])
        var restarted = false
        defer { if !restarted { _ = try? broker.ctl(["start_app"]) } }
        let worker = try WorkerProcess(
            broker: broker, topology: topology, arguments: ["--http-port", String(port), "--precision", "bf16"],
            environment: ["CLIPQ_LOG_LEVEL": "notice", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"], waitForConnection: false)
        XCTAssertTrue(poll { DeployTests.get(port: port, path: "/healthz")?.status == 200 }, "alive while the broker is away")
        XCTAssertTrue(worker.waitForLog(containing: #""event":"connection_lost""#), worker.log.joined(separator: "\n"))
        XCTAssertEqual(DeployTests.get(port: port, path: "/readyz")?.status, 503, "not ready before the first connection")
        XCTAssertEqual(Scrape(DeployTests.get(port: port, path: "/metrics")?.body ?? "").value("clipq_broker_connected"), 0)

        try broker.ctl(["start_app"])
        restarted = true
        XCTAssertTrue(poll(timeout: .seconds(60)) { DeployTests.get(port: port, path: "/readyz")?.status == 200 }, "ready once connected")
        let client = try ReplyCollector(broker: broker)
        try client.send(requestBody([("", "")]), id: "refused", to: topology.requestQueue)
        try client.send(requestBody([("", "fine")]), id: "fine", to: topology.requestQueue)
        try client.collect(["refused", "fine"])
        XCTAssertEqual(worker.terminate(), 0)
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"failed""#) && $0.contains("refused") }, "notice is logged")
        let lines = worker.log.compactMap { try? JSONParser().parse(Array($0.utf8)).object }
        XCTAssertEqual(lines.count, worker.log.count, worker.log.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0["event"]?.string == "warning" && $0["message"]?.string?.contains("falls back") == true })
        for event in ["started", "connected", "replied", "stopped"] {
            XCTAssertFalse(worker.log.contains { $0.contains(#""event":"\#(event)""#) }, "info is not: \(event)")
        }
        let bad = try CLI.run(["worker", "--log-level", "chatty", "--model", WorkerProcess.modelDirectory])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--log-level"), bad.stderr)
    }

    /// The password of CLIPQ_AMQP_URL and of --amqp-url-file shows in no log line (started,
    /// connected, refused by the broker, lost and reconnected), not in /metrics, not in the
    /// process's command line.
    func testTheBrokerPasswordShowsNowhere() throws {
        let user = "clipq-ops-\(UInt32.random(in: 0...UInt32.max))"
        let password = "Pw-\(UInt32.random(in: 0...UInt32.max))/secret"  // the "/" is percent-encoded in the URL
        let encoded = try XCTUnwrap(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        try broker.ctl(["add_user", user, password])
        defer { _ = try? broker.ctl(["delete_user", user]) }
        try broker.ctl(["set_permissions", "-p", "/", user, ".*", ".*", ".*"])
        let url = "amqp://\(user):\(encoded)@127.0.0.1:\(broker.amqpPort)/"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(user).url")
        try (url + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let ports = try (0..<2).map { _ in try TestBroker.freePort() }
        // The port by both its environment names: the Deploy/ files still use the former one.
        let fromEnvironment = try WorkerProcess(
            broker: broker, topology: topology, environment: ["CLIPQ_AMQP_URL": url, "CLIPQ_HEALTH_PORT": String(ports[0])])
        // The file wins over the environment: with the environment's URL it could not connect.
        let fromFile = try WorkerProcess(
            broker: broker, topology: topology, arguments: ["--amqp-url-file", file.path],
            environment: ["CLIPQ_AMQP_URL": "amqp://nobody:nothing@127.0.0.1:1/", "CLIPQ_HTTP_PORT": String(ports[1])])
        let refused = try WorkerProcess(
            broker: broker, topology: topology, environment: ["CLIPQ_AMQP_URL": "amqp://not-\(user):\(encoded)@127.0.0.1:\(broker.amqpPort)/"],
            waitForConnection: false)
        let client = try ReplyCollector(broker: broker)
        try client.send(requestBody([("", "a cat")]), id: "good", to: topology.requestQueue)
        try client.send(Array("{".utf8), id: "bad", to: topology.requestQueue)
        try client.collect(["good", "bad"])
        try broker.restart()
        for worker in [fromEnvironment, fromFile] {
            XCTAssertTrue(worker.waitForLog(containing: #""event":"connected""#, count: 2, timeout: .seconds(60)), "reconnected")
        }
        XCTAssertTrue(refused.waitForLog(containing: #""event":"connection_lost""#, count: 2), "refused and retrying")

        var shown: [(what: String, text: String)] = []
        for (name, port) in [("environment", ports[0]), ("file", ports[1])] {
            let metrics = try XCTUnwrap(DeployTests.get(port: port, path: "/metrics"))
            XCTAssertEqual(Scrape(metrics.body).value("clipq_broker_reconnects_total"), 1, name)
            shown.append(("\(name): /metrics", metrics.body))
        }
        for (name, worker) in [("environment", fromEnvironment), ("file", fromFile), ("refused", refused)] {
            let pid = worker.process.processIdentifier
            let commandLine = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
            shown.append(("\(name): command line", String(decoding: commandLine.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)))
            worker.kill()  // no drain to wait for: what it logged until now is what is checked
            shown.append(("\(name): log", worker.log.joined(separator: "\n")))
        }
        XCTAssertTrue(shown.contains { $0.what == "file: command line" && $0.text.contains(file.path) })
        XCTAssertTrue(shown.contains { $0.what == "environment: log" && $0.text.contains("\(user):***@") }, "the URL is logged, masked")
        for (what, text) in shown {
            XCTAssertFalse(text.contains(password), "\(what) shows the password")
            XCTAssertFalse(text.contains(encoded), "\(what) shows the encoded password")
        }
    }

    /// README's Limits table against the code: a row with a flag against `clipq worker --help`
    /// (its default and its environment variable), every other row against the constant it names.
    func testTheLimitsTableMatchesTheCode() throws {
        let root = CLI.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "### Limits\n").dropFirst().first?.components(separatedBy: "\n#").first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| limit ") }
            .map { $0.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        XCTAssertGreaterThan(rows.count, 15)

        let help = try CLI.run(["worker", "--help"]).stdout
        // One entry per option: its first line starts with "  --", the rest are indented further.
        var entries: [String] = []
        for line in help.split(separator: "\n") {
            if line.hasPrefix("  -") { entries.append(String(line)) } else if !entries.isEmpty { entries[entries.count - 1] += " " + line }
        }
        let fetch = FetchSettings(), amqp = AMQPSettings(url: try AMQPURL("amqp://localhost/"))
        let link = BrokerLink.Configuration(settings: amqp, topology: Topology())
        let definitions = try String(contentsOf: root.appendingPathComponent("Deploy/rabbitmq/definitions.json"), encoding: .utf8)
        let deadQueueLength = try XCTUnwrap(definitions.firstMatch(of: /"max-length": (\d+)/).flatMap { Double($0.1) })
        let fromCode: [String: [Double]] = [
            "JSON nesting": [Double(RequestLimits().maxDepth)],
            "bytes fetched per image": [Double(fetch.maxBytes)],
            "fetch connect timeout": [fetch.connectTimeout / .seconds(1)],
            "fetch time per attempt": [fetch.totalTimeout / .seconds(1)],
            "fetch attempts": [Double(fetch.maxAttempts)],
            "redirects": [Double(fetch.maxRedirects)],
            "image URL length": [Double(fetch.maxURLBytes)],
            "request deadline": [],
            "broker heartbeat": [Double(amqp.heartbeat)],
            "broker connect timeout": [amqp.connectTimeout / .seconds(1)],
            "reconnect backoff": [link.initialBackoff / .seconds(1), link.maxBackoff / .seconds(1)],
            "probe request (`/healthz`, ...)": [Double(HealthServer.maxRequestHead / 1024), Double(HealthServer.requestTimeoutSeconds)],
            "dead-letter queue (Deploy/ policy)": [deadQueueLength],
        ]
        for row in rows {
            let (limit, flagCell, envCell, readmeDefault) = (row[1], row[2], row[3], row[4])
            let documented = Self.numbers(readmeDefault)
            if let flag = flagCell.firstMatch(of: /`(--[a-z-]+)`/)?.1 {
                let entry = try XCTUnwrap(entries.first { $0.hasPrefix("  \(flag) ") || $0.hasPrefix("  \(flag),") }, "\(flag) in --help")
                let helpDefault = try XCTUnwrap(entry.firstMatch(of: /\(default: ([^)]*)\)/)?.1, "\(flag): a default in --help")
                XCTAssertEqual(documented, Self.numbers(String(helpDefault)), "\(limit): README \(readmeDefault), --help \(helpDefault)")
                if let env = envCell.firstMatch(of: /`(CLIPQ_[A-Z_]+)`/)?.1 { XCTAssertTrue(entry.contains(env), "\(flag) names \(env)") }
            } else {
                let expected = try XCTUnwrap(fromCode[limit], "no check for the limit '\(limit)'")
                XCTAssertEqual(documented, expected, "\(limit): README \(readmeDefault)")
            }
        }
    }

    /// The numbers in a table cell, what is in parentheses (comments) left out.
    private static func numbers(_ cell: String) -> [Double] {
        var text = cell
        while let comment = text.firstMatch(of: /\([^()]*\)/) { text.removeSubrange(comment.range) }
        return text.matches(of: /\d+(\.\d+)?/).compactMap { Double($0.0) }
    }

    private func poll(timeout: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }
}

/// A /metrics scrape (Prometheus text format) as samples: name, labels, value.
struct Scrape {
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                samples.append((String(series), [:], value))
                continue
            }
            var labels: [String: String] = [:]
            // Label values here never hold commas or quotes: split plainly.
            for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
            }
            samples.append((String(series[..<brace]), labels, value))
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Over every series of `name`.
    func sum(_ name: String) -> Double {
        samples.filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }
}
