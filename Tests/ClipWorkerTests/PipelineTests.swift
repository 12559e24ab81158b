import ClipAMQP
import ClipModelTestSupport
import ClipSchema
import Foundation
import XCTest

@testable import ClipWorker

/// The worker's queue pipeline end to end on an in-memory transport with a fake encoder: every
/// way a request ends, in milliseconds and without a broker.
final class PipelineTests: XCTestCase {
    private var imageCell: String {
        get throws { try TinyModel.Reference.load().imageCell(0) }
    }

    private var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func testRepliesCarryEveryRowInOrderWithTheContractsProperties() throws {
        let harness = try WorkerHarness()
        harness.send("mixed", [(try imageCell, ""), ("", "a photo of a cat"), (try imageCell, "both")])
        let rows = try XCTUnwrap(harness.awaitReplies(["mixed"])["mixed"]).get()
        XCTAssertEqual(rows.count, 3)
        XCTAssertNotNil(rows[0].imageFeatures)
        XCTAssertNil(rows[0].textFeatures)
        XCTAssertNil(rows[1].imageFeatures)
        // The fake encoder's text embedding: [token count, first content token, 0, 1].
        let tokens = try TinyModel.preparer.get().tokens("a photo of a cat")
        XCTAssertEqual(rows[1].textFeatures, [Float(tokens.count), Float(tokens[1]), 0, 1])
        XCTAssertEqual(rows[2].imageFeatures, rows[0].imageFeatures)
        XCTAssertNotNil(rows[2].textFeatures)

        let reply = try XCTUnwrap(harness.transport.published.first { $0.routingKey == "replies" })
        XCTAssertEqual(reply.properties.type, "embeddings")
        XCTAssertEqual(reply.properties.contentType, "application/json")
        XCTAssertEqual(reply.properties.headers?["x-clipq-model"], .string("fake"))
        XCTAssertTrue(harness.deadLetters.isEmpty)
        XCTAssertEqual(harness.events.outcomes(count: 1), ["mixed": "replied"])
    }

    func testRowsOfManyRequestsShareBatches() throws {
        let encoder = FakeEncoder(pixelsPerImage: 3 * 30 * 30)
        let gate = DispatchSemaphore(value: 0)
        encoder.hold(on: gate)
        let harness = try WorkerHarness(encoder: encoder)
        harness.send("first", [("", "one")])
        // While the first batch waits in the encoder, ten more requests queue up behind it.
        Thread.sleep(forTimeInterval: 0.1)
        for i in 0..<10 { harness.send("r\(i)", [("", "caption \(i)")]) }
        Thread.sleep(forTimeInterval: 0.2)
        encoder.hold(on: nil)
        gate.signal()
        _ = harness.awaitReplies(["first"] + (0..<10).map { "r\($0)" })
        XCTAssertEqual(encoder.computed.map(\.count), [1, 10])
    }

