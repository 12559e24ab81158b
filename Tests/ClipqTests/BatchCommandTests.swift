import ClipAMQP
import ClipJobs
import ClipSchema
import ClipModelTestSupport
import ClipTestSupport
import Foundation
import XCTest

import ClipWorker

/// `clipq batch` and `clipq eval` as a user runs them, on the tiny model: in process, killed and
/// resumed, and through real workers on the test broker.
final class BatchCommandTests: XCTestCase {
    private var directory: URL!
    private let jobs = CLI.fixtures.appendingPathComponent("jobs")
    private let model = WorkerProcess.modelDirectory

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func lines(_ path: URL) throws -> [JSONValue] {
        try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map { try JSONParser().parse(Array($0.utf8)) }
    }

    private func floats(_ value: JSONValue?) -> [Float]? { value?.array?.map { Float($0.number ?? .nan) } }

    /// Every row's features equal what the in-process embedder makes of the same cells.
    private func assertMatchesEmbedder(_ rows: [JSONValue], _ input: BatchInput, file: StaticString = #filePath, line: UInt = #line) throws {
        let embedder = try TinyModel.embedder.get()
        XCTAssertEqual(rows.count, input.rows.count, file: file, line: line)
        for (row, source) in zip(rows, input.rows) {
            XCTAssertEqual(row["file"]?.string, source.file, file: file, line: line)
            XCTAssertEqual(row["row"]?.number, Double(source.row), file: file, line: line)
            guard row["error"] == nil, case .success(let cells) = source.requestRow() else { continue }
            let expected = try embedder.embed(EmbeddingRequest(rows: [cells]))[0]
            for (key, want) in [("image_features", expected.imageFeatures), ("text_features", expected.textFeatures)] {
                guard let want else { XCTAssertNil(row[key], file: file, line: line); continue }
                let got = try XCTUnwrap(floats(row[key]), "\(source.file):\(source.row) \(key)", file: file, line: line)
                XCTAssertGreaterThan(closeness(got, want).cosine, 0.99999, "\(source.file):\(source.row) \(key)", file: file, line: line)
            }
        }
    }

