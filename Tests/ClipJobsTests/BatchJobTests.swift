import ClipSchema
import Foundation
import XCTest

@testable import ClipJobs

/// Outputs, checkpoints and resuming, with a runner that makes up embeddings from the row's name
/// (the model's part is tested with the real tiny model in ClipqTests).
final class BatchJobTests: XCTestCase {
    struct MadeUpRunner: ChunkRunner {
        /// Throws (as a lost broker would) when asked for this chunk.
        var failAt: Int?

        static func features(_ row: BatchRow, _ salt: Float) -> [Float] {
            [Float(row.row) + salt, Float(row.file.count), 0.1 * salt, -1.5, 1e-3]
        }

        mutating func run(_ chunks: [[BatchRow]], completed: (Int, [RowOutcome]) throws(JobError) -> Void) throws(JobError) {
            for (i, chunk) in chunks.enumerated() {
                if i == failAt { throw JobError(.broker, "made-up failure") }
                try completed(i, chunk.map { row in
                    if let problem = row.problem { return .failure(problem) }
                    return .success(ReplyRow(imageFeatures: row.image == nil ? nil : Self.features(row, 0.25),
                                             textFeatures: row.text == nil ? nil : Self.features(row, 0.75)))
                })
            }
        }
    }

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipjobs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func input(_ count: Int) -> BatchInput {
        BatchInput(rows: (0..<count).map { i in
            i % 7 == 3 ? BatchRow(file: "f.jsonl", row: i) : BatchRow(file: "f.jsonl", row: i, image: i % 2 == 0 ? .cell("x") : nil, text: "t\(i)")
        }, fingerprint: "f.jsonl:\(count)")
    }

    private func job(_ format: OutputFormat, _ name: String, rows: Int = 23, limit: Int? = nil, dtype: NPYDType = .float32) -> BatchJob {
        var job = BatchJob(input: input(rows), format: format, output: directory.appendingPathComponent(name).path)
        job.chunkRows = 4
        job.limit = limit
        job.dtype = dtype
        return job
    }

