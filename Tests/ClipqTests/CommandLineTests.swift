import ClipAMQP
import ClipTestSupport
import Foundation
import XCTest

/// What a new user meets first: help that says what applies, errors that say what went wrong
/// (usage only for usage mistakes), and settings taken from the environment everywhere.
final class CommandLineTests: XCTestCase {
    private let tinyModel = CLI.fixtures.appendingPathComponent("tiny-clip").path

    /// Help text with its line wrapping undone.
    private func help(_ arguments: [String]) throws -> String {
        let result = try CLI.run(arguments + ["--help"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    func testAMissingImageFileIsNotFoundNotBadBase64() throws {
        for path in ["/nonexistent-clipq/photo.jpg", "./nonexistent-clipq.png", "nonexistent-clipq.jpeg"] {
            let result = try CLI.run(["embed", "--model", tinyModel, "--image", path])
            XCTAssertEqual(result.status, 1, path)
            XCTAssertEqual(result.stderr, "error: not_found: file not found: \(path)\n")
            XCTAssertFalse(result.stdout.contains("invalid_base64"), result.stdout)
        }
        let noRequest = try CLI.run(["embed", "--model", tinyModel, "--request", "/nonexistent-clipq/request.json"])
        XCTAssertEqual(noRequest.status, 1)
        XCTAssertEqual(noRequest.stderr, "error: not_found: file not found: /nonexistent-clipq/request.json\n")
        // What is not path-like is still a cell of the contract: bad base64 stays bad base64.
        let base64 = try CLI.run(["embed", "--model", tinyModel, "--image", "bm90IGFuIGltYWdl"])
        XCTAssertEqual(base64.status, 1)
        XCTAssertTrue(base64.stdout.contains("\"code\":\"unsupported_image_format\""), base64.stdout + base64.stderr)
    }

    func testTokenizeAndPreprocessTakeTheModelFromCLIPQ_MODEL() throws {
        let tokens = try CLI.run(["tokenize", "a photo of a cat"],
                                 environment: ["CLIPQ_MODEL": CLI.fixtures.appendingPathComponent("clip-vocab").path])
        XCTAssertEqual(tokens.status, 0, tokens.stderr)
        XCTAssertEqual(tokens.stdout, "[49406,320,1125,539,320,2368,49407]\n")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-preprocess-\(getpid()).bin")
        defer { try? FileManager.default.removeItem(at: out) }
        let tensor = try CLI.run(["preprocess", "--image", CLI.fixtures.appendingPathComponent("images/inputs/tiny_3x2.png").path,
                                  "--out", out.path],
                                 environment: ["CLIPQ_MODEL": CLI.fixtures.appendingPathComponent("images").path])
        XCTAssertEqual(tensor.status, 0, tensor.stderr)
        XCTAssertEqual(try Data(contentsOf: out).count, 3 * 336 * 336 * 4)
    }

    func testHelpShowsThePrecisionDefaultAndOnlyTheFlagsThatApply() throws {
        for command in [["embed"], ["worker"], ["batch"]] {
            XCTAssertTrue(try help(command).contains("Env CLIPQ_PRECISION; default fp32"), "\(command)")
        }
        let workerOnly = ["--dead-letter-exchange", "--delivery-limit"]
        let worker = try help(["worker"])
        for flag in workerOnly + ["--dead-letter-queue", "--queue", "--amqp-url"] { XCTAssertTrue(worker.contains(flag), flag) }
        let request = try help(["request"])
        for flag in workerOnly + ["--dead-letter-queue"] { XCTAssertFalse(request.contains(flag), "request: \(flag)") }
        XCTAssertTrue(request.contains("--queue") && request.contains("--amqp-url") && request.contains("--correlation-id"))
        for sub in ["list", "show", "replay", "purge"] {
            let dlq = try help(["dlq", sub])
            for flag in workerOnly { XCTAssertFalse(dlq.contains(flag), "dlq \(sub): \(flag)") }
            XCTAssertTrue(dlq.contains("--dead-letter-queue"), "dlq \(sub)")
        }
    }

    func testRequestShowsItsCorrelationIDAndTakesOne() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(name)
        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        defer { connection.close() }
        try topology.declare(on: connection)  // no worker: the request stays in the queue
        let environment = ["CLIPQ_AMQP_URL": broker.url, "CLIPQ_QUEUE": topology.requestQueue]

        let chosen = try CLI.run(["request", "--text", "a cat", "--timeout", "1", "--correlation-id", "my-request-7"],
                                 environment: environment)
        XCTAssertEqual(chosen.status, 2, "no worker, no reply: \(chosen.stderr)")
        XCTAssertTrue(chosen.stderr.hasPrefix("correlation id: my-request-7\n"), chosen.stderr)
        let fresh = try CLI.run(["request", "--text", "a dog", "--timeout", "1"], environment: environment)
        let freshID = try XCTUnwrap(fresh.stderr.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        XCTAssertNotNil(UUID(uuidString: freshID), fresh.stderr)

        var published: [String] = []
        while let delivery = try connection.get(topology.requestQueue) {
            published.append(delivery.properties.correlationID ?? "")
            try connection.ack(delivery.deliveryTag)
        }
        XCTAssertEqual(published, ["my-request-7", freshID], "the ids shown are the ids sent")
    }

    func testRunTimeFailuresSayErrorCodeAndMessageWithoutUsage() throws {
        let noModel = try CLI.run(["embed", "--model", "/nonexistent-clipq-model", "--text", "x"])
        XCTAssertEqual(noModel.status, 1)
        XCTAssertTrue(noModel.stderr.hasPrefix("error: missing_file: "), noModel.stderr)
        XCTAssertFalse(noModel.stderr.contains("Usage"), noModel.stderr)
        let noBroker = try CLI.run(["dlq", "list"], environment: ["CLIPQ_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"])
        XCTAssertEqual(noBroker.status, 1)
        XCTAssertTrue(noBroker.stderr.hasPrefix("error: connection: "), noBroker.stderr)
        XCTAssertFalse(noBroker.stderr.contains("Usage"), noBroker.stderr)
        // A mistake in the arguments still shows how to call the command, and exits 64.
        let usage = try CLI.run(["embed", "--model", tinyModel])
        XCTAssertEqual(usage.status, 64)
        XCTAssertTrue(usage.stderr.contains("Usage: clipq embed"), usage.stderr)
    }

    func testCountsInMessagesAgreeWithTheirNouns() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-empty-\(getpid()).json")
        try #"{"input_data": {"columns": ["image", "text"], "index": [], "data": []}}"#.write(to: empty, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: empty) }
        let result = try CLI.run(["schema", "validate", empty.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("expected at least 1 item, found 0"), result.stdout)
    }
}
