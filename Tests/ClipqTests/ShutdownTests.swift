import ClipAMQP
import ClipFixtures
import ClipModel
import ClipTestSupport
import Foundation
import XCTest

/// SIGTERM on a worker whose encoder is slower than its drain: it stops on time, exits 0, and
/// loses nothing (a second worker answers every request, once).
final class ShutdownTests: XCTestCase {
    /// The tiny model with a wider, deeper vision tower: a batch of eight images takes seconds,
    /// longer than the drain and the encoder's grace together.
    private func writeSlowModel() throws -> URL {
        let tiny = CLI.fixtures.appendingPathComponent("tiny-clip")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-slow-model-\(getpid())")
        var config = try CLIPConfig.load(from: tiny.appendingPathComponent("config.json"))
        config.vision.tower = TowerConfig(
            hiddenSize: 512, intermediateSize: 2048, layers: 8, heads: 8, activation: config.vision.tower.activation,
            layerNormEps: config.vision.tower.layerNormEps)
        try writeRandomModel(config, to: directory)
        for file in ["vocab.json", "merges.txt", "preprocessor_config.json"] {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            try FileManager.default.copyItem(
                at: tiny.appendingPathComponent(file).resolvingSymlinksInPath(), to: directory.appendingPathComponent(file))
        }
        return directory
    }

    func testSIGTERMStopsWithinTheDrainAndASecondWorkerAnswersEverythingOnce() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(#function)
        let directory = try writeSlowModel()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.path
        let drainSeconds = 1
        let first = try WorkerProcess(
            broker: broker, topology: topology, model: model, arguments: ["--drain-seconds", String(drainSeconds), "--max-batch", "8"])
        let client = try ReplyCollector(broker: broker)
        let image = try Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg")).base64EncodedString()
        let ids = (0..<9).map { "img\($0)" }
        for id in ids { try client.send(requestBody([(image, "")]), id: id, to: topology.requestQueue) }
        Thread.sleep(forTimeInterval: 1.5)  // ingested, and the first batch of eight in the encoder

        let start = ContinuousClock.now
        let status = first.terminate(timeout: .seconds(drainSeconds + 5))
        let took = ContinuousClock.now - start
        XCTAssertEqual(status, 0, "the worker did not exit 0 within drain + 5 s:\n\(first.log.suffix(5).joined(separator: "\n"))")
        XCTAssertLessThanOrEqual(took, .seconds(drainSeconds + 5))
        let stopped = try XCTUnwrap(first.log.last { $0.contains(#""event":"stopped""#) }, "no stopped line")
        XCTAssertTrue(stopped.contains(#""requeued":"#) && stopped.contains(#""answered":"#), stopped)

        let second = try WorkerProcess(broker: broker, topology: topology, model: model, arguments: ["--max-batch", "8"])
        try client.collect(Set(ids), timeout: .seconds(180))
        Thread.sleep(forTimeInterval: 0.5)  // a duplicate would arrive now
        try client.collect(Set(ids), timeout: .milliseconds(100))
        for id in ids {
            XCTAssertEqual(client.replies[id]?.count, 1, "\(id) answered \(client.replies[id]?.count ?? 0) times")
            XCTAssertNotNil(try client.json(id).features(0, "image_features"), id)
        }
        XCTAssertEqual(second.terminate(), 0)
    }
}
