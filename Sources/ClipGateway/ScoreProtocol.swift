import ClipSchema

/// The hosted endpoint's `/score` protocol: the body is a contract request as is, the answer is
/// the worker's reply array unchanged (embeddings not normalized), errors are the contract's
/// `{"error": {"code", "message", "pointer"}}`.
public enum ScoreProtocol {
    public static func errorBody(_ error: GatewayError) -> [UInt8] {
        var object = JSONObject()
        object["code"] = .string(error.code)
        object["message"] = .string(error.message)
        if let pointer = error.pointer { object["pointer"] = .string(pointer) }
        return JSONWriter.serialize(["error": .object(object)])
    }
}
