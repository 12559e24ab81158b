import Foundation

/// A schema (or subschema) compiled to the checks its keywords make, in document order.
struct SchemaNode: Sendable {
    /// Where the schema is, for messages: "request.schema.json#/$defs/row".
    var location: String
    /// Set for the boolean schemas `true` and `false`.
    var constant: Bool?
    var rules: [Rule] = []
    var description: String?
}

struct Rule: Sendable {
    var keyword: String
    var location: String
    var check: Check
}

/// What a keyword asserts. Subschemas are indices into `JSONSchema.nodes`, so recursive
/// schemas are plain values.
enum Check: Sendable {
    case type(Set<String>)
    case enumeration([JSONValue])
    case const(JSONValue)
    case multipleOf(Double)
    case minimum(Double), maximum(Double), exclusiveMinimum(Double), exclusiveMaximum(Double)
    case minLength(Int), maxLength(Int)
    case pattern(Pattern)
    case prefixItems([Int])
    case items(Int, after: Int)
    case contains(Int, min: Int, max: Int?)
    case minItems(Int), maxItems(Int)
    case uniqueItems
    // Keyed by code points: instance property names are matched as JSON compares strings.
    case properties([ScalarString: Int])
    case patternProperties([(pattern: Pattern, schema: Int)])
    case additionalProperties(Int, declared: Set<ScalarString>, patterns: [Pattern])
    case propertyNames(Int)
    case required([String])
    case dependentRequired([ScalarString: [String]])
    case dependentSchemas([ScalarString: Int])
    case minProperties(Int), maxProperties(Int)
    case allOf([Int]), anyOf([Int]), oneOf([Int])
    case not(Int)
    case conditional(if: Int, then: Int?, else: Int?)
    case ref(Int)
}

/// Compiles schema documents into `SchemaNode`s, one per (document, JSON Pointer), so that a
/// `$ref` cycle compiles to a cycle of indices.
struct SchemaCompiler {
    private(set) var nodes: [SchemaNode] = []
    private var documents: [String: JSONValue] = [:]
    private var indexByLocation: [String: Int] = [:]

    /// Keywords that only annotate, or that another keyword reads (then/else, minContains...).
    private static let passive: Set<String> = [
        "$schema", "$id", "$comment", "$defs", "$anchor", "$vocabulary", "definitions", "title", "description",
        "examples", "default", "deprecated", "readOnly", "writeOnly", "format", "contentEncoding",
        "contentMediaType", "contentSchema", "then", "else", "minContains", "maxContains",
    ]
    private static let unsupported: Set<String> = [
        "unevaluatedItems", "unevaluatedProperties", "$dynamicRef", "$dynamicAnchor", "$recursiveRef",
        "$recursiveAnchor",
    ]

    /// Makes a document resolvable by its `$id`; returns the URI it is known by.
    mutating func register(_ document: JSONValue) throws(SchemaCompileError) -> String {
        var uri = document["$id"]?.string ?? "urn:clipq:schema:\(documents.count)"
        if uri.hasSuffix("#") { uri.removeLast() }
        guard documents[uri] == nil else {
            throw SchemaCompileError(location: uri, message: "two schema documents have this $id")
        }
        documents[uri] = document
        return uri
    }

    mutating func compile(uri: String, pointer: String) throws(SchemaCompileError) -> Int {
        let key = uri + "#" + pointer
        if let index = indexByLocation[key] { return index }
        let location = Self.displayName(uri) + "#" + pointer
        guard let document = documents[uri], let schema = JSONPointer.resolve(pointer, in: document) else {
            throw SchemaCompileError(location: location, message: "no schema at this location")
        }
        let index = nodes.count
        nodes.append(SchemaNode(location: location))
        indexByLocation[key] = index
        nodes[index] = try build(schema, uri: uri, pointer: pointer, location: location)
        return index
    }

    private static func displayName(_ uri: String) -> String {
        uri.hasPrefix("urn:clipq:schema:") ? "" : String(uri.split(separator: "/").last ?? "")
    }

