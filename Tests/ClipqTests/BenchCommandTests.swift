import ClipSchema
import ClipModelTestSupport
import ClipTestSupport
import Foundation
import XCTest

/// The benchmarks run as a user runs them, on the tiny model and the test broker: each figure
/// the README quotes comes out as a JSON line a script can read.
final class BenchCommandTests: XCTestCase {
    func lines(_ stdout: String) throws -> [JSONValue] {
        try stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try JSONParser().parse(String($0)) }
    }

    func testBenchReportsEveryStageAndEachBatchSizeAsJSONLinesAndATable() throws {
        let result = try CLI.run([
            "bench", "--model", TinyModel.directory.path, "--rounds", "1", "--images", "2", "--texts", "4",
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
    }

    func testBenchTimesTheFetchStageOnAURL() throws {
        let photo = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg"))
        let server = try LoopbackServer { _, _ in .status(200, body: Array(photo)) }
        let url = server.url("/astronaut.jpg")
        let refused = try CLI.run(["bench", "--model", TinyModel.directory.path, "--rounds", "1", "--images", "1",
                                   "--texts", "1", "--stage-runs", "1", "--fetch-url", url])
        XCTAssertNotEqual(refused.status, 0, "loopback must need --allow-private-networks")
        let result = try CLI.run(["bench", "--model", TinyModel.directory.path, "--rounds", "1", "--images", "1",
                                  "--texts", "1", "--image-batches", "1", "--text-batches", "1",
                                  "--stage-runs", "1", "--fetch-url", url, "--allow-private-networks"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let fetch = try XCTUnwrap(try lines(result.stdout).first { $0["stage"]?.string == "fetch" })
        XCTAssertEqual(fetch["bytes"]?.number, 53962)
    }

    func testBenchBrokerMovesEveryMessageAndCleansUp() throws {
        let broker = try TestBroker.shared.get()
        let result = try CLI.run(["bench-broker", "--sizes", "1", "64", "--megabytes", "1"],
                                 environment: ["CLIPQ_AMQP_URL": broker.url])
        XCTAssertEqual(result.status, 0, result.stderr)
        let figures = try lines(result.stdout)
        XCTAssertEqual(figures.map { "\(Int($0["kb"]?.number ?? 0)) \($0["direction"]?.string ?? "")" },
                       ["1 publish", "1 consume", "64 publish", "64 consume"])
        XCTAssertEqual(figures.map { Int($0["messages"]?.number ?? 0) }, [1024, 1024, 20, 20])
        XCTAssertFalse(try broker.ctl(["list_queues", "name"]).contains("clipq.bench-broker"), "the queue is deleted after")
        XCTAssertFalse(result.stdout.contains("guest:guest"), "the password never shows")
    }
}
