import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

/// `clipq-bench load` at CI size: three publishers, two real workers, every request answered
/// once, and the workers' memory bounded. No timing is asserted (`make bench-load` reports it).
final class LoadTests: XCTestCase {
    func testThreePublishersTwoWorkersEveryRequestAnsweredOnceMemoryBounded() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique(name, deliveryLimit: 5)
        let workers = try (0..<2).map { _ in try WorkerProcess(broker: broker, topology: topology) }
        let result = try CLI.bench(
            ["load", "--publishers", "3", "--texts", "1500", "--images", "40", "--json", "--timeout", "120",
             "--image", CLI.fixtures.appendingPathComponent("images/inputs/astronaut.jpg").path]
                + workers.flatMap { ["--worker-pid", String($0.process.processIdentifier)] },
            environment: ["CLIPQ_AMQP_URL": broker.url, "CLIPQ_QUEUE": topology.requestQueue])
        print(result.stdout)
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try JSONParser().parse(Array((result.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(summary["published"]?.number, 1540)
        XCTAssertEqual(summary["answered"]?.number, 1540)
        XCTAssertEqual(summary["missing"]?.number, 0)
        XCTAssertEqual(summary["errors"]?.number, 0)
        XCTAssertEqual(summary["duplicates"]?.number, 0, "no fault, so no duplicate")
        let memory = try XCTUnwrap(summary["workers"]?.array)
        XCTAssertEqual(memory.count, 2)
        // Bounded by the working set (up to 64 prefetched requests, their decoded images): a run
        // this short cannot tell a small leak from warming up; make bench-load's long runs show
        // the course, which is flat once the working set is in hand.
        for worker in memory {
            let start = worker["start"]?.number ?? 0
            let peak = max(worker["first_half_peak"]?.number ?? .infinity, worker["second_half_peak"]?.number ?? .infinity)
            XCTAssertLessThan(peak, start + 128 * 1024 * 1024, "worker memory: \(worker)")
        }
        for worker in workers {
            XCTAssertTrue(worker.log.contains { $0.contains(#""event":"replied""#) }, "both workers served")
            XCTAssertEqual(worker.terminate(), 0)
        }
    }
}