    private mutating func build(
        _ schema: JSONValue, uri: String, pointer: String, location: String
    ) throws(SchemaCompileError) -> SchemaNode {
        var node = SchemaNode(location: location)
        if case .bool(let constant) = schema {
            node.constant = constant
            return node
        }
        guard case .object(let object) = schema else {
            throw SchemaCompileError(location: location, message: "a schema must be an object or a boolean")
        }
        node.description = object["description"]?.string
        if !pointer.isEmpty, object["$id"] != nil {
            throw SchemaCompileError(location: location, message: "$id inside a document is not supported")
        }

        func fail(_ keyword: String, _ message: String) -> SchemaCompileError {
            SchemaCompileError(location: location + "/" + keyword, message: message)
        }
        func sub(_ path: String...) throws(SchemaCompileError) -> Int {
            var subPointer = pointer
            for token in path { subPointer = JSONPointer.appending(subPointer, token) }
            return try compile(uri: uri, pointer: subPointer)
        }
        func subArray(_ keyword: String, _ value: JSONValue) throws(SchemaCompileError) -> [Int] {
            guard let elements = value.array, !elements.isEmpty else { throw fail(keyword, "expected a non-empty array") }
            var indices: [Int] = []
            for i in elements.indices { indices.append(try sub(keyword, String(i))) }
            return indices
        }
        func count(_ keyword: String, _ value: JSONValue) throws(SchemaCompileError) -> Int {
            guard let n = value.number, n.isIntegral, n >= 0, n < Double(Int.max) else {
                throw fail(keyword, "expected a non-negative integer")
            }
            return Int(n)
        }
        func number(_ keyword: String, _ value: JSONValue) throws(SchemaCompileError) -> Double {
            guard let n = value.number else { throw fail(keyword, "expected a number") }
            return n
        }
        func regex(_ keyword: String, _ pattern: String) throws(SchemaCompileError) -> Pattern {
            guard let compiled = Pattern(pattern) else { throw fail(keyword, "invalid regular expression \(pattern)") }
            return compiled
        }
        func strings(_ keyword: String, _ value: JSONValue) throws(SchemaCompileError) -> [String] {
            guard let elements = value.array else { throw fail(keyword, "expected an array of strings") }
            var result: [String] = []
            for element in elements {
                guard let s = element.string else { throw fail(keyword, "expected an array of strings") }
                result.append(s)
            }
            return result
        }

        for (keyword, value) in object.members {
            if Self.passive.contains(keyword) { continue }
            if Self.unsupported.contains(keyword) { throw fail(keyword, "keyword \(keyword) is not supported") }
            let check: Check
            switch keyword {
            case "type":
                let names: [String]
                if let single = value.string { names = [single] } else { names = try strings(keyword, value) }
                let known: Set = ["null", "boolean", "object", "array", "number", "string", "integer"]
                guard !names.isEmpty, names.allSatisfy(known.contains) else { throw fail(keyword, "unknown type name") }
                check = .type(Set(names))
            case "enum":
                guard let values = value.array else { throw fail(keyword, "expected an array") }
                check = .enumeration(values)
            case "const": check = .const(value)
            case "multipleOf":
                let divisor = try number(keyword, value)
                guard divisor > 0 else { throw fail(keyword, "expected a number greater than 0") }
                check = .multipleOf(divisor)
            case "minimum": check = .minimum(try number(keyword, value))
            case "maximum": check = .maximum(try number(keyword, value))
            case "exclusiveMinimum": check = .exclusiveMinimum(try number(keyword, value))
            case "exclusiveMaximum": check = .exclusiveMaximum(try number(keyword, value))
            case "minLength": check = .minLength(try count(keyword, value))
            case "maxLength": check = .maxLength(try count(keyword, value))
            case "pattern":
                guard let pattern = value.string else { throw fail(keyword, "expected a string") }
                check = .pattern(try regex(keyword, pattern))
            case "prefixItems": check = .prefixItems(try subArray(keyword, value))
            case "items": check = .items(try sub(keyword), after: object["prefixItems"]?.array?.count ?? 0)
            case "contains":
                let minimum = try object["minContains"].map { v throws(SchemaCompileError) in try count("minContains", v) }
                let maximum = try object["maxContains"].map { v throws(SchemaCompileError) in try count("maxContains", v) }
                check = .contains(try sub(keyword), min: minimum ?? 1, max: maximum)
            case "minItems": check = .minItems(try count(keyword, value))
            case "maxItems": check = .maxItems(try count(keyword, value))
            case "uniqueItems":
                guard let unique = value.bool else { throw fail(keyword, "expected a boolean") }
                if !unique { continue }
                check = .uniqueItems
            case "properties":
                guard let properties = value.object else { throw fail(keyword, "expected an object") }
                var schemas: [ScalarString: Int] = [:]
                for name in properties.keys { schemas[ScalarString(name)] = try sub(keyword, name) }
                check = .properties(schemas)
            case "patternProperties":
                guard let properties = value.object else { throw fail(keyword, "expected an object") }
                var entries: [(pattern: Pattern, schema: Int)] = []
                for pattern in properties.keys {
                    entries.append((try regex(keyword, pattern), try sub(keyword, pattern)))
                }
                check = .patternProperties(entries)
            case "additionalProperties":
                var patterns: [Pattern] = []
                for pattern in object["patternProperties"]?.object?.keys ?? [] {
                    patterns.append(try regex("patternProperties", pattern))
                }
                check = .additionalProperties(
                    try sub(keyword), declared: Set((object["properties"]?.object?.keys ?? []).map(ScalarString.init)), patterns: patterns)
            case "propertyNames": check = .propertyNames(try sub(keyword))
            case "required": check = .required(try strings(keyword, value))
            case "dependentRequired":
                guard let dependencies = value.object else { throw fail(keyword, "expected an object") }
                var required: [ScalarString: [String]] = [:]
                for (name, names) in dependencies.members { required[ScalarString(name)] = try strings(keyword, names) }
                check = .dependentRequired(required)
            case "dependentSchemas":
                guard let dependencies = value.object else { throw fail(keyword, "expected an object") }
                var schemas: [ScalarString: Int] = [:]
                for name in dependencies.keys { schemas[ScalarString(name)] = try sub(keyword, name) }
                check = .dependentSchemas(schemas)
            case "minProperties": check = .minProperties(try count(keyword, value))
            case "maxProperties": check = .maxProperties(try count(keyword, value))
            case "allOf": check = .allOf(try subArray(keyword, value))
            case "anyOf": check = .anyOf(try subArray(keyword, value))
            case "oneOf": check = .oneOf(try subArray(keyword, value))
            case "not": check = .not(try sub(keyword))
            case "if":
                check = .conditional(
                    if: try sub(keyword),
                    then: object["then"] == nil ? nil : try sub("then"),
                    else: object["else"] == nil ? nil : try sub("else"))
            case "$ref":
                guard let reference = value.string else { throw fail(keyword, "expected a string") }
                check = .ref(try resolve(reference, from: uri, location: location + "/$ref"))
            default:
                continue  // unknown keywords are annotations (JSON Schema §6.5)
            }
            node.rules.append(Rule(keyword: keyword, location: location + "/" + keyword, check: check))
        }
        return node
    }

