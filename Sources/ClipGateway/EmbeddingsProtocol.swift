import ClipSchema
import Foundation

/// OpenAI's `/v1/embeddings` protocol, translated to and from contract requests and replies.
///
/// `input` is a string, an array of strings, or an array of objects `{"text": ...}` /
/// `{"image": URL | data URI | base64}` (Jina's convention, texts and images mixed); with
/// `"modality": "image"` plain strings are images (Infinity's convention). Each input is one
/// contract row, so the reply's row `i` is `data[i]`. Vectors are L2-normalized, as OpenAI
/// clients assume (cosine = dot product); `/score` keeps them as the model made them.
public enum EmbeddingsProtocol {
    public enum EncodingFormat: String, Sendable {
        case float
        /// Little-endian float32 bytes in base64, as OpenAI sends them.
        case base64
    }

    /// A request that passed the gateway's checks, ready for the queue.
    public struct Request: Sendable, Equatable {
        public var rows: [EmbeddingRequest.Row]
        public var model: String
        public var encodingFormat: EncodingFormat
        /// Accepted only when it equals the embeddings' length (known once the reply is in).
        public var dimensions: Int?
    }

    /// Reads an OpenAI embeddings request; errors carry the contract code and OpenAI's `param`.
    /// - embeddingLength: the model's, when the gateway is told it; then a `dimensions` other
    ///   than it is refused here, before the queue.
    public static func parse(
        _ body: [UInt8], limits: RequestLimits, models: [String], dimensions embeddingLength: Int? = nil
    ) throws(GatewayError) -> Request {
        let document: JSONValue
        do {
            document = try JSONParser(maxDepth: limits.maxDepth).parse(body)
        } catch {
            throw GatewayError(ClipError(.invalidJSON, "the body is not JSON: \(error.description)"))
        }
        guard document.object != nil else { throw invalid("the body must be a JSON object", pointer: "") }

        guard let model = document["model"]?.string else {
            throw invalid("you must provide a model parameter (a string)", pointer: "/model", param: "model")
        }
        guard models.contains(model) else {
            throw GatewayError(
                status: 404, code: "model_not_found",
                message: "the model `\(model.prefix(200))` does not exist; this gateway serves \(models.joined(separator: ", "))",
                param: "model")
        }

        let encodingFormat: EncodingFormat
        switch document["encoding_format"] {
        case nil, .null?: encodingFormat = .float
        case .string(let text)? where EncodingFormat(rawValue: text) != nil: encodingFormat = EncodingFormat(rawValue: text) ?? .float
        default:
            throw invalid("encoding_format must be \"float\" or \"base64\"", pointer: "/encoding_format", param: "encoding_format")
        }

        var dimensions: Int?
        switch document["dimensions"] {
        case nil, .null?: break
        case .number(let n)? where n.rounded() == n && n >= 1 && n <= 1_000_000: dimensions = Int(n)
        default: throw invalid("dimensions must be a positive integer", pointer: "/dimensions", param: "dimensions")
        }
        if let dimensions, let embeddingLength, dimensions != embeddingLength {
            throw notShortened(dimensions: embeddingLength)
        }

        switch document["user"] {
        case nil, .null?, .string?: break  // OpenAI's end-user id: accepted, not used
        default: throw invalid("user must be a string", pointer: "/user", param: "user")
        }

        let imagesByDefault: Bool
        switch document["modality"] {
        case nil, .null?, .string("text")?: imagesByDefault = false
        case .string("image")?: imagesByDefault = true
        default: throw invalid("modality must be \"text\" or \"image\"", pointer: "/modality", param: "modality")
        }

        let rows = try self.rows(document["input"], imagesByDefault: imagesByDefault, limits: limits)
        return Request(rows: rows, model: model, encodingFormat: encodingFormat, dimensions: dimensions)
    }

