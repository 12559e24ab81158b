/// The embeddings of one request row: image, text, or both, as the row carried them.
public struct ReplyRow: Equatable, Sendable {
    public var imageFeatures: [Float]?
    public var textFeatures: [Float]?

    public init(imageFeatures: [Float]? = nil, textFeatures: [Float]? = nil) {
        self.imageFeatures = imageFeatures
        self.textFeatures = textFeatures
    }
}

/// Writes replies and checks them against reply.schema.json before they leave the worker.
public struct ReplyEncoder: Sendable {
    private let schema: JSONSchema

    public init() throws(SchemaCompileError) {
        schema = try BuiltinSchema.reply.compiled()
    }

    /// The reply body: `[{"image_features": [...]}, {"text_features": [...]}, ...]`, floats in
    /// their shortest round-trip form. The bytes are parsed back and validated, so what is
    /// published is exactly what was checked; a non-finite value or an empty row is `internal`.
    public func encode(_ rows: [ReplyRow]) throws(ClipError) -> [UInt8] {
        let body = Self.serialize(rows)
        let document: JSONValue
        do {
            document = try JSONParser().parse(body)
        } catch {
            throw ClipError(.internal, "reply is not JSON: \(error)")
        }
        if let violation = schema.validate(document, limit: 1).first {
            throw ClipError(.internal, "reply breaks reply.schema.json at \(violation.instancePointer): \(violation.message)")
        }
        return body
    }

    static func serialize(_ rows: [ReplyRow]) -> [UInt8] {
        let floats = rows.reduce(0) { $0 + ($1.imageFeatures?.count ?? 0) + ($1.textFeatures?.count ?? 0) }
        var writer = JSONWriter(reservingCapacity: 16 + floats * 14)
        writer.raw("[")
        for (i, row) in rows.enumerated() {
            if i > 0 { writer.raw(",") }
            writer.raw("{")
            if let image = row.imageFeatures {
                writer.raw("\"image_features\":")
                writer.writeFloats(image)
            }
            if let text = row.textFeatures {
                if row.imageFeatures != nil { writer.raw(",") }
                writer.raw("\"text_features\":")
                writer.writeFloats(text)
            }
            writer.raw("}")
        }
        writer.raw("]")
        return writer.bytes
    }
}
