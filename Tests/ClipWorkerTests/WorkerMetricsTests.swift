import ClipAMQP
import ClipSchema
import ClipModelTestSupport
import Foundation
import XCTest

@testable import ClipWorker

/// The metrics as the pipeline reports them: a reply that fails its schema ends as an internal
/// error everywhere (the reply, the metrics, the log), not as a success.
final class WorkerMetricsTests: XCTestCase {
    func testAReplyThatFailsItsSchemaCountsAndLogsAsInternal() throws {
        let (metrics, registry) = WorkerMetrics.prometheus()
        let harness = try WorkerHarness(metrics: metrics)
        harness.encoder.setNaNTexts(true)
        harness.send("image", [(try TinyModel.Reference.load().imageCell(0), "")])
        harness.send("text", [("", "a cat")])
        let replies = harness.awaitReplies(["image", "text"])
        XCTAssertNoThrow(try XCTUnwrap(replies["image"]).get())
        XCTAssertEqual(harness.replies.first { $0.id == "text" }?.type, "error")

        var text = ""
        let settled = ContinuousClock.now + .seconds(10)
        repeat {  // the dead letter counts once the broker confirmed it
            text = registry.emitToString()
            Thread.sleep(forTimeInterval: 0.05)
        } while !text.contains(#"clipq_dead_letters_total{code="internal"} 1"#) && ContinuousClock.now < settled
        for line in [
            #"clipq_requests_total{outcome="success",code="none"} 1"#, #"clipq_requests_total{outcome="error",code="internal"} 1"#,
            #"clipq_dead_letters_total{code="internal"} 1"#, "clipq_requests_in_flight 0.0", #"clipq_rows_total{kind="text"} 1"#,
            #"clipq_rows_total{kind="image"} 1"#,
        ] {
            XCTAssertTrue(text.split(separator: "\n").contains { $0 == line }, "\(line) in\n\(text)")
        }
        XCTAssertEqual(harness.events.outcomes(count: 2), ["image": "replied", "text": "failed internal"])
    }
}
