/// The contract's schemas (Schemas/*.json at the repository root), compiled into the binary
/// so a worker needs no files beside it to validate.
public enum BuiltinSchema: String, CaseIterable, Sendable {
    case request
    case reply
    case error
    case deadLetter = "dead-letter"

    /// The schema document's text, exactly as in Schemas/.
    public var source: [UInt8] {
        switch self {
        case .request: PackageResources.request_schema_json
        case .reply: PackageResources.reply_schema_json
        case .error: PackageResources.error_schema_json
        case .deadLetter: PackageResources.dead_letter_schema_json
        }
    }

    public var fileName: String { rawValue + ".schema.json" }

    public var document: JSONValue {
        get throws(JSONParseError) { try JSONParser().parse(source) }
    }

    /// The compiled schema. The built-in documents are resolvable from each other by `$id`
    /// (the dead-letter record's error is the error reply's).
    public func compiled() throws(SchemaCompileError) -> JSONSchema {
        let others = Self.allCases.filter { $0 != self }.compactMap { try? $0.document }
        let document: JSONValue
        do {
            document = try self.document
        } catch {
            throw SchemaCompileError(location: fileName, message: "not JSON: \(error)")
        }
        return try JSONSchema(document, alongside: others)
    }
}
