import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// `clipq dlq` as an operator uses it, on dead letters a real worker wrote.
final class DeadLetterCommandTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!
    private var environment: [String: String] = [:]

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = .unique(name)
        environment = ["CLIPQ_AMQP_URL": broker.url, "CLIPQ_QUEUE": topology.requestQueue,
                       "CLIPQ_DEAD_QUEUE": topology.deadLetterQueue]
    }

    /// From the broker itself (rabbitmqctl's figures for quorum queues lag behind).
    private func readyMessages(_ queue: String) throws -> Int {
        let connection = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        defer { connection.close() }
        return try connection.queueStatus(queue).messages
    }

    private func dlq(_ arguments: [String]) throws -> CLI.Result {
        try CLI.run(["dlq"] + arguments, environment: environment)
    }

    /// Two refused requests (not JSON; JSON the schema refuses), dead-lettered by a worker that
    /// is then stopped, so that nothing consumes what replay puts back.
    private func twoDeadLetters() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology)
        let empty = try dlq(["list"])
        XCTAssertEqual(empty.status, 0, empty.stderr)
        XCTAssertEqual(empty.stdout, "no dead letters in \(topology.deadLetterQueue)\n")
        let client = try ReplyCollector(broker: broker)
        try client.send(Array("not json".utf8), id: "bad-json", to: topology.requestQueue)
        try client.send(Array(#"{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", ""]]}}"#.utf8),
                        id: "bad-row", to: topology.requestQueue)
        try client.collect(["bad-json", "bad-row"])
        XCTAssertEqual(worker.terminate(), 0)
        XCTAssertEqual(try readyMessages(topology.deadLetterQueue), 2)
    }

    func testListHasAHeaderAndShowTakesAnIndexOrACorrelationID() throws {
        try twoDeadLetters()
        let list = try dlq(["list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let lines = list.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.first, ["INDEX", "TIME", "CODE", "POINTER", "CORRELATION_ID", "MESSAGE"])
        XCTAssertEqual(lines.dropFirst().map { [$0[0], $0[2], $0[4]] },
                       [["1", "invalid_json", "bad-json"], ["2", "schema_violation", "bad-row"]])

        let byIndex = try dlq(["show", "2"]), byID = try dlq(["show", "bad-row"])
        XCTAssertEqual(byIndex.status, 0, byIndex.stderr)
        XCTAssertEqual(byIndex.stdout, byID.stdout, "the index as list numbers it and the correlation id name the same letter")
        // The original body, decoded: JSON pretty-printed as JSON.
        XCTAssertTrue(byIndex.stdout.contains("\n  \"input_data\": {\n    \"columns\": [\n      \"image\",\n"), byIndex.stdout)
        XCTAssertTrue(try dlq(["show", "1"]).stdout.hasSuffix("original body (8 bytes):\nnot json\n"))

        let records = try dlq(["show", "--json", "1", "bad-row"])
        XCTAssertEqual(records.status, 0, records.stderr)
        let schema = try BuiltinSchema.deadLetter.compiled()
        for line in records.stdout.split(separator: "\n") {
            let record = try JSONParser().parse(String(line))
            XCTAssertEqual(schema.validate(record).map(\.description), [])
        }
    }

    func testANameThatMatchesNothingIsAnErrorAndReplaysNothing() throws {
        try twoDeadLetters()
        for arguments in [["show", "3"], ["show", "nosuch"], ["replay", "3"], ["replay", "nosuch"], ["replay", "1", "nosuch"]] {
            let result = try dlq(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stdout)")
            XCTAssertTrue(result.stderr.hasPrefix("error: not_found: "), "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(arguments.last ?? ""), result.stderr)
            XCTAssertFalse(result.stderr.contains("Usage"), "a run-time failure, not a usage error: \(result.stderr)")
        }
        XCTAssertEqual(try readyMessages(topology.deadLetterQueue), 2, "nothing was replayed")
        XCTAssertEqual(try readyMessages(topology.requestQueue), 0)

        let replay = try dlq(["replay", "2"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertEqual(replay.stdout, "replayed 1 to \(topology.requestQueue)\n")
        XCTAssertEqual(try readyMessages(topology.requestQueue), 1)
        let left = try dlq(["list"])
        XCTAssertEqual(left.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: "\t")[4] }, ["bad-json"])
    }

    func testTheRecordNamesTheWorkersVersionModelAndPrecisionAndTheTimeInMilliseconds() throws {
        try twoDeadLetters()
        let version = try CLI.run(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let records = try dlq(["show", "--json", "1", "2"]).stdout.split(separator: "\n").map { try JSONParser().parse(String($0)) }
        XCTAssertEqual(records.count, 2)
        for record in records {
            XCTAssertEqual(record["worker"]?["version"]?.string, version)
            XCTAssertEqual(record["worker"]?["model"]?.string, "tiny-clip")
            XCTAssertEqual(record["worker"]?["precision"]?.string, "fp32")
        }
        // Whole seconds read back as .000 every time; milliseconds almost never do twice.
        let times = records.compactMap { $0["time"]?.string }
        XCTAssertEqual(times.count, 2)
        XCTAssertFalse(times.allSatisfy { $0.hasSuffix(".000Z") }, "\(times)")
    }
}