    /// Resolves a `$ref` against the document it appears in: "#/json/pointer", or
    /// "other.schema.json#/pointer" relative to this document's `$id`, or an absolute `$id`.
    private mutating func resolve(
        _ reference: String, from uri: String, location: String
    ) throws(SchemaCompileError) -> Int {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let base = String(parts[0])
        let fragment = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        guard fragment.isEmpty || fragment.hasPrefix("/") else {
            throw SchemaCompileError(location: location, message: "anchor references (\(reference)) are not supported")
        }
        var target = uri
        if !base.isEmpty {
            if base.contains(":") {
                target = base
            } else if let slash = uri.lastIndex(of: "/") {
                target = String(uri[...slash]) + base
            } else {
                target = base
            }
        }
        guard documents[target] != nil else {
            throw SchemaCompileError(location: location, message: "cannot resolve \(reference)")
        }
        return try compile(uri: target, pointer: fragment)
    }
}

/// A `pattern` regular expression (ECMA-262 syntax, as far as Swift's Regex reads it).
/// `Regex<AnyRegexOutput>` is not Sendable only because of its output type; the compiled
/// program is immutable and safe to share, as it is for `Regex<Substring>`.
struct Pattern: @unchecked Sendable {
    let source: String
    private let regex: Regex<AnyRegexOutput>

    init?(_ source: String) {
        guard let regex = try? Regex(source) else { return nil }
        self.source = source
        // ECMA-262 regular expressions step through code points; Swift's default steps through
        // grapheme clusters, under which "." matches "e\u{301}" whole and "^e" does not match it.
        self.regex = regex.matchingSemantics(.unicodeScalar)
    }

    /// Whether the pattern matches anywhere in `string` (patterns are not implicitly anchored).
    func matches(_ string: String) -> Bool {
        string.contains(regex)
    }
}
