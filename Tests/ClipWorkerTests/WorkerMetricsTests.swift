import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation
import XCTest

@testable import ClipWorker

/// An encoder whose text embeddings are broken (NaN): the reply then fails its own schema.
private struct BrokenTextEncoder: EmbeddingEncoder {
    let base: any EmbeddingEncoder
    var embeddingSize: Int { base.embeddingSize }
    var pixelsPerImage: Int { base.pixelsPerImage }
    func encodeImages(pixels: [Float], count: Int) throws -> [[Float]] { try base.encodeImages(pixels: pixels, count: count) }
    func encodeTexts(tokenIDs: [[Int]]) throws -> [[Float]] { tokenIDs.map { _ in Array(repeating: .nan, count: embeddingSize) } }
}

/// The worker in process, on a real broker: a reply that fails its schema ends as an internal
/// error everywhere (the reply, the metrics, the log), not as a success.
final class WorkerMetricsTests: XCTestCase {
    func testAReplyThatFailsItsSchemaCountsAndLogsAsInternal() throws {
        let broker = try TestBroker.shared.get()
        let unique = UInt32.random(in: 0...UInt32.max)
        let topology = Topology(requestQueue: "req.\(unique)", deadLetterExchange: "dlx.\(unique)", deadLetterQueue: "dead.\(unique)")
        let embedder = try TinyModel.embedder.get()
        let (metrics, registry) = WorkerMetrics.prometheus()
        let events = EventLog()
        let worker = try Worker(
            settings: WorkerSettings(
                link: BrokerLink.Configuration(settings: AMQPSettings(url: try AMQPURL(broker.url)), topology: topology),
                modelName: "tiny"),
            encoder: BrokenTextEncoder(base: embedder.encoder), preparer: embedder.preparer, metrics: metrics, onEvent: { events.add($0) })
        worker.start()
        defer { worker.stop(timeout: .seconds(10)) }

        let client = try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url)))
        try topology.declare(on: client)  // the worker declares it too, but maybe not before we publish
        let replies = try client.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try client.consume(replies)
        let image = try TinyModel.Reference.load().imageCell(0)
        for (id, cell) in [("image", [JSONValue.string(image), ""]), ("text", ["", "a cat"])] {
            let body = JSONWriter.serialize(["input_data": ["columns": ["image", "text"], "index": [0], "data": [.array(cell)]]])
            try client.publish(routingKey: topology.requestQueue, body: body,
                               properties: AMQPProperties(contentType: "application/json", correlationID: id, replyTo: replies))
        }
        var types: [String: String] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while types.count < 2 && ContinuousClock.now < deadline {
            if case .delivery(let d)? = try client.nextEvent(timeout: .milliseconds(50)) {
                types[d.properties.correlationID ?? "?"] = d.properties.type
                XCTAssertEqual(d.properties.type == "error", (try JSONParser().parse(d.body))["error"]?["code"]?.string == "internal")
            }
        }
        XCTAssertEqual(types, ["image": "embeddings", "text": "error"])

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
        XCTAssertEqual(events.outcomes, ["image": "replied", "text": "failed internal"])
    }
}

/// The worker's request outcomes as it reports them, by correlation id.
private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var byID: [String: String] = [:]

    var outcomes: [String: String] { lock.withLock { byID } }

    func add(_ event: WorkerEvent) {
        lock.withLock {
            switch event {
            case .replied(let id, _, _): byID[id ?? "?"] = "replied"
            case .failed(let id, let error): byID[id ?? "?"] = "failed \(error.code.rawValue)"
            case .link: break
            }
        }
    }
}
