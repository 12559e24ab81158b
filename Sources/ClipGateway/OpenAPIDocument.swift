import ClipSchema

/// The OpenAPI 3.1 document of the gateway (Schemas/openapi.json), as one gateway serves it: the
/// `model` names it accepts and, when configured, the one `dimensions` it admits, so that a client
/// generated from the document, or a fuzzer driving it, sends what this gateway takes.
enum OpenAPIDocument {
    static func served(models: [String], dimensions: Int?) -> [UInt8] {
        let committed = PackageResources.openapi_json
        guard var document = try? JSONParser(maxDepth: 256).parse(committed) else { return committed }
        let properties = ["components", "schemas", "EmbeddingsRequest", "properties"]
        document = document.setting(properties + ["model", "enum"], to: .array(models.map { .string($0) }))
        if let dimensions {
            document = document.setting(properties + ["dimensions", "enum"], to: [.number(Double(dimensions)), .null])
        }
        return JSONWriter.serialize(document)
    }
}

extension JSONValue {
    /// This value with the member at `path` (object keys) set; objects on the way must exist.
    func setting(_ path: some Collection<String>, to value: JSONValue) -> JSONValue {
        guard let key = path.first else { return value }
        guard var object = self.object else { return self }
        if path.count == 1 {
            object[key] = value
        } else if let child = object[key] {
            object[key] = child.setting(path.dropFirst(), to: value)
        } else {
            return self
        }
        return .object(object)
    }
}
