import ClipSchema
import Foundation
import XCTest

/// The contract as a whole: the documented samples, the closed code list, replies and
/// dead-letter records as the worker writes them.
final class ContractTests: XCTestCase {
    func testSchemasInTheBinaryAreTheFilesInSchemas() throws {
        for schema in BuiltinSchema.allCases {
            let onDisk = try Fixtures.bytes(Fixtures.repositoryRoot.appendingPathComponent("Schemas/" + schema.fileName))
            XCTAssertEqual(schema.source, onDisk, schema.fileName)
        }
    }

    func testEverySchemaDocumentsItselfAndAcceptsItsExamples() throws {
        for schema in BuiltinSchema.allCases {
            let document = try schema.document
            XCTAssertEqual(document["$schema"]?.string, "https://json-schema.org/draft/2020-12/schema")
            XCTAssertEqual(document["$id"]?.string, "https://clipq.dev/schemas/\(schema.fileName)")
            XCTAssertNotNil(document["title"]?.string)
            XCTAssertNotNil(document["description"]?.string)
            let examples = try XCTUnwrap(document["examples"]?.array, schema.fileName)
            XCTAssertFalse(examples.isEmpty)
            let compiled = try schema.compiled()
            for (i, example) in examples.enumerated() {
                XCTAssertEqual(compiled.validate(example), [], "\(schema.fileName) example \(i)")
            }
        }
    }

    func testTheThreeDocumentedRequestsDecodeAndTheirRepliesValidate() throws {
        let decoder = try RequestDecoder()
        let encoder = try ReplyEncoder()
        let examples = try XCTUnwrap(try BuiltinSchema.request.document["examples"]?.array)
        XCTAssertEqual(examples.count, 3)
        for example in examples {
            let request = try decoder.decode(JSONWriter.serialize(example))
            // The reply has one row per request row, with the features the row asked for.
            let rows = request.rows.map { row in
                ReplyRow(
                    imageFeatures: row.image == nil ? nil : [Float](repeating: 0.5, count: 768),
                    textFeatures: row.text == nil ? nil : [Float](repeating: -0.25, count: 768))
            }
            let reply = try JSONParser().parse(try encoder.encode(rows))
            XCTAssertEqual(reply.array?.count, request.rows.count)
        }
    }

    func testErrorCodesAreTheSchemasClosedList() throws {
        let listed = try XCTUnwrap(try BuiltinSchema.error.document["$defs"]?["code"]?["enum"]?.array)
        XCTAssertEqual(listed.compactMap(\.string), ErrorCode.allCases.map(\.rawValue))
        for code in ErrorCode.allCases { XCTAssertFalse(code.meaning.isEmpty) }
    }

    func testEveryErrorReplyValidates() throws {
        let schema = try BuiltinSchema.error.compiled()
        for code in ErrorCode.allCases {
            for pointer in [nil, "", "/input_data/data/3/0", "/a~1b"] {
                let body = ClipError(code, "what went wrong", pointer: pointer).replyBody
                XCTAssertEqual(schema.validate(try JSONParser().parse(body)), [], "\(code) \(pointer ?? "-")")
            }
        }
    }

    func testReplyEncodingIsExactAndChecked() throws {
        let encoder = try ReplyEncoder()
        let image: [Float] = [0.1, -1e-5, 3.4028235e38, 0]
        let text: [Float] = [1, 2, 3, 4]
        let body = try encoder.encode([ReplyRow(imageFeatures: image), ReplyRow(imageFeatures: image, textFeatures: text)])
        XCTAssertEqual(
            String(decoding: body, as: UTF8.self),
            #"[{"image_features":[0.1,-1e-05,3.4028235e+38,0.0]},{"image_features":[0.1,-1e-05,3.4028235e+38,0.0],"text_features":[1.0,2.0,3.0,4.0]}]"#
        )
    }

    func testABrokenReplyIsAnInternalErrorNotAPublishedOne() throws {
        let encoder = try ReplyEncoder()
        for rows in [[ReplyRow(imageFeatures: [0.5, .nan])], [ReplyRow(textFeatures: [.infinity])], [ReplyRow()],
                     [ReplyRow(textFeatures: [])], []] {
            XCTAssertThrowsError(try encoder.encode(rows)) { error in
                XCTAssertEqual((error as? ClipError)?.code, .internal)
            }
        }
    }

    func testDeadLetterRecordsValidateAndKeepTheBodyExactly() throws {
        let body: [UInt8] = [0xFF, 0x00, 0x7B, 0x22]  // not UTF-8, not JSON: kept byte for byte
        let record = DeadLetterRecord(
            error: ClipError(.invalidJSON, "string is not valid UTF-8 at byte 0"), body: body,
            properties: ["correlation_id": "c-9", "reply_to": "replies", "delivery_mode": 2,
                         "headers": ["x-deadline": 1_796_000_000_000]],
            exchange: "", routingKey: "clipq.requests", redelivered: true, workerID: "host/1",
            workerVersion: "0.1.0", model: "tiny-clip", timeMilliseconds: 1_796_000_000_123)
        let json = record.json
        XCTAssertEqual(try BuiltinSchema.deadLetter.compiled().validate(json), [])
        XCTAssertEqual(json["time"]?.string, "2026-11-30T00:53:20.123Z")
        let encoded = try XCTUnwrap(json["original"]?["body_base64"]?.string)
        XCTAssertEqual(Data(base64Encoded: encoded).map(Array.init), body)
    }
}
