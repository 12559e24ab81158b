import ClipSchema
import Foundation
import XCTest

@testable import ClipGateway

/// The translation between HTTP protocols and the contract, without a broker.
final class EmbeddingsProtocolTests: XCTestCase {
    private let limits = RequestLimits(maxBodyBytes: 1 << 20, maxRows: 4)
    private let models = ["clipq"]

    private func parse(_ json: String) throws(GatewayError) -> EmbeddingsProtocol.Request {
        try EmbeddingsProtocol.parse(Array(json.utf8), limits: limits, models: models)
    }

    private func refusal(_ json: String) -> GatewayError? {
        do {
            _ = try parse(json)
            return nil
        } catch {
            return error
        }
    }

    func testInputsBecomeOneRowEach() throws {
        XCTAssertEqual(try parse(#"{"input": "a cat", "model": "clipq"}"#).rows, [.init(text: "a cat")])
        XCTAssertEqual(try parse(#"{"input": ["a", "b"], "model": "clipq"}"#).rows, [.init(text: "a"), .init(text: "b")])
        XCTAssertEqual(
            try parse(#"{"input": [{"image": "aGk="}, {"text": "b"}], "model": "clipq"}"#).rows,
            [.init(image: "aGk="), .init(text: "b")])
        XCTAssertEqual(
            try parse(#"{"input": ["aGk=", "http://x/y.png"], "model": "clipq", "modality": "image"}"#).rows,
            [.init(image: "aGk="), .init(image: "http://x/y.png")])
        let request = try parse(#"{"input": "a", "model": "clipq", "encoding_format": "base64", "dimensions": 768}"#)
        XCTAssertEqual(request.encodingFormat, .base64)
        XCTAssertEqual(request.dimensions, 768)
    }

    func testAKnownEmbeddingLengthRefusesOtherDimensionsBeforeTheQueue() throws {
        let body = Array(#"{"input": "a", "model": "clipq", "dimensions": 512}"#.utf8)
        XCTAssertNoThrow(try EmbeddingsProtocol.parse(body, limits: limits, models: models))
        XCTAssertThrowsError(try EmbeddingsProtocol.parse(body, limits: limits, models: models, dimensions: 768)) { error in
            XCTAssertEqual((error as? GatewayError)?.param, "dimensions")
        }
        let right = Array(#"{"input": "a", "model": "clipq", "dimensions": 768}"#.utf8)
        XCTAssertEqual(try EmbeddingsProtocol.parse(right, limits: limits, models: models, dimensions: 768).dimensions, 768)
    }

    func testRefusalsSayWhichParameter() {
        let cases: [(String, Int, String, String?)] = [
            (#"{"input": "a", "model": "gpt"}"#, 404, "model_not_found", "model"),
            (#"{"input": "a"}"#, 400, "schema_violation", "model"),
            (#"{"model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": [1, 2], "model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": [[1, 2]], "model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": "", "model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": [{"text": "a", "image": "b"}], "model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": [{"audio": "a"}], "model": "clipq"}"#, 400, "schema_violation", "input"),
            (#"{"input": ["a", "b", "c", "d", "e"], "model": "clipq"}"#, 400, "too_many_rows", "input"),
            (#"{"input": "a", "model": "clipq", "encoding_format": "int8"}"#, 400, "schema_violation", "encoding_format"),
            (#"{"input": "a", "model": "clipq", "dimensions": 0}"#, 400, "schema_violation", "dimensions"),
            (#"{"input": "a", "model": "clipq", "dimensions": 1.5}"#, 400, "schema_violation", "dimensions"),
            (#"{"input": "a", "model": "clipq", "modality": "audio"}"#, 400, "schema_violation", "modality"),
            (#"{"input": "a", "model": "clipq", "user": {}}"#, 400, "schema_violation", "user"),
            (#"["input"]"#, 400, "schema_violation", nil),
            (#"{"input": "#, 400, "invalid_json", nil),
        ]
        for (body, status, code, param) in cases {
            let error = refusal(body)
            XCTAssertEqual(error?.status, status, body)
            XCTAssertEqual(error?.code, code, body)
            XCTAssertEqual(error?.param, param, body)
        }
    }

    func testResponseIsNormalizedInOrderAndHonoursTheFormat() throws {
        let rows = [ReplyRow(textFeatures: [3, 4]), ReplyRow(imageFeatures: [0, -2])]
        var request = try parse(#"{"input": ["a", "b"], "model": "clipq"}"#)
        let body = try JSONParser().parse(try EmbeddingsProtocol.response(rows, for: request))
        XCTAssertEqual(body["object"], "list")
        XCTAssertEqual(body["model"], "clipq")
        XCTAssertEqual(body["usage"], ["prompt_tokens": 0, "total_tokens": 0])
        XCTAssertEqual(body["data"]?.array?.map { $0["index"] }, [0, 1])
        XCTAssertEqual(body["data"]?.array?[0]["embedding"], [0.6, 0.8])
        XCTAssertEqual(body["data"]?.array?[1]["embedding"], [0, -1])

        request.encodingFormat = .base64
        let encoded = try JSONParser().parse(try EmbeddingsProtocol.response(rows, for: request))
        let text = try XCTUnwrap(encoded["data"]?.array?[0]["embedding"]?.string)
        XCTAssertEqual(Array(try XCTUnwrap(Data(base64Encoded: text))), [0x9A, 0x99, 0x19, 0x3F, 0xCD, 0xCC, 0x4C, 0x3F], "0.6f, 0.8f little-endian")

        request.dimensions = 3
        XCTAssertThrowsError(try EmbeddingsProtocol.response(rows, for: request)) { error in
            XCTAssertEqual((error as? GatewayError)?.param, "dimensions")
        }
        request.dimensions = 2
        XCTAssertNoThrow(try EmbeddingsProtocol.response(rows, for: request))
    }

    func testWorkerErrorPointersAreSaidInTheCallersTerms() {
        let error = EmbeddingsProtocol.translate(ClipError(.imageDecodeFailed, "truncated", pointer: "/input_data/data/3/0"))
        XCTAssertEqual(error.status, 422)
        XCTAssertEqual(error.pointer, "/input/3")
        XCTAssertEqual(error.param, "input")
        let body = try? JSONParser().parse(EmbeddingsProtocol.errorBody(error))
        XCTAssertEqual(body?["error"]?["code"], "image_decode_failed")
        XCTAssertEqual(body?["error"]?["type"], "invalid_request_error")
        XCTAssertEqual(body?["error"]?["message"], "truncated (at /input/3)")
    }

    func testEveryContractCodeHasAStatus() {
        let statuses = Dictionary(uniqueKeysWithValues: ErrorCode.allCases.map { ($0, GatewayError.httpStatus(for: $0)) })
        XCTAssertEqual(statuses[.schemaViolation], 400)
        XCTAssertEqual(statuses[.messageTooLarge], 413)
        XCTAssertEqual(statuses[.imageFetchFailed], 422)
        XCTAssertEqual(statuses[.deadlineExceeded], 504)
        XCTAssertEqual(statuses[.internal], 500)
        for (code, status) in statuses { XCTAssertTrue((400..<600).contains(status), code.rawValue) }
    }

    func testScoreErrorsAreTheContractsShape() throws {
        let body = try JSONParser().parse(ScoreProtocol.errorBody(GatewayError(ClipError(.schemaViolation, "bad", pointer: "/input_data"))))
        XCTAssertEqual(body, ["error": ["code": "schema_violation", "message": "bad", "pointer": "/input_data"]])
        XCTAssertTrue(try BuiltinSchema.error.compiled().isValid(body))
    }
}

final class GatewaySecurityTests: XCTestCase {
    func testKeysAreMatchedWholeAndOnlyAsBearer() {
        let keys = APIKeys(["alpha-key", "beta"])
        XCTAssertTrue(keys.accepts(authorization: "Bearer alpha-key"))
        XCTAssertTrue(keys.accepts(authorization: "bearer beta"))
        XCTAssertFalse(keys.accepts(authorization: nil))
        XCTAssertFalse(keys.accepts(authorization: "Bearer alpha"))
        XCTAssertFalse(keys.accepts(authorization: "Bearer alpha-key2"))
        XCTAssertFalse(keys.accepts(authorization: "Basic alpha-key"))
        XCTAssertFalse(keys.accepts(authorization: "alpha-key"))
        XCTAssertFalse(keys.accepts(authorization: "Bearer "))
        XCTAssertFalse("\(keys)".contains("alpha"), "keys never print")
    }

    func testKeyFileSkipsCommentsAndBlankLinesAndMustHoldAKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-keys-\(getpid())")
        defer { try? FileManager.default.removeItem(at: file) }
        try "# ops\n  one  \n\n#two\nthree\n".write(to: file, atomically: true, encoding: .utf8)
        let keys = try APIKeys(contentsOf: file.path)
        XCTAssertEqual(keys.count, 2)
        XCTAssertTrue(keys.accepts(authorization: "Bearer one"))
        XCTAssertFalse(keys.accepts(authorization: "Bearer #two"))
        try "# nothing\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try APIKeys(contentsOf: file.path))
    }

    func testOnlyLoopbackMayGoWithoutKeys() {
        XCTAssertNoThrow(try GatewaySettings(host: "127.0.0.1").validate())
        XCTAssertNoThrow(try GatewaySettings(host: "::1").validate())
        XCTAssertNoThrow(try GatewaySettings(host: "localhost").validate())
        XCTAssertThrowsError(try GatewaySettings(host: "0.0.0.0").validate())
        XCTAssertThrowsError(try GatewaySettings(host: "10.1.2.3").validate())
        XCTAssertNoThrow(try GatewaySettings(host: "0.0.0.0", apiKeys: APIKeys(["k"])).validate())
    }

    func testTraceparentIsKeptOnlyWhenWellFormed() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        XCTAssertEqual(TraceHeaders(traceparent: valid, requestID: "r").traceparent, valid)
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "garbage", "",
        ] {
            XCTAssertNil(TraceHeaders(traceparent: bad, requestID: nil).traceparent, bad)
        }
        XCTAssertEqual(TraceHeaders(traceparent: nil, requestID: "abc-1").requestID, "abc-1")
        let generated = TraceHeaders(traceparent: nil, requestID: "has space\nand newline").requestID
        XCTAssertFalse(generated.contains(" "), "an unsafe request id is replaced")
        XCTAssertEqual(generated.count, 36)
    }
}