    /// Every code a worker answers before the encoder, each with its reply and its dead letter.
    func testEveryRefusalIsAnsweredAndDeadLettered() throws {
        let harness = try WorkerHarness(limits: RequestLimits(maxBodyBytes: 100_000, maxRows: 2))
        let gif = Data("GIF89a\u{01}\u{00}\u{01}\u{00}".utf8).base64EncodedString()
        let truncatedPNG = try Data(contentsOf: TinyModel.fixtures.appendingPathComponent("images/inputs/coffee.png")).prefix(70)
        var huge = [UInt8](repeating: 0, count: 0)
        huge += Array(#"{"input_data":{"columns":["image","text"],"index":[0],"data":[["","#.utf8)
        huge += [UInt8](repeating: UInt8(ascii: "x"), count: 100_001)
        huge += Array(#""]]}}"#.utf8)
        let cases: [(id: String, body: [UInt8], headers: [String: AMQPFieldValue]?, code: ErrorCode, pointer: String?)] = [
            ("json", Array("{not json".utf8), nil, .invalidJSON, nil),
            ("schema", RequestEncoder.encode([EmbeddingRequest.Row()]), nil, .schemaViolation, "/input_data/data/0"),
            ("rows", RequestEncoder.encode(images: [], texts: ["a", "b", "c"]), nil, .tooManyRows, "/input_data/data"),
            ("large", huge, nil, .messageTooLarge, nil),
            ("base64", RequestEncoder.encode(images: ["not base64!"], texts: []), nil, .invalidBase64, "/input_data/data/0/0"),
            ("format", RequestEncoder.encode(images: [gif], texts: []), nil, .unsupportedImageFormat, "/input_data/data/0/0"),
            ("decode", RequestEncoder.encode(images: [truncatedPNG.base64EncodedString()], texts: []), nil, .imageDecodeFailed,
             "/input_data/data/0/0"),
            ("scheme", RequestEncoder.encode(images: ["ftp://example.com/a.jpg"], texts: []), nil, .urlNotAllowed, "/input_data/data/0/0"),
            ("fetch", RequestEncoder.encode(images: ["http://127.0.0.1:1/a.jpg"], texts: []), nil, .imageFetchFailed,
             "/input_data/data/0/0"),
            ("late", RequestEncoder.encode(images: [], texts: ["too late"]), ["x-deadline": .int(now - 1)], .deadlineExceeded, nil),
        ]
        for c in cases { harness.send(c.id, body: c.body, headers: c.headers) }
        let replies = harness.awaitReplies(cases.map(\.id))
        for c in cases {
            guard case .failure(let error)? = replies[c.id] else { XCTFail("\(c.id): \(String(describing: replies[c.id]))"); continue }
            XCTAssertEqual(error.code, c.code, "\(c.id): \(error.message)")
            XCTAssertEqual(error.pointer, c.pointer, c.id)
        }
        XCTAssertTrue(harness.transport.waitForPublished { $0.filter { $0.exchange == "clipq.dlx" }.count == cases.count })
        let deadLetters = harness.deadLetters
        XCTAssertEqual(Set(deadLetters.compactMap(\.properties.correlationID)), Set(cases.map(\.id)))
        for letter in deadLetters {
            let id = letter.properties.correlationID ?? ""
            let code = cases.first { $0.id == id }?.code.rawValue
            XCTAssertEqual(letter.properties.headers?[DeadLetterHeader.code], code.map { .string($0) }, id)
            XCTAssertEqual(letter.body, cases.first { $0.id == id }?.body, "\(id): the dead letter keeps the original body")
        }
        XCTAssertTrue(harness.encoder.computed.isEmpty, "nothing refused reached the encoder")
    }

    func testARequestWithoutReplyToIsDeadLetteredOnly() throws {
        let harness = try WorkerHarness()
        harness.send("nowhere", [("", "a cat")], replyTo: nil)
        harness.send("after", [("", "still serving")])
        _ = harness.awaitReplies(["after"])
        XCTAssertTrue(harness.transport.waitForPublished { $0.contains { $0.properties.correlationID == "nowhere" } })
        let nowhere = harness.transport.published.filter { $0.properties.correlationID == "nowhere" }
        XCTAssertEqual(nowhere.map(\.exchange), ["clipq.dlx"])
        XCTAssertEqual(nowhere.first?.properties.headers?[DeadLetterHeader.code], .string("missing_reply_to"))
    }

    func testADeadlineThatPassesInTheBatcherIsAnsweredNotComputed() throws {
        let encoder = FakeEncoder(pixelsPerImage: 3 * 30 * 30)
        encoder.setDelay(.milliseconds(400))
        let harness = try WorkerHarness(encoder: encoder)
        harness.send("busy", [("", "keeps the encoder busy")])
        Thread.sleep(forTimeInterval: 0.1)
        harness.send("hurried", [("", "needed within 100 ms")], headers: ["x-deadline": .int(now + 100)])
        let replies = harness.awaitReplies(["busy", "hurried"])
        XCTAssertNoThrow(try XCTUnwrap(replies["busy"]).get())
        guard case .failure(let error)? = replies["hurried"] else { return XCTFail("hurried was computed") }
        XCTAssertEqual(error.code, .deadlineExceeded)
        XCTAssertTrue(error.message.contains("waited for the encoder"), error.message)
        XCTAssertEqual(encoder.computed.map(\.count), [1], "the expired row never reached the encoder")
    }

    func testAnEncoderFailureIsAnsweredAsInternal() throws {
        let harness = try WorkerHarness()
        harness.encoder.setFailure(ClipError(.internal, "out of memory"))
        harness.send("doomed", [("", "a cat")])
        let error = harness.awaitError("doomed")
        XCTAssertEqual(error?.code, .internal)
        XCTAssertTrue(error?.message.contains("the encoder failed") ?? false)
        XCTAssertTrue(harness.transport.waitForPublished { $0.contains { $0.exchange == "clipq.dlx" } })
        harness.encoder.setFailure(nil)
        harness.send("recovered", [("", "a dog")])
        XCTAssertNoThrow(try XCTUnwrap(harness.awaitReplies(["recovered"])["recovered"]).get())
    }

    func testAReplyThatFailsItsSchemaIsAnsweredAsInternal() throws {
        let harness = try WorkerHarness()
        harness.encoder.setNaNTexts(true)
        harness.send("image", [(try imageCell, "")])
        harness.send("text", [("", "a cat")])
        let replies = harness.awaitReplies(["image", "text"])
        XCTAssertNoThrow(try XCTUnwrap(replies["image"]).get())
        guard case .failure(let error)? = replies["text"] else { return XCTFail("a NaN reply was published") }
        XCTAssertEqual(error.code, .internal)
        XCTAssertTrue(error.message.contains("reply.schema.json"), error.message)
        XCTAssertEqual(harness.replies.first { $0.id == "text" }?.type, "error")
        XCTAssertEqual(harness.events.outcomes(count: 2), ["image": "replied", "text": "failed internal"])
    }

    /// Work of a lost connection is void: the queue redelivers it and it is answered once, on
    /// the new connection.
    func testWorkOfALostConnectionIsDroppedAndItsRedeliveryAnsweredOnce() throws {
        let encoder = FakeEncoder(pixelsPerImage: 3 * 30 * 30)
        let gate = DispatchSemaphore(value: 0)
        encoder.hold(on: gate)
        let harness = try WorkerHarness(encoder: encoder)
        harness.send("held", [("", "in the encoder when the connection drops")])
        Thread.sleep(forTimeInterval: 0.1)
        harness.transport.loseConnection()
        Thread.sleep(forTimeInterval: 0.1)
        encoder.hold(on: nil)
        gate.signal()
        _ = harness.awaitReplies(["held"])
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(harness.replies.filter { $0.id == "held" }.count, 1, "answered once")
        XCTAssertEqual(harness.transport.unsettledCount, 0)
        XCTAssertEqual(harness.transport.queuedCount, 0)
    }

    func testANackedReplyRequeuesTheRequestWhichIsAnsweredAgain() throws {
        let harness = try WorkerHarness()
        final class Once: @unchecked Sendable {
            let lock = NSLock()
            var refused = false
        }
        let once = Once()
        harness.transport.refusePublishes { message in
            once.lock.withLock {
                defer { once.refused = true }
                return !once.refused && message.properties.correlationID == "nacked"
            }
        }
        harness.send("nacked", [("", "a cat")])
        XCTAssertNoThrow(try XCTUnwrap(harness.awaitReplies(["nacked"])["nacked"]).get())
        XCTAssertEqual(harness.replies.filter { $0.id == "nacked" }.count, 1)
        XCTAssertEqual(harness.encoder.computed.count, 2, "computed again after the requeue")
    }

    func testStopAnswersWhatIsInFlightWithinTheDrain() throws {
        let harness = try WorkerHarness()
        harness.encoder.setDelay(.milliseconds(50))
        for i in 0..<5 { harness.send("q\(i)", [("", "caption \(i)")]) }
        Thread.sleep(forTimeInterval: 0.05)
        let report = harness.stop(timeout: .seconds(5))
        XCTAssertTrue(report.drained)
        XCTAssertEqual(report.requeued, 0)
        XCTAssertEqual(Set(harness.replies.map(\.id)), Set((0..<5).map { "q\($0)" }))
        XCTAssertEqual(harness.transport.queuedCount, 0)
    }

    /// At the drain deadline the worker stops computing and gives every unanswered request back
    /// to the queue; the batch in the encoder gets only the grace period.
    func testStopAtTheDeadlineRequeuesWhatIsUnansweredAndReturnsOnTime() throws {
        let encoder = FakeEncoder(pixelsPerImage: 3 * 30 * 30)
        encoder.setDelay(.milliseconds(700))
        let harness = try WorkerHarness(imageBatch: 1, textBatch: 1, encoderGrace: .milliseconds(200), encoder: encoder)
        for i in 0..<6 { harness.send("slow\(i)", [("", "caption \(i)")]) }
        Thread.sleep(forTimeInterval: 0.1)
        let start = ContinuousClock.now
        let report = harness.stop(timeout: .milliseconds(500))
        let took = ContinuousClock.now - start
        XCTAssertLessThan(took, .milliseconds(1500), "the stop outlived drain + grace")
        XCTAssertFalse(report.drained)
        let answered = harness.replies.count
        XCTAssertEqual(report.answered, answered)
        XCTAssertEqual(report.requeued + answered, 6)
        XCTAssertEqual(harness.transport.queuedCount, 6 - answered, "every unanswered request is back in the queue")
        XCTAssertGreaterThan(report.requeued, 0)
        // Nothing more is published once the worker has stopped, even when the encoder finishes.
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(harness.replies.count, answered)
    }

    func testTheHealthProbesFollowTheTransportAndTheStop() throws {
        let harness = try WorkerHarness()
        let deadline = ContinuousClock.now + .seconds(5)
        while !harness.worker.isReady && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(harness.worker.isAlive)
        XCTAssertTrue(harness.worker.isReady)
        harness.stop(timeout: .seconds(1))
        XCTAssertFalse(harness.worker.isReady)
        XCTAssertFalse(harness.worker.isAlive)
    }

    func testTheTraceContextIsLoggedAndReturnedWithTheReply() throws {
        let harness = try WorkerHarness()
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        harness.send("traced", [("", "a cat")], headers: ["traceparent": .string(traceparent), "x-request-id": .string("req-1")])
        _ = harness.awaitReplies(["traced"])
        let reply = try XCTUnwrap(harness.transport.published.first { $0.properties.correlationID == "traced" })
        XCTAssertEqual(reply.properties.headers?["traceparent"], .string(traceparent))
        XCTAssertEqual(reply.properties.headers?["x-request-id"], .string("req-1"))
        _ = harness.events.outcomes(count: 1)
        let logged = harness.events.all.compactMap { event -> RequestIdentity? in
            if case .replied(let request, _, _, _) = event { request } else { nil }
        }
        XCTAssertEqual(logged, [RequestIdentity(correlationID: "traced", traceparent: traceparent, requestID: "req-1")])
    }
}
