import ClipModel
import ClipSchema
import ClipTensor
import ClipModelTestSupport
import ClipTestSupport
import Foundation
import XCTest

/// The benchmarks (`clipq-bench`) run as a user runs them, on the tiny model and the test broker:
/// each figure the README quotes comes out as a JSON line a script can read.
final class BenchCommandTests: XCTestCase {
    static let benchCommands = ["in-process", "worker", "broker", "load", "image", "tokenizer", "lanes", "cache"]

    /// Help lists subcommands as "  NAME  abstract" lines under SUBCOMMANDS, up to a blank line.
    func subcommands(_ help: String) -> Set<String> {
        guard help.contains("SUBCOMMANDS:"), let section = help.components(separatedBy: "SUBCOMMANDS:").last else { return [] }
        let lines = section.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().prefix { !$0.isEmpty }
        return Set(lines.compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }  // deeper: a wrapped abstract
            return line.split(separator: " ").first.map(String.init)
        })
    }

    func testTheBenchmarksAreInClipqBenchAndNotInClipq() throws {
        let bench = try CLI.bench(["--help"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        XCTAssertEqual(subcommands(bench.stdout), Set(Self.benchCommands), bench.stdout)
        let clipq = try CLI.run(["--help"])
        XCTAssertEqual(clipq.status, 0, clipq.stderr)
        let userCommands = subcommands(clipq.stdout)
        XCTAssertTrue(userCommands.isSuperset(of: ["worker", "embed", "request", "dlq", "tokenize", "preprocess"]), clipq.stdout)
        XCTAssertFalse(userCommands.contains { $0.contains("bench") }, clipq.stdout)
        XCTAssertFalse(clipq.stdout.lowercased().contains("bench"), clipq.stdout)
        for name in ["tokenize", "preprocess"] {
            let help = try CLI.run([name, "--help"])
            XCTAssertFalse(help.stdout.contains("--bench"), "clipq \(name) times nothing: \(help.stdout)")
        }
    }

    func lines(_ stdout: String) throws -> [JSONValue] {
        try stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try JSONParser().parse(String($0)) }
    }

    func testBenchReportsEveryStageAndEachBatchSizeAsJSONLinesAndATable() throws {
        let result = try CLI.bench([
            "in-process", "--fixtures", CLI.fixtures.path, "--model", TinyModel.directory.path, "--rounds", "1", "--images", "2", "--texts", "4",
            "--image-batches", "1", "2", "--text-batches", "1", "3", "--precision", "fp32", "--stage-runs", "1",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let figures = try lines(result.stdout)
        let stages = Set(figures.compactMap { $0["stage"]?.string })
        XCTAssertEqual(stages, ["decode", "resize", "tokenize", "request_json", "reply_json"])  // fetch: only with --fetch-url
        for figure in figures where figure["stage"] != nil {
            XCTAssertGreaterThan(figure["ms"]?.number ?? figure["us_per_text"]?.number ?? 0, 0, "\(figure)")
        }
        let byBatch = figures.filter { $0["section"]?.string == "by batch fp32" }
            .map { "\($0["lane"]?.string ?? "") \(Int($0["batch"]?.number ?? 0))" }
        XCTAssertEqual(byBatch, ["images 1", "images 2", "captions 1", "captions 3"])
        for figure in figures where figure["per_s"] != nil {
            XCTAssertGreaterThan(figure["per_s"]?.number ?? 0, 0, "\(figure)")
        }
        let ceiling = try XCTUnwrap(figures.first { $0["section"]?.string == "ceiling" })
        XCTAssertGreaterThan(ceiling["sgemm_gflops"]?.number ?? 0, 0)
        let memory = try XCTUnwrap(figures.first { $0["section"]?.string == "memory" })
        XCTAssertGreaterThanOrEqual(memory["peak_rss_mib"]?.number ?? 0, memory["rss_mib"]?.number ?? 1)
        XCTAssertTrue(result.stdout.contains("one-image request fp32"), result.stdout)
        // The CPU it ran on, oneDNN's tier and what auto picks there, before any figure.
        let machine = try XCTUnwrap(figures.first, result.stdout)
        XCTAssertEqual(machine["section"]?.string, "machine")
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let name = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last
        XCTAssertEqual(machine["cpu"]?.string, name?.trimmingCharacters(in: .whitespaces))
        XCTAssertEqual(machine["onednn_isa"]?.string, oneDNNInstructionSet)
        XCTAssertEqual(machine["auto"]?.string, Precision.automatic.precision.rawValue)
        XCTAssertTrue(machine["extensions"]?.string?.contains("avx2") ?? false, "\(machine)")
    }

    func testBenchTimesTheFetchStageOnAURL() throws {
        let photo = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg"))
        let server = try LoopbackServer { _, _ in .status(200, body: Array(photo)) }
        let url = server.url("/astronaut.jpg")
        let refused = try CLI.bench(["in-process", "--fixtures", CLI.fixtures.path, "--model", TinyModel.directory.path, "--rounds", "1", "--images", "1",
                                   "--texts", "1", "--stage-runs", "1", "--fetch-url", url])
        XCTAssertNotEqual(refused.status, 0, "loopback must need --allow-private-networks")
        let result = try CLI.bench(["in-process", "--fixtures", CLI.fixtures.path, "--model", TinyModel.directory.path,
                                    "--rounds", "1", "--images", "1", "--texts", "1", "--image-batches", "1", "--text-batches", "1",
                                  "--stage-runs", "1", "--fetch-url", url, "--allow-private-networks"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let fetch = try XCTUnwrap(try lines(result.stdout).first { $0["stage"]?.string == "fetch" })
        XCTAssertEqual(fetch["bytes"]?.number, 53962)
    }

    func testBenchBrokerMovesEveryMessageAndCleansUp() throws {
        let broker = try TestBroker.shared.get()
        let result = try CLI.bench(["broker", "--sizes", "1", "64", "--megabytes", "1"],
                                   environment: ["CLIPQ_AMQP_URL": broker.url])
        XCTAssertEqual(result.status, 0, result.stderr)
        let figures = try lines(result.stdout)
        XCTAssertEqual(figures.map { "\(Int($0["kb"]?.number ?? 0)) \($0["direction"]?.string ?? "")" },
                       ["1 publish", "1 consume", "64 publish", "64 consume"])
        XCTAssertEqual(figures.map { Int($0["messages"]?.number ?? 0) }, [1024, 1024, 20, 20])
        XCTAssertFalse(try broker.ctl(["list_queues", "name"]).contains("clipq.bench-broker"), "the queue is deleted after")
        XCTAssertFalse(result.stdout.contains("guest:guest"), "the password never shows")
    }

    func testBenchFindsItsFixturesByFlagFromAnyDirectory() throws {
        // The default is relative to the repository root; from elsewhere, the flag says where.
        let elsewhere = try CLI.bench(["image", "--fixtures", "/nonexistent-clipq-fixtures",
                                       CLI.fixtures.appendingPathComponent("images/inputs/tiny_3x2.png").path])
        XCTAssertEqual(elsewhere.status, 1)
        XCTAssertTrue(elsewhere.stderr.contains("/nonexistent-clipq-fixtures/images/preprocessor_config.json"), elsewhere.stderr)
    }

    func testImageBenchTimesEachFileThenAll() throws {
        let inputs = CLI.fixtures.appendingPathComponent("images/inputs")
        let result = try CLI.bench(["image", "--fixtures", CLI.fixtures.path, "--runs", "2",
                                    inputs.appendingPathComponent("astronaut.jpg").path, inputs.appendingPathComponent("coffee.png").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, result.stdout)
        XCTAssertTrue(lines[0].contains("ms/image  astronaut.jpg  (decode"), result.stdout)
        XCTAssertTrue(lines[1].contains("ms/image  coffee.png  (decode"), result.stdout)
        XCTAssertTrue(lines[2].contains("images/s over 2 images"), result.stdout)
    }

    func testTokenizerBenchCountsTheCorpus() throws {
        let corpus = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-bench-tokenizer-\(getpid()).txt")
        try "a photo of a cat\na photo of a dog".write(to: corpus, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: corpus) }
        let result = try CLI.bench(["tokenizer", "--fixtures", CLI.fixtures.path, "--rounds", "1", corpus.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("(2 texts, 10 tokens)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("warm"), result.stdout)
        let noModel = try CLI.bench(["tokenizer", "--model", "/nonexistent-clipq-model", corpus.path])
        XCTAssertEqual(noModel.status, 1, "a missing tokenizer is an error, not a figure")
    }
}
