/// A parsed JSON document. Numbers are IEEE doubles, as JSON Schema and most parsers see them;
/// objects keep their keys in document order so errors and output are deterministic.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A string that equals and hashes by its Unicode scalars (code points), as JSON and JSON Schema
/// compare strings. Swift's `String ==` is canonical equivalence, under which "\u{E9}" and
/// "e\u{301}" are one string, so a `[String: X]` would merge two distinct JSON keys.
public struct ScalarString: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    /// Equal scalars are equal UTF-8 bytes: a String always holds valid Unicode.
    public static func == (a: ScalarString, b: ScalarString) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(string.utf8.count)
        for byte in string.utf8 { hasher.combine(byte) }
    }

    public var description: String { string }
}

/// An object with its keys in document order and unique by code points (the parser rejects
/// duplicates); "\u{E9}" and "e\u{301}" are two keys, as JSON has them.
public struct JSONObject: Sendable {
    public private(set) var keys: [String] = []
    private var values: [ScalarString: JSONValue] = [:]

    public init() {}

    public var count: Int { keys.count }

    public subscript(key: String) -> JSONValue? {
        get { values[ScalarString(key)] }
        set {
            let scalarKey = ScalarString(key)
            if let newValue {
                if values.updateValue(newValue, forKey: scalarKey) == nil { keys.append(key) }
            } else if values.removeValue(forKey: scalarKey) != nil {
                keys.removeAll { ScalarString($0) == scalarKey }
            }
        }
    }

    /// The members in document order.
    public var members: [(key: String, value: JSONValue)] {
        keys.map { ($0, values[ScalarString($0)] ?? .null) }
    }
}

extension JSONValue {
    /// The JSON Schema type name: "integer" for numbers with an integral value (1.0 is an integer).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.isIntegral ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var object: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }

    public subscript(key: String) -> JSONValue? { object?[key] }
}

/// Equality as JSON Schema defines it for enum, const and uniqueItems: numbers by value
/// (1 == 1.0), strings by code points (not canonical equivalence), objects regardless of key
/// order, booleans distinct from numbers.
extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): ScalarString(a) == ScalarString(b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }
}

extension JSONObject: Equatable {
    /// Key order does not matter.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.count == b.count && a.keys.allSatisfy { key in a[key] == b[key] }
    }
}

extension JSONValue: Hashable {
    /// Consistent with `==`: key order does not contribute, and 1 and 1.0 hash alike.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .number(let n): hasher.combine(2); hasher.combine(n)
        case .string(let s): hasher.combine(3); hasher.combine(ScalarString(s))
        case .array(let a): hasher.combine(4); hasher.combine(a)
        case .object(let o):
            hasher.combine(5)
            var membersHash = 0
            for (key, value) in o.members { membersHash ^= KeyedHash(key: ScalarString(key), value: value).hashValue }
            hasher.combine(membersHash)
        }
    }

    private struct KeyedHash: Hashable { let key: ScalarString; let value: JSONValue }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

extension Double {
    var isIntegral: Bool { isFinite && rounded(.towardZero) == self }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (key, value) in elements { self[key] = value }
    }
}
