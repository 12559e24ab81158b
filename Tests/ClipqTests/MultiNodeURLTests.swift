import ClipAMQP
import ClipClient
import ClipTestSupport
import Foundation
import XCTest

/// A worker, a client and `clipq request` given every node of a "cluster" whose first node is
/// dead (a port nothing listens on) reach the live one, and the worker says which node that is.
final class MultiNodeURLTests: XCTestCase {
    private var broker: TestBroker!
    private var topology: Topology!
    private var urls: [String] = []

    override func setUpWithError() throws {
        broker = try TestBroker.shared.get()
        topology = .unique(name)
        urls = ["amqp://guest:guest@127.0.0.1:\(try TestBroker.freePort())/", broker.url,
                "amqp://guest:guest@127.0.0.1:\(try TestBroker.freePort())/"]
    }

    func testWorkerAndClientGivenThreeURLsWithTheFirstDeadReachTheLiveNode() throws {
        let live = try AMQPURL(broker.url)
        let worker = try WorkerProcess(
            broker: broker, topology: topology, environment: ["CLIPQ_AMQP_URL": urls.joined(separator: ",")])
        XCTAssertTrue(
            worker.waitForLog(containing: #""node":"\#(live.node)""#),
            "the worker's connected line names no node:\n\(worker.log.joined(separator: "\n"))")

        let settings = try AMQPSettings(urls: try urls.map { try AMQPURL($0) }, connectTimeout: .seconds(2))
        for _ in 0..<3 {  // the order is random: each client meets the dead nodes in another order
            let client = try ClipClient(settings: settings, queue: topology.requestQueue)
            XCTAssertEqual(client.node, live)
            guard case .embeddings(let rows) = try client.embed(texts: ["a photo of a cat"], timeout: .seconds(30)) else {
                return XCTFail("expected embeddings")
            }
            XCTAssertEqual(rows.first?.textFeatures?.count, 16)
        }
        XCTAssertEqual(worker.terminate(), 0)
    }

    func testRequestCommandTakesTheURLRepeatedOnTheCommandLine() throws {
        let worker = try WorkerProcess(broker: broker, topology: topology, environment: ["CLIPQ_AMQP_URL": urls.joined(separator: ",")])
        let result = try CLI.run(
            ["request", "--queue", topology.requestQueue, "--text", "a dog"] + urls.flatMap { ["--amqp-url", $0] },
            environment: ["CLIPQ_AMQP_URL": ""])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("text_features"), result.stdout)
        XCTAssertEqual(worker.terminate(), 0)
    }
}