    func testCSVFolderInProcess() throws {
        let out = directory.appendingPathComponent("out.jsonl")
        let result = try CLI.run(["batch", "--model", model, "--input", jobs.appendingPathComponent("csv").path, "--output", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("batch: 7/7 rows"), "a plain progress line when stderr is not a terminal: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("2 errors"), result.stderr)
        let rows = try lines(out)
        XCTAssertEqual(rows.map { $0["error"]?["code"]?.string }, [nil, nil, "unsupported_image_format", nil, nil, "schema_violation", nil])
        try assertMatchesEmbedder(rows, try BatchInput.load(jobs.appendingPathComponent("csv").path))

        let again = try CLI.run(["batch", "--model", model, "--input", jobs.appendingPathComponent("csv").path, "--output", out.path])
        XCTAssertEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("0 rows written"), again.stderr)
        XCTAssertEqual(try lines(out).count, 7, "a rerun of a complete job adds nothing")
    }

    /// 200 rows, killed (SIGKILL) once rows are written; the rerun finishes, and the output is
    /// byte for byte that of a run never interrupted.
    func testAKilledJobResumesWithEveryRowOnce() throws {
        let input = directory.appendingPathComponent("in.jsonl")
        let image = try Data(contentsOf: jobs.appendingPathComponent("images/a.png")).base64EncodedString()
        let rows = (0..<200).map { i in i % 25 == 0 ? "{\"image\": \"\(image)\", \"text\": \"row \(i)\"}" : "{\"text\": \"caption number \(i)\"}" }
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: input)
        let killed = directory.appendingPathComponent("killed.jsonl"), whole = directory.appendingPathComponent("whole.jsonl")
        let arguments = ["batch", "--model", model, "--input", input.path, "--chunk-rows", "4"]

        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments + ["--output", killed.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        var written = 0
        while ContinuousClock.now < deadline, process.isRunning {
            written = (try? Checkpoint.read(killed.path + ".checkpoint.json"))??.rows ?? 0
            if written >= 12 { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let checkpoint = try XCTUnwrap(try Checkpoint.read(killed.path + ".checkpoint.json"))
        XCTAssertFalse(checkpoint.complete, "killed before the end (\(checkpoint.rows) rows)")

        let resumed = try CLI.run(arguments + ["--output", killed.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("\(checkpoint.rows) done before"), resumed.stderr)
        let output = try lines(killed)
        XCTAssertEqual(output.map { Int($0["row"]?.number ?? -1) }, Array(0..<200), "every row once, in order")
        XCTAssertEqual(try CLI.run(arguments + ["--output", whole.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: killed), try Data(contentsOf: whole))
    }

    /// Two real workers share the job; the rows come back as the in-process run makes them,
    /// bad rows included.
    func testViaQueueWithAFleetOfWorkers() throws {
        let broker = try TestBroker.shared.get()
        let unique = UInt32.random(in: 0...UInt32.max)
        let topology = Topology(requestQueue: "req.batch.\(unique)", deadLetterExchange: "dlx.batch.\(unique)",
                                deadLetterQueue: "dead.batch.\(unique)", deliveryLimit: 3)
        let workers = try [WorkerProcess(broker: broker, topology: topology), WorkerProcess(broker: broker, topology: topology)]
        let input = directory.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        for name in ["a.csv", "b.csv"] {
            try FileManager.default.copyItem(at: jobs.appendingPathComponent("csv/\(name)"), to: input.appendingPathComponent(name))
        }
        try Data((0..<40).map { "{\"text\": \"text \($0)\"}\n" }.joined().utf8).write(to: input.appendingPathComponent("c.jsonl"))
        let out = directory.appendingPathComponent("queue.jsonl")
        let result = try CLI.run(["batch", "--via-queue", "--amqp-url", broker.url, "--queue", topology.requestQueue, "--input", input.path,
                                  "--output", out.path, "--chunk-rows", "2", "--max-outstanding", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try lines(out)
        try assertMatchesEmbedder(rows, try BatchInput.load(input.path))
        XCTAssertEqual(rows.compactMap { $0["error"]?["code"]?.string }, ["unsupported_image_format", "schema_violation"])
        for (i, worker) in workers.enumerated() {
            XCTAssertTrue(worker.log.contains { $0.contains(#""event":"replied""#) }, "worker \(i) took part")
            XCTAssertEqual(worker.terminate(), 0)
        }
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
    }

    func testViaQueueWithoutTheQueueFailsClearly() throws {
        let broker = try TestBroker.shared.get()
        let result = try CLI.run(["batch", "--via-queue", "--amqp-url", broker.url, "--queue", "no.such.queue.\(UUID().uuidString)",
                                  "--input", jobs.appendingPathComponent("csv").path, "--output", directory.appendingPathComponent("x.jsonl").path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("broker: no queue"), result.stderr)
    }

    /// The whole eval command on a constructed split; the figures are those of the recall
    /// arithmetic (tested on its own in ClipJobsTests) over the in-process embeddings.
    func testEvalOnATinySplitAndReusedEmbeddings() throws {
        let karpathy = jobs.appendingPathComponent("karpathy")
        let splitFile = karpathy.appendingPathComponent("dataset_tiny.json").path
        let kept = directory.appendingPathComponent("emb").path
        let result = try CLI.run(["eval", "--model", model, "--split-file", splitFile, "--images", karpathy.appendingPathComponent("images").path,
                                  "--embeddings", kept, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONParser().parse(Array(result.stdout.utf8))

        let embedder = try TinyModel.embedder.get()
        let split = try KarpathySplit(path: splitFile, split: "test")
        let rows = split.rows(imageFolder: karpathy.appendingPathComponent("images").path)
        let replies = try embedder.embed(EmbeddingRequest(rows: rows.map { try $0.requestRow().get() }))
        let images = zip(rows, replies).compactMap { $0.0.image == nil ? nil : $0.1.imageFeatures }
        let captions = zip(rows, replies).compactMap { $0.1.textFeatures }
        let owner = (0..<4).flatMap { [Int](repeating: $0, count: 5) }
        let expected = retrievalRecall(images: images, captions: captions, owner: owner)
        for k in [1, 5, 10] {
            XCTAssertEqual(try XCTUnwrap(json["text_to_image"]?["R@\(k)"]?.number), expected.textToImage[k]!, accuracy: 0.006)
            XCTAssertEqual(try XCTUnwrap(json["image_to_text"]?["R@\(k)"]?.number), expected.imageToText[k]!, accuracy: 0.006)
        }

        // Reused: no model and no images needed the second time.
        let reused = try CLI.run(["eval", "--model", "/nonexistent", "--split-file", splitFile, "--embeddings", kept, "--json"])
        XCTAssertEqual(reused.status, 0, reused.stderr)
        XCTAssertEqual(reused.stdout, result.stdout)
        let table = try CLI.run(["eval", "--model", "/nonexistent", "--split-file", splitFile, "--embeddings", kept, "--dataset", "flickr30k"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("Flickr30k"), table.stdout)
        XCTAssertTrue(table.stdout.contains("68.7") && table.stdout.contains("88.0"), table.stdout)
    }
}
