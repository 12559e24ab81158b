/// The client halves of the contract: what a caller publishes and how it reads what comes back.
/// `RequestDecoder` and `ReplyEncoder` are the worker's halves of the same two messages.

/// Writes request bodies of the contract (`{"input_data": {"columns": ["image", "text"], ...}}`).
public enum RequestEncoder {
    /// One request with `rows` in order; an absent cell is written as `""`, as the contract says.
    public static func encode(_ rows: [EmbeddingRequest.Row]) -> [UInt8] {
        let data: [JSONValue] = rows.map { [.string($0.image ?? ""), .string($0.text ?? "")] }
        return JSONWriter.serialize([
            "input_data": [
                "columns": ["image", "text"],
                "index": .array(data.indices.map { .number(Double($0)) }),
                "data": .array(data),
            ],
        ])
    }

    /// One row per image, then one per text.
    public static func encode(images: [String], texts: [String]) -> [UInt8] {
        encode(images.map { EmbeddingRequest.Row(image: $0) } + texts.map { EmbeddingRequest.Row(text: $0) })
    }
}

/// A reply body that is neither embeddings nor an error of the contract (no well-behaved worker
/// sends one).
public struct MalformedReply: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Reads reply bodies: the rows of an `embeddings` reply, or the `ClipError` of an error reply.
public enum ReplyDecoder {
    /// The reply's rows, or the error it carries; throws when the body is neither.
    public static func decode(_ body: some Collection<UInt8>) throws(MalformedReply) -> Result<[ReplyRow], ClipError> {
        let document: JSONValue
        do {
            document = try JSONParser().parse(body)
        } catch {
            throw MalformedReply(message: "the reply is not JSON: \(error)")
        }
        if let error = document["error"] {
            guard let raw = error["code"]?.string, let code = ErrorCode(rawValue: raw) else {
                throw MalformedReply(message: "an error reply without a known code")
            }
            return .failure(ClipError(code, error["message"]?.string ?? raw, pointer: error["pointer"]?.string))
        }
        guard let rows = document.array else { throw MalformedReply(message: "the reply is not an array") }
        return .success(rows.map { ReplyRow(imageFeatures: floats($0["image_features"]), textFeatures: floats($0["text_features"])) })
    }

    private static func floats(_ value: JSONValue?) -> [Float]? {
        value?.array.map { $0.map { Float($0.number ?? .nan) } }
    }
}
