/// A request that passed every check: its rows, in order, with absent cells as nil.
public struct EmbeddingRequest: Equatable, Sendable {
    public struct Row: Equatable, Sendable {
        /// An http(s) URL, base64, or a data URI: ingest decides which, and whether it is good.
        public var image: String?
        public var text: String?

        public init(image: String? = nil, text: String? = nil) {
            self.image = image
            self.text = text
        }
    }

    public var rows: [Row]

    public init(rows: [Row]) {
        self.rows = rows
    }

    /// Where row `row`'s image cell is in the request, for error pointers.
    public static func imagePointer(row: Int) -> String { "/input_data/data/\(row)/0" }
    public static func textPointer(row: Int) -> String { "/input_data/data/\(row)/1" }
}

/// Limits a worker applies to every request before any work.
public struct RequestLimits: Equatable, Sendable {
    public var maxBodyBytes: Int
    public var maxRows: Int
    public var maxDepth: Int

    public init(maxBodyBytes: Int = 64 << 20, maxRows: Int = 256, maxDepth: Int = 64) {
        self.maxBodyBytes = maxBodyBytes
        self.maxRows = maxRows
        self.maxDepth = maxDepth
    }
}

/// One reason a request is refused, with the code a client gets for it.
public struct RequestViolation: Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var pointer: String
    /// The schema keyword, or the name of the request rule (`rows`, `index`) that failed.
    public var keyword: String
    public var message: String

    public var error: ClipError { ClipError(code, message, pointer: pointer) }

    public var description: String {
        "\(pointer.isEmpty ? "/" : pointer): \(keyword): \(message) [\(code.rawValue)]"
    }
}

/// Turns a message body into an `EmbeddingRequest`, or says why not: size, JSON, the request
/// schema, then the rules a schema cannot state. The worker and `clipq schema validate` share it.
public struct RequestDecoder: Sendable {
    public let limits: RequestLimits
    private let schema: JSONSchema

    public init(limits: RequestLimits = RequestLimits()) throws(SchemaCompileError) {
        self.limits = limits
        self.schema = try BuiltinSchema.request.compiled()
    }

    /// The request, or the first reason it is refused.
    public func decode(_ body: some Collection<UInt8>) throws(ClipError) -> EmbeddingRequest {
        let document = try parse(body)
        if let first = violations(of: document, limit: 1).first { throw first.error }
        return Self.rows(of: document)
    }

    /// Size and JSON checks.
    public func parse(_ body: some Collection<UInt8>) throws(ClipError) -> JSONValue {
        guard body.count <= limits.maxBodyBytes else {
            throw ClipError(.messageTooLarge, "body of \(body.count) bytes is over the limit of \(limits.maxBodyBytes)")
        }
        do {
            return try JSONParser(maxDepth: limits.maxDepth).parse(body)
        } catch {
            throw ClipError(.invalidJSON, error.description)
        }
    }

    /// Every reason `document` is refused, in the order the worker checks them.
    public func violations(of document: JSONValue, limit: Int = 100) -> [RequestViolation] {
        // The row limit first: it is cheap, and a huge request need not be validated row by row.
        if let rows = document["input_data"]?["data"]?.array, rows.count > limits.maxRows {
            return [
                RequestViolation(
                    code: .tooManyRows, pointer: "/input_data/data", keyword: "rows",
                    message: "\(rows.count) rows is over the limit of \(limits.maxRows) per request")
            ]
        }
        let schemaViolations = schema.validate(document, limit: limit)
        if !schemaViolations.isEmpty {
            return schemaViolations.map {
                RequestViolation(code: .schemaViolation, pointer: $0.instancePointer, keyword: $0.keyword, message: $0.message)
            }
        }
        if let index = document["input_data"]?["index"]?.array, let rows = document["input_data"]?["data"]?.array,
            index.count != rows.count
        {
            return [
                RequestViolation(
                    code: .schemaViolation, pointer: "/input_data/index", keyword: "index",
                    message: "index has \(index.count) entries but data has \(rows.count) rows")
            ]
        }
        return []
    }

    /// The typed rows of a document that has no violations.
    private static func rows(of document: JSONValue) -> EmbeddingRequest {
        let rows = (document["input_data"]?["data"]?.array ?? []).map { row in
            let cells = row.array ?? []
            func cell(_ i: Int) -> String? {
                guard i < cells.count, let s = cells[i].string, !s.isEmpty else { return nil }
                return s
            }
            return EmbeddingRequest.Row(image: cell(0), text: cell(1))
        }
        return EmbeddingRequest(rows: rows)
    }
}
