import ClipSchema
import XCTest

@testable import ClipJobs

/// A chunk with bad rows: the bad ones get their errors, the good ones their embeddings, with
/// k + 1 requests for k bad rows (the good rows stay batched).
final class RowIsolationTests: XCTestCase {
    /// What a worker does: refuses the whole request at its first bad row (text "bad"), or
    /// answers every row; `pointerless` errors name no row.
    private func serve(_ rows: [EmbeddingRequest.Row], pointerless: Bool = false) -> Result<[ReplyRow], ClipError> {
        if let bad = rows.firstIndex(where: { $0.text == "bad" }) {
            return .failure(ClipError(.imageDecodeFailed, "row \(bad)", pointer: pointerless ? nil : EmbeddingRequest.imagePointer(row: bad)))
        }
        return .success(rows.map { ReplyRow(textFeatures: [Float($0.text?.count ?? 0)]) })
    }

    private func run(_ texts: [String?], pointerless: Bool = false) -> (outcomes: [RowOutcome], requests: [[Int]]) {
        var isolation = RowIsolation(texts.map { $0.map { .success(EmbeddingRequest.Row(text: $0)) } ?? .failure(ClipError(.schemaViolation, "empty")) })
        var requests: [[Int]] = []
        while !isolation.isComplete {
            for sent in isolation.takeRequests() {
                requests.append(sent)
                isolation.receive(serve(sent.map { EmbeddingRequest.Row(text: texts[$0]) }, pointerless: pointerless), for: sent)
            }
        }
        return (isolation.outcomes.map { $0! }, requests)
    }

    func testBadRowsAreFoundByTheirPointers() {
        let (outcomes, requests) = run(["a", "bad", "ccc", nil, "bad", "dddd"])
        XCTAssertEqual(requests, [[0, 1, 2, 4, 5], [0, 2, 4, 5], [0, 2, 5]])
        XCTAssertEqual(try outcomes[0].get().textFeatures, [1])
        XCTAssertEqual(try outcomes[5].get().textFeatures, [4])
        for i in [1, 4] {
            guard case .failure(let error) = outcomes[i] else { return XCTFail("row \(i) should fail") }
            XCTAssertEqual(error.code, .imageDecodeFailed)
            XCTAssertNil(error.pointer, "a pointer into a request the user never wrote is dropped")
        }
        guard case .failure(let empty) = outcomes[3] else { return XCTFail("row 3 should keep its problem") }
        XCTAssertEqual(empty.code, .schemaViolation)
    }

    func testAnErrorWithoutPointerIsRetriedRowByRow() {
        let (outcomes, requests) = run(["a", "bad", "cc"], pointerless: true)
        XCTAssertEqual(requests, [[0, 1, 2], [0], [1], [2]])
        XCTAssertEqual(outcomes.map { (try? $0.get()) != nil }, [true, false, true])
    }

    func testAReplyOfTheWrongLengthFailsItsRows() {
        var isolation = RowIsolation([.success(.init(text: "a")), .success(.init(text: "b"))])
        let sent = isolation.takeRequests()[0]
        isolation.receive(.success([ReplyRow(textFeatures: [1])]), for: sent)
        XCTAssertTrue(isolation.isComplete)
        let codes: [ErrorCode?] = isolation.outcomes.map { outcome in
            if case .failure(let error)? = outcome { return error.code }
            return nil
        }
        XCTAssertEqual(codes, [.internal, .internal])
    }
}