    private static func rows(_ input: JSONValue?, imagesByDefault: Bool, limits: RequestLimits) throws(GatewayError) -> [EmbeddingRequest.Row] {
        func plain(_ text: String, pointer: String) throws(GatewayError) -> EmbeddingRequest.Row {
            guard !text.isEmpty else { throw invalid("an input must not be empty", pointer: pointer, param: "input") }
            return imagesByDefault ? EmbeddingRequest.Row(image: text) : EmbeddingRequest.Row(text: text)
        }
        switch input {
        case .string(let text)?:
            return [try plain(text, pointer: "/input")]
        case .array(let items)?:
            guard !items.isEmpty else { throw invalid("input must not be an empty array", pointer: "/input", param: "input") }
            // Token arrays first: a caller sending them needs that answer, not the row limit's.
            if let i = items.firstIndex(where: { $0.number != nil || $0.array != nil }) {
                throw invalid(
                    "token arrays are not supported: send text (this gateway's workers run CLIP's own tokenizer)",
                    pointer: "/input/\(i)", param: "input")
            }
            guard items.count <= limits.maxRows else {
                throw GatewayError(
                    ClipError(.tooManyRows, "\(items.count) inputs is over the limit of \(limits.maxRows) per request", pointer: "/input"),
                    param: "input")
            }
            var rows: [EmbeddingRequest.Row] = []
            rows.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let pointer = "/input/\(i)"
                switch item {
                case .string(let text): rows.append(try plain(text, pointer: pointer))
                case .object(let object): rows.append(try row(object, pointer: pointer))
                default:
                    throw invalid("each input must be a string or an object {\"text\": ...} or {\"image\": ...}", pointer: pointer, param: "input")
                }
            }
            return rows
        case nil:
            throw invalid("you must provide an input parameter", pointer: "/input", param: "input")
        default:
            throw invalid("input must be a string or an array", pointer: "/input", param: "input")
        }
    }

    /// `{"text": "..."}` or `{"image": "..."}`: exactly one, a non-empty string.
    private static func row(_ object: JSONObject, pointer: String) throws(GatewayError) -> EmbeddingRequest.Row {
        guard object.count == 1, let key = object.keys.first, key == "text" || key == "image" else {
            throw invalid("an input object must have exactly one member, \"text\" or \"image\"", pointer: pointer, param: "input")
        }
        guard let value = object[key]?.string, !value.isEmpty else {
            throw invalid("\(key) must be a non-empty string", pointer: "\(pointer)/\(key)", param: "input")
        }
        return key == "text" ? EmbeddingRequest.Row(text: value) : EmbeddingRequest.Row(image: value)
    }

    private static func invalid(_ message: String, pointer: String, param: String? = nil) -> GatewayError {
        GatewayError(ClipError(.schemaViolation, message, pointer: pointer), param: param)
    }

    /// Where a worker's error points (`/input_data/data/3/0`), said in the caller's terms
    /// (`/input/3`): each input is one row.
    public static func translate(_ error: ClipError) -> GatewayError {
        var translated = GatewayError(error, param: nil)
        if let pointer = error.pointer, pointer.hasPrefix("/input_data/data/") {
            let row = pointer.dropFirst("/input_data/data/".count).prefix { $0 != "/" }
            translated.pointer = "/input/\(row)"
            translated.param = "input"
        } else {
            translated.pointer = nil
        }
        return translated
    }

    /// The response body for the reply's rows, or the error that stops it (a `dimensions` the
    /// model does not have).
    public static func response(_ rows: [ReplyRow], for request: Request) throws(GatewayError) -> [UInt8] {
        let vectors = rows.map { $0.imageFeatures ?? $0.textFeatures ?? [] }
        guard vectors.count == request.rows.count else {
            throw GatewayError.badReply("\(vectors.count) rows for \(request.rows.count) inputs")
        }
        if let dimensions = request.dimensions, let length = vectors.first?.count, dimensions != length {
            throw notShortened(dimensions: length)
        }
        let floats = vectors.reduce(0) { $0 + $1.count }
        var writer = JSONWriter(reservingCapacity: 128 + floats * (request.encodingFormat == .float ? 14 : 6))
        writer.raw(#"{"object":"list","data":["#)
        for (i, vector) in vectors.enumerated() {
            if i > 0 { writer.raw(",") }
            writer.raw(#"{"object":"embedding","index":\#(i),"embedding":"#)
            let normalized = l2Normalized(vector)
            switch request.encodingFormat {
            case .float: writer.writeFloats(normalized)
            case .base64: writer.writeString(base64LittleEndian(normalized))
            }
            writer.raw("}")
        }
        writer.raw(#"],"model":"#)
        writer.writeString(request.model)
        // The gateway does not tokenize (workers do, truncating at 77 tokens): it reports no
        // count rather than an estimate.
        writer.raw(#","usage":{"prompt_tokens":0,"total_tokens":0}}"#)
        return writer.bytes
    }

    private static func notShortened(dimensions: Int) -> GatewayError {
        GatewayError(
            status: 400, code: ErrorCode.schemaViolation.rawValue,
            message: "dimensions must be \(dimensions), the length of this model's embeddings: CLIP is not trained to be "
                + "shortened (not Matryoshka), so the gateway does not truncate",
            pointer: "/dimensions", param: "dimensions")
    }

    /// Unit length; a zero vector stays zero.
    public static func l2Normalized(_ vector: [Float]) -> [Float] {
        var sum = 0.0
        for x in vector { sum += Double(x) * Double(x) }
        guard sum > 0, sum.isFinite else { return vector }
        let scale = 1 / sum.squareRoot()
        return vector.map { Float(Double($0) * scale) }
    }

    static func base64LittleEndian(_ vector: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(vector.count * 4)
        for x in vector {
            let bits = x.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
    }

    /// OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.
    public static func errorBody(_ error: GatewayError) -> [UInt8] {
        let type: String
        switch error.status {
        case 401: type = "authentication_error"
        case 404: type = "invalid_request_error"
        case 500...: type = "server_error"
        default: type = "invalid_request_error"
        }
        var message = error.message
        if let pointer = error.pointer, !pointer.isEmpty { message += " (at \(pointer))" }
        var object = JSONObject()
        object["message"] = .string(message)
        object["type"] = .string(type)
        object["param"] = error.param.map { .string($0) } ?? .null
        object["code"] = .string(error.status == 401 ? "invalid_api_key" : error.code)
        return JSONWriter.serialize(["error": .object(object)])
    }
}
