import ClipAMQP
import ClipSchema
import ClipTestSupport
import ClipWorker
import Foundation
import XCTest

/// The hostile corpus (HostileCorpus.swift) through one real `clipq worker` with the URL guard on:
/// every case gets an error reply with its code and a dead-letter record naming it, and the same
/// worker process answers a good request afterwards.
final class HostileInputTests: XCTestCase {
    func testEveryHostileRequestIsRefusedWithItsCodeAndTheWorkerServesOn() throws {
        let broker = try TestBroker.shared.get()
        let topology = Topology.unique("hostile")
        let server = try LoopbackServer(host: HostileCorpus.serverHost, requests: HostileCorpus.route)
        defer { server.stop() }
        let worker = try WorkerProcess(broker: broker, topology: topology, arguments: HostileCorpus.workerArguments,
                                       allowPrivateNetworks: false)
        let pid = worker.process.processIdentifier

        let corpus = HostileCorpus.cases(serverPort: server.port)
        print("hostile corpus: \(corpus.count) cases")
        XCTAssertGreaterThanOrEqual(corpus.count, 200)
        XCTAssertEqual(Set(corpus.map(\.id)).count, corpus.count, "ids are unique")
        // Every code but `internal`, which is the worker's own fault: no input may cause it.
        XCTAssertEqual(Set(corpus.map(\.code)), Set(ErrorCode.allCases).subtracting([.internal]))

        let client = try ReplyCollector(broker: broker)
        for c in corpus { try client.send(c.body, id: c.id, to: topology.requestQueue, replyTo: c.replyTo, headers: c.headers) }
        let answered = corpus.filter { $0.replyTo != "" }
        try client.collect(Set(answered.map(\.id)), timeout: .seconds(90))

        let errorSchema = try BuiltinSchema.error.compiled()
        var wrong: [String] = []
        for c in answered {
            guard let reply = client.replies[c.id]?.first else {
                wrong.append("\(c.id): no reply")
                continue
            }
            let parsed = ParsedReply(reply)
            if parsed.errorCode != c.code.rawValue || reply.properties.type != "error" || !errorSchema.validate(parsed.value).isEmpty {
                wrong.append("\(c.id): expected \(c.code.rawValue), got \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
            }
            if client.replies[c.id]?.count != 1 { wrong.append("\(c.id): \(client.replies[c.id]?.count ?? 0) replies") }
        }
        XCTAssertEqual(wrong, [], "\(wrong.count) of \(answered.count) cases answered wrongly")

        // Every case left exactly one dead letter naming its code.
        let reader = DeadLetterQueue(connection: try AMQPConnection(AMQPSettings(url: try AMQPURL(broker.url))), topology: topology)
        let deadline = ContinuousClock.now + .seconds(30)
        while (try broker.messageCount(queue: topology.deadLetterQueue) ?? 0) < corpus.count && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let letters = try reader.browse(limit: corpus.count + 10)
        XCTAssertEqual(letters.count, corpus.count)
        let codes = Dictionary(grouping: letters) { $0.delivery.properties.correlationID ?? "?" }.mapValues { $0.map(\.record.error.code) }
        let misfiled = corpus.filter { codes[$0.id] != [$0.code] }.map { "\($0.id): \(codes[$0.id] ?? [])" }
        XCTAssertEqual(misfiled, [], "dead letters")

        // The same process still serves: a text, a base64 image and an image by URL.
        let tiny = HostileCorpus.image("tiny_2x3.jpg")
        try client.send(requestBody([("", "still serving"), (Data(tiny).base64EncodedString(), ""), (server.url("/ok.jpg"), "")]),
                        id: "good", to: topology.requestQueue)
        try client.collect(["good"])
        let good = try client.json("good")
        XCTAssertNil(good.errorCode, "\(good.value)")
        XCTAssertNotNil(good.features(0, "text_features"))
        XCTAssertEqual(good.features(1, "image_features"), good.features(2, "image_features"))
        XCTAssertNotNil(good.features(2, "image_features"))
        XCTAssertTrue(worker.process.isRunning)
        XCTAssertEqual(worker.process.processIdentifier, pid)
        XCTAssertFalse(worker.log.contains { $0.contains(#""code":"internal""#) }, "no input may be the worker's fault")
        XCTAssertEqual(try broker.messageCount(queue: topology.requestQueue), 0)
        XCTAssertEqual(worker.terminate(), 0)
    }
}
