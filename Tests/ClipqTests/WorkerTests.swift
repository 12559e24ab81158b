import ClipAMQP
import ClipClient
import ClipSchema
import ClipModelTestSupport
import ClipTestSupport
import Foundation
import XCTest

import ClipWorker

/// Real `clipq worker` processes on the tiny model, a real broker, a real HTTP server for image
/// URLs; requests and replies as another service sends and reads them.
final class WorkerTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = .unique(name)
    }

    private static func imageBytes(_ name: String) throws -> Data {
        try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/\(name)"))
    }

    private func assertClose(_ got: [Float]?, _ expected: [Float]?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let got, let expected else { return XCTFail("\(what): missing features", file: file, line: line) }
        XCTAssertGreaterThan(closeness(got, expected).cosine, 0.99999, what, file: file, line: line)
    }

    func testTextImageAndMixedRequestsMatchTheInProcessPath() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let jpeg = try Self.imageBytes("astronaut.jpg")
        let server = try LoopbackServer { path, _ in
            path == "/astronaut.jpg" ? .status(200, headers: ["Content-Type: image/jpeg"], body: Array(jpeg)) : .status(404)
        }
        let client = try ReplyCollector(broker: broker)
        let base64 = jpeg.base64EncodedString()
        let cases: [String: [(String, String)]] = [
            "text": [("", "a photo of a cat")],
            "base64": [(base64, "")],
            "url": [(server.url("/astronaut.jpg"), "")],
            "mixed": [("", "a dog"), ("data:image/jpeg;base64," + base64, "an astronaut"), (server.url("/astronaut.jpg"), "")],
        ]
        for (id, rows) in cases { try client.send(requestBody(rows), id: id, to: topology.requestQueue) }
        try client.collect(Set(cases.keys))

        // The same rows in process: the worker must agree with `clipq embed`.
        let embedder = try TinyModel.embedder.get()
        let image = try XCTUnwrap(try embedder.embed(EmbeddingRequest(rows: [.init(image: base64)]))[0].imageFeatures)
        func text(_ t: String) throws -> [Float]? { try embedder.embed(EmbeddingRequest(rows: [.init(text: t)]))[0].textFeatures }

        let textReply = try client.json("text")
        XCTAssertEqual(textReply.delivery.properties.type, "embeddings")
        XCTAssertEqual(textReply.delivery.properties.contentType, "application/json")
        XCTAssertEqual(textReply.delivery.properties.deliveryMode, 2, "a persistent request gets a persistent reply")
        XCTAssertNotNil(textReply.delivery.properties.headers?["x-clipq-model"])
        assertClose(textReply.features(0, "text_features"), try text("a photo of a cat"), "text")
        XCTAssertNil(textReply.features(0, "image_features"))
        assertClose(try client.json("base64").features(0, "image_features"), image, "base64 image")
        assertClose(try client.json("url").features(0, "image_features"), image, "URL image")
        let mixed = try client.json("mixed")
        XCTAssertEqual(mixed.value.array?.count, 3)
        assertClose(mixed.features(0, "text_features"), try text("a dog"), "mixed row 0")
        assertClose(mixed.features(1, "image_features"), image, "mixed row 1 image")
        assertClose(mixed.features(1, "text_features"), try text("an astronaut"), "mixed row 1 text")
        assertClose(mixed.features(2, "image_features"), image, "mixed row 2")
        for id in cases.keys { XCTAssertEqual(client.replies[id]?.count, 1, "\(id) answered once") }
        XCTAssertEqual(try BuiltinSchema.reply.compiled().validate(mixed.value), [])
        XCTAssertTrue(worker.waitForLog(containing: #""event":"replied""#, count: 4))
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testEveryRefusalGetsAnErrorReplyAndADeadLetterAndTheWorkerGoesOn() throws {
        let worker = try WorkerProcess(
            broker: broker, topology: topology, arguments: ["--max-rows", "2", "--max-body-bytes", "2000000", "--max-image-pixels", "10000"])
        let server = try LoopbackServer { _, _ in .status(404) }
        let png = try Self.imageBytes("coffee.png")  // 400 x 600: over the 10000-pixel cap
        let small = try Self.imageBytes("gray2.png")  // under it, but cut short
        let client = try ReplyCollector(broker: broker)
        let past = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        let cases: [(id: String, body: [UInt8], headers: [String: AMQPFieldValue]?, code: String, pointer: String?)] = [
            ("json", Array("{\"input_data\": ".utf8), nil, "invalid_json", nil),
            ("schema", requestBody([("", "")]), nil, "schema_violation", "/input_data/data/0"),
            ("rows", requestBody([("", "a"), ("", "b"), ("", "c")]), nil, "too_many_rows", "/input_data/data"),
            ("base64", requestBody([("not base64!", "")]), nil, "invalid_base64", "/input_data/data/0/0"),
            ("format", requestBody([("", "ok"), (Data("GIF89a....".utf8).base64EncodedString(), "")]), nil,
             "unsupported_image_format", "/input_data/data/1/0"),
            ("scheme", requestBody([("ftp://example.com/a.jpg", "")]), nil, "url_not_allowed", "/input_data/data/0/0"),
            ("fetch", requestBody([(server.url("/missing.jpg"), "")]), nil, "image_fetch_failed", "/input_data/data/0/0"),
            ("late", requestBody([("", "too late")]), ["x-deadline": .int(past)], "deadline_exceeded", nil),
            ("large", requestBody([("", String(repeating: "x", count: 2_000_001))]), nil, "message_too_large", nil),
            ("corrupt", requestBody([(small.prefix(70).base64EncodedString(), "")]), nil, "image_decode_failed", "/input_data/data/0/0"),
            ("pixels", requestBody([(png.base64EncodedString(), "")]), nil, "image_too_large", "/input_data/data/0/0"),
        ]
        for c in cases { try client.send(c.body, id: c.id, to: topology.requestQueue, headers: c.headers) }
        try client.send(requestBody([("", "nowhere to answer")]), id: "noreply", to: topology.requestQueue, replyTo: "")
        try client.send(requestBody([("", "still serving")]), id: "good", to: topology.requestQueue)
        try client.collect(Set(cases.map(\.id) + ["good"]))

        let errorSchema = try BuiltinSchema.error.compiled()
        for c in cases {
            let reply = try client.json(c.id)
            XCTAssertEqual(reply.delivery.properties.type, "error", c.id)
            XCTAssertEqual(reply.errorCode, c.code, "\(c.id): \(reply.value)")
            XCTAssertEqual(reply.errorPointer, c.pointer, c.id)
            XCTAssertEqual(errorSchema.validate(reply.value), [], c.id)
        }
        XCTAssertNotNil(try client.json("good").features(0, "text_features"))

        // Every refusal, and the request without reply_to, left a dead letter with the reason.
        let reader = DeadLetterQueue(connection: try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url))), topology: topology)
        var letters: [DeadLetter] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while letters.count < cases.count + 1 && ContinuousClock.now < deadline {
            letters = try reader.browse(limit: 100)
            Thread.sleep(forTimeInterval: 0.1)
        }
        let records = Dictionary(letters.map { ($0.delivery.properties.correlationID ?? "?", $0.record) }) { a, _ in a }
        let codes = records.mapValues(\.error.code.rawValue)
        for c in cases {
            XCTAssertEqual(codes[c.id], c.code, c.id)
            XCTAssertEqual(records[c.id]?.error.pointer, c.pointer, "\(c.id): the x-clipq-error-pointer header")
            XCTAssertFalse(records[c.id]?.error.message.isEmpty ?? true, "\(c.id): the x-clipq-error-message header")
            XCTAssertEqual(records[c.id]?.properties["reply_to"]?.string, client.replyQueue, "\(c.id): original properties kept")
        }
        XCTAssertEqual(codes["noreply"], "missing_reply_to")
        XCTAssertEqual(letters.count, cases.count + 1)
        let sent = Dictionary(uniqueKeysWithValues: cases.map { ($0.id, $0.body) })
        for letter in letters where letter.delivery.properties.correlationID != "noreply" {
            XCTAssertEqual(letter.record.body, sent[letter.delivery.properties.correlationID ?? ""], "the original body is kept")
        }
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testSIGTERMAnswersWhatIsInFlightThenExitsZero() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let client = try ReplyCollector(broker: broker)
        let ids = (0..<12).map { "t\($0)" }
        let image = try Self.imageBytes("coffee.png").base64EncodedString()
        for id in ids { try client.send(requestBody([(image, id)]), id: id, to: topology.requestQueue) }
        XCTAssertTrue(worker.waitForLog(containing: #""event":"replied""#))  // work is under way
        XCTAssertEqual(worker.terminate(), 0)
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"stopped""#) && $0.contains(#""drained":true"#) })
        // What the worker took was answered; what it had not taken waits in the queue.
        try client.collect(Set(ids), timeout: .seconds(2))
        let answered = client.replies.count
        let waiting = try XCTUnwrap(try broker.messageCount(queue: topology.requestQueue))
        XCTAssertEqual(answered + waiting, ids.count, "\(answered) answered, \(waiting) waiting")
        XCTAssertTrue(client.replies.values.allSatisfy { $0.count == 1 })
    }

    func testTwoWorkersShareTheQueueAndAKilledWorkersRequestsAreRedelivered() throws {
        // The first worker waits long for full batches, so it holds its prefetched requests
        // unanswered when it is killed; the broker must hand them to the second.
        let first = try WorkerProcess(broker: broker, topology: topology, arguments: ["--prefetch", "4", "--max-wait-ms", "60000"])
        let client = try ReplyCollector(broker: broker)
        let image = try Self.imageBytes("rocket_420.jpg").base64EncodedString()
        let ids = (0..<24).map { "k\($0)" }
        for id in ids { try client.send(requestBody([(image, id), ("", "caption \(id)")]), id: id, to: topology.requestQueue) }
        let deadline = ContinuousClock.now + .seconds(20)
        while (try broker.messageCount(queue: topology.requestQueue) ?? 0) > 20 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let second = try WorkerProcess(broker: broker, topology: topology, arguments: ["--prefetch", "4"])
        XCTAssertTrue(second.waitForLog(containing: #""event":"replied""#, count: 4), "the two share the queue")
        first.kill()
        XCTAssertFalse(first.log.contains { $0.contains(#""event":"replied""#) }, "the first worker should have answered nothing")
        try client.collect(Set(ids))
        XCTAssertEqual(Set(client.replies.keys), Set(ids), "every request answered")
        for id in ids {
            let reply = try client.json(id)
            XCTAssertNil(reply.errorCode, "\(id): \(reply.value)")
            XCTAssertNotNil(reply.features(0, "image_features"))
            XCTAssertEqual(client.replies[id]?.count, 1, "\(id) answered once")
        }
        XCTAssertEqual(second.terminate(), 0)
    }

    func testABrokerRestartLosesNothing() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let replies = "replies.\(topology.requestQueue)"
        var client = try ReplyCollector(broker: broker, durableQueue: replies)
        let before = (0..<10).map { "b\($0)" }, after = (0..<10).map { "a\($0)" }
        for id in before { try client.send(requestBody([("", "caption \(id)")]), id: id, to: topology.requestQueue) }
        try client.collect(Set(before.prefix(3)))
        try broker.restart()
        XCTAssertTrue(worker.waitForLog(containing: #""event":"connected""#, count: 2, timeout: .seconds(60)), "the worker reconnects")
        XCTAssertTrue(worker.log.contains { $0.contains(#""event":"connection_lost""#) })
        let earlier = client.replies
        client = try ReplyCollector(broker: broker, durableQueue: replies)
        for id in after { try client.send(requestBody([("", "caption \(id)")]), id: id, to: topology.requestQueue) }
        try client.collect(Set(before + after), into: earlier)
        XCTAssertEqual(Set(client.replies.keys), Set(before + after), "every request answered")
        for id in before + after { XCTAssertNotNil(try client.json(id).features(0, "text_features"), id) }
        XCTAssertEqual(worker.terminate(), 0)
        try client.connection.deleteQueue(replies)
    }

    /// Deploy/clients/python/clipq_client.py (pika), as a Python service would call clipq.
    func testAPythonPikaClientGetsEmbeddingsAndErrors() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let script = CLI.fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Deploy/clients/python/clipq_client.py").path
        func run(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, "--queue", topology.requestQueue, "--timeout", "30"] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["CLIPQ_AMQP_URL": broker.url]) { $1 }
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let image = CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path
        let ok = try run(["--image", image, "--text", "a photo of a cat"])
        XCTAssertEqual(ok.status, 0, ok.stdout)
        let rows = try XCTUnwrap(try JSONParser().parse(Array(ok.stdout.utf8)).array)
        XCTAssertEqual(rows.count, 2)
        XCTAssertNotNil(rows[0]["image_features"])
        XCTAssertNotNil(rows[1]["text_features"])
        let refused = try run(["--image", "ftp://example.com/a.jpg"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stdout.contains("url_not_allowed"), refused.stdout)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testAGoneReplyQueueIsLoggedAndTheRequestStillSettled() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let client = try ReplyCollector(broker: broker)
        try client.send(requestBody([("", "nobody listens")]), id: "orphan", to: topology.requestQueue, replyTo: "no-such-queue")
        XCTAssertTrue(worker.waitForLog(containing: #""event":"reply_unroutable""#))
        XCTAssertTrue(worker.log.contains { $0.contains("reply_unroutable") && $0.contains("orphan") })
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testTheSwiftClientLibraryAsync() async throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let client = try ClipClient(settings: AMQPSettings(url: try AMQPURL(broker.url)), queue: topology.requestQueue)
        let image = try Self.imageBytes("coffee.png").base64EncodedString()
        guard case .embeddings(let rows) = try await client.embed(images: [image], texts: ["a cup of coffee"]) else {
            return XCTFail("expected embeddings")
        }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].imageFeatures?.count, 16)
        XCTAssertEqual(rows[1].textFeatures?.count, 16)
        guard case .error(let error) = try await client.embed(images: ["file:///etc/passwd"]) else {
            return XCTFail("expected an error reply")
        }
        XCTAssertEqual(error.code, .urlNotAllowed)
        XCTAssertEqual(error.pointer, "/input_data/data/0/0")
        XCTAssertEqual(worker.terminate(), 0)
    }
}