    private func files(_ job: BatchJob) throws -> [String: Data] {
        let names = job.format == .npy ? [NPYWriter.imageFile, NPYWriter.textFile, NPYWriter.metadataFile] : [""]
        return try Dictionary(uniqueKeysWithValues: names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: job.output + ($0.isEmpty ? "" : "/" + $0)))) })
    }

    func testJSONLRowsInOrderWithErrors() throws {
        var runner = MadeUpRunner()
        let summary = try job(.jsonl, "a.jsonl").run(&runner)
        XCTAssertEqual(summary, .init(total: 23, skipped: 0, written: 23, errors: 3, complete: true))
        let lines = try String(contentsOf: directory.appendingPathComponent("a.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 23)
        let rows = try lines.map { try JSONParser().parse(Array($0.utf8)) }
        XCTAssertEqual(rows.map { Int($0["row"]?.number ?? -1) }, Array(0..<23))
        XCTAssertEqual(rows[3]["error"]?["code"]?.string, "schema_violation")
        XCTAssertEqual(rows[2]["image_features"]?.array?.map { Float($0.number!) }, MadeUpRunner.features(input(23).rows[2], 0.25))
        XCTAssertNil(rows[1]["image_features"])
        XCTAssertEqual(rows[1]["text_features"]?.array?.count, 5)
    }

    /// Interrupted by --limit, by a failure mid-job, and by a kill after rows were written but
    /// before the checkpoint: each rerun ends with the bytes of an uninterrupted run.
    func testResumedRunsEqualAnUninterruptedRun() throws {
        for format in OutputFormat.allCases {
            var runner = MadeUpRunner()
            let whole = job(format, "whole-\(format)")
            _ = try whole.run(&runner)
            let expected = try files(whole)

            let limited = job(format, "limited-\(format)", limit: 9)
            var summary = try limited.run(&runner)
            XCTAssertEqual(summary.written, 9)
            XCTAssertFalse(summary.complete)
            var unlimited = limited
            unlimited.limit = nil
            summary = try unlimited.run(&runner)
            XCTAssertEqual(summary.skipped, 9)
            XCTAssertEqual(summary.written, 14)
            XCTAssertTrue(summary.complete)
            XCTAssertEqual(try files(unlimited), expected, "\(format): limit then rerun")
            XCTAssertEqual(try unlimited.run(&runner).written, 0, "a complete job does nothing")

            let failing = job(format, "failing-\(format)")
            var broken = MadeUpRunner(failAt: 3)
            XCTAssertThrowsError(try failing.run(&broken))
            XCTAssertEqual(try Checkpoint.read(failing.checkpointPath)?.rows, 12)
            // A kill after more rows were appended but before the checkpoint: junk past the sizes.
            for (name, _) in try files(failing) {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: failing.output + (name.isEmpty ? "" : "/" + name)))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("{\"file\":\"half a row".utf8))
                try handle.close()
            }
            summary = try failing.run(&runner)
            XCTAssertEqual(summary.skipped, 12)
            XCTAssertEqual(try files(failing), expected, "\(format): failure, junk, rerun")
        }
    }

    func testAnotherJobOrAnOutputWithoutCheckpointIsRefused() throws {
        var runner = MadeUpRunner()
        _ = try job(.jsonl, "o.jsonl", limit: 5).run(&runner)
        XCTAssertThrowsError(try job(.jsonl, "o.jsonl", rows: 30).run(&runner)) { XCTAssertEqual(($0 as? JobError)?.kind, .checkpoint) }
        try Data("x\n".utf8).write(to: directory.appendingPathComponent("other.jsonl"))
        XCTAssertThrowsError(try job(.jsonl, "other.jsonl").run(&runner)) { XCTAssertEqual(($0 as? JobError)?.kind, .output) }
    }

    /// numpy reads the arrays; float16 rounds as numpy rounds.
    func testNPYLoadsInNumpy() throws {
        var runner = MadeUpRunner()
        for dtype in [NPYDType.float32, .float16] {
            let job = job(.npy, "npy-\(dtype)", dtype: dtype)
            _ = try job.run(&runner)
            let script = """
                import json, numpy as np, sys
                d = sys.argv[1]
                im, tx = np.load(d + '/image_embeddings.npy'), np.load(d + '/text_embeddings.npy')
                meta = [json.loads(l) for l in open(d + '/metadata.jsonl')]
                print(json.dumps({'dtype': str(im.dtype), 'image': list(im.shape), 'text': list(tx.shape),
                                  'row2': [float(x) for x in im[meta[2]['image_index']]], 'rows': len(meta)}))
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, job.output]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
            let result = try JSONParser().parse(Array(data))
            XCTAssertEqual(result["dtype"]?.string, dtype == .float32 ? "float32" : "float16")
            let rows = input(23).rows
            let images = rows.filter { $0.problem == nil && $0.image != nil }.count, texts = rows.filter { $0.problem == nil }.count
            XCTAssertEqual(result["image"], [.number(Double(images)), 5])
            XCTAssertEqual(result["text"], [.number(Double(texts)), 5])
            XCTAssertEqual(result["rows"]?.number, 23)
            let expected = MadeUpRunner.features(rows[2], 0.25).map { dtype == .float16 ? Float(Float16($0)) : $0 }
            XCTAssertEqual(result["row2"]?.array?.map { Float($0.number!) }, expected)
            // And clipq's own reader agrees.
            let matrix = try NPYMatrix(contentsOf: job.output + "/" + NPYWriter.imageFile)
            XCTAssertEqual(Array(matrix[1]), expected)
        }
    }

    func testProgressLines() {
        var lines: [String] = []
        let progress = Progress(total: 10, interval: .zero, terminal: false) { lines.append($0) }
        progress.base = 4
        progress.advance(rows: 3, errors: 1)
        progress.finish()
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasPrefix("batch: 7/10 rows, "), lines[0])
        XCTAssertTrue(lines[0].hasSuffix(", 1 errors\n"), lines[0])
        let bar = Progress(total: 10, terminal: true) { _ in }
        bar.base = 5
        XCTAssertTrue(bar.line().hasPrefix("\r[###############---------------] 5/10 rows"), bar.line())
    }
}
