/// A compiled JSON Schema (draft 2020-12), ready to validate many instances.
///
/// Supported: boolean schemas; type, enum, const; multipleOf, minimum, maximum,
/// exclusiveMinimum, exclusiveMaximum; minLength, maxLength, pattern; prefixItems, items,
/// contains, minContains, maxContains, minItems, maxItems, uniqueItems; properties,
/// patternProperties, additionalProperties, propertyNames, required, dependentRequired,
/// dependentSchemas, minProperties, maxProperties; allOf, anyOf, oneOf, not, if/then/else;
/// `$ref` to a JSON Pointer in the same document or in another document passed alongside
/// (by its `$id`), and `$defs`. `format` and `content*` are annotations, as the spec's default
/// says. A schema that uses a keyword this validator cannot assert (unevaluatedProperties,
/// `$dynamicRef`, ...) is refused at compile time rather than silently passed.
public struct JSONSchema: Sendable {
    let nodes: [SchemaNode]
    let rootIndex: Int
    /// The root document's `$id`, if it has one.
    public let id: String?

    /// Compiles `document`; `$ref`s may point into any of `alongside`, found by their `$id`.
    public init(_ document: JSONValue, alongside: [JSONValue] = []) throws(SchemaCompileError) {
        var compiler = SchemaCompiler()
        let rootURI = try compiler.register(document)
        for other in alongside { _ = try compiler.register(other) }
        rootIndex = try compiler.compile(uri: rootURI, pointer: "")
        nodes = compiler.nodes
        id = document["$id"]?.string
    }

    /// Every violation, in schema order, up to `limit` (hostile instances can have millions).
    public func validate(_ instance: JSONValue, limit: Int = 100) -> [SchemaViolation] {
        var evaluator = SchemaEvaluator(nodes: nodes, limit: limit)
        evaluator.evaluate(rootIndex, instance, at: "")
        return evaluator.violations
    }

    public func isValid(_ instance: JSONValue) -> Bool {
        validate(instance, limit: 1).isEmpty
    }
}

/// One way an instance fails a schema: where in the instance, which keyword at which schema
/// location, and a message for a person.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// JSON Pointer into the instance ("" is the whole document).
    public var instancePointer: String
    public var keyword: String
    /// The keyword's location: the schema document's name and a JSON Pointer fragment.
    public var schemaLocation: String
    public var message: String

    public var description: String {
        "\(instancePointer.isEmpty ? "/" : instancePointer): \(keyword): \(message) (\(schemaLocation))"
    }
}

/// Why a schema could not be compiled.
public struct SchemaCompileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: String
    public var message: String
    public var description: String { "\(location): \(message)" }
}
