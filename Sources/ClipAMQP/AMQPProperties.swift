import CRabbitMQ
import Foundation

/// A value in an AMQP field table (message headers, queue arguments).
public indirect enum AMQPFieldValue: Equatable, Sendable {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case timestamp(UInt64)
    case array([AMQPFieldValue])
    case table([String: AMQPFieldValue])
    case void
}

/// The basic properties of a message; nil means absent.
public struct AMQPProperties: Equatable, Sendable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: [String: AMQPFieldValue]?
    /// 2 is persistent, 1 transient.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's odd choice).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: [String: AMQPFieldValue]? = nil,
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
        expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil, type: String? = nil,
        userID: String? = nil, appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }

    public var isPersistent: Bool { deliveryMode == 2 }
}

// MARK: - From librabbitmq's structs (copied out: the library's buffers are reused)

extension String {
    init(_ bytes: amqp_bytes_t) {
        guard let pointer = bytes.bytes, bytes.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(_ bytes: amqp_bytes_t) {
        guard let pointer = bytes.bytes, bytes.len > 0 else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }
}

extension AMQPFieldValue {
    init(_ value: amqp_field_value_t) {
        let v = value.value
        switch UInt8(truncatingIfNeeded: value.kind) {
        case UInt8(ascii: "t"): self = .bool(v.boolean != 0)
        case UInt8(ascii: "b"): self = .int(Int64(v.i8))
        case UInt8(ascii: "B"): self = .int(Int64(v.u8))
        case UInt8(ascii: "s"): self = .int(Int64(v.i16))
        case UInt8(ascii: "u"): self = .int(Int64(v.u16))
        case UInt8(ascii: "I"): self = .int(Int64(v.i32))
        case UInt8(ascii: "i"): self = .int(Int64(v.u32))
        case UInt8(ascii: "l"): self = .int(v.i64)
        case UInt8(ascii: "L"): self = v.u64 <= UInt64(Int64.max) ? .int(Int64(v.u64)) : .double(Double(v.u64))
        case UInt8(ascii: "f"): self = .double(Double(v.f32))
        case UInt8(ascii: "d"): self = .double(v.f64)
        case UInt8(ascii: "D"): self = .double(Double(v.decimal.value) / pow(10, Double(v.decimal.decimals)))
        case UInt8(ascii: "S"): self = .string(String(v.bytes))
        case UInt8(ascii: "x"): self = .bytes([UInt8](v.bytes))
        case UInt8(ascii: "T"): self = .timestamp(v.u64)
        case UInt8(ascii: "A"):
            let array = v.array
            self = .array((0..<Int(array.num_entries)).map { AMQPFieldValue(array.entries[$0]) })
        case UInt8(ascii: "F"): self = .table(Self.dictionary(v.table))
        default: self = .void
        }
    }

    static func dictionary(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        var result: [String: AMQPFieldValue] = [:]
        for i in 0..<Int(table.num_entries) {
            let entry = table.entries[i]
            result[String(entry.key)] = AMQPFieldValue(entry.value)
        }
        return result
    }
}

extension AMQPProperties {
    init(_ p: amqp_basic_properties_t) {
        func has(_ flag: Int32) -> Bool { p._flags & amqp_flags_t(flag) != 0 }
        self.init()
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { contentType = String(p.content_type) }
        if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { contentEncoding = String(p.content_encoding) }
        if has(AMQP_BASIC_HEADERS_FLAG) { headers = AMQPFieldValue.dictionary(p.headers) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { deliveryMode = p.delivery_mode }
        if has(AMQP_BASIC_PRIORITY_FLAG) { priority = p.priority }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { correlationID = String(p.correlation_id) }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { replyTo = String(p.reply_to) }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { expiration = String(p.expiration) }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { messageID = String(p.message_id) }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { timestamp = p.timestamp }
        if has(AMQP_BASIC_TYPE_FLAG) { type = String(p.type) }
        if has(AMQP_BASIC_USER_ID_FLAG) { userID = String(p.user_id) }
        if has(AMQP_BASIC_APP_ID_FLAG) { appID = String(p.app_id) }
    }
}

// MARK: - To librabbitmq's structs

/// Memory for the C structs of one call; freed when the arena goes.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for allocation in allocations { allocation.deallocate() }
    }

    private func allocate(bytes count: Int) -> UnsafeMutableRawPointer {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        allocations.append(pointer)
        return pointer
    }

    func bytes(_ string: String) -> amqp_bytes_t { bytes(Array(string.utf8)) }

    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        let pointer = allocate(bytes: data.count)
        data.withUnsafeBytes { source in
            if let base = source.baseAddress { pointer.copyMemory(from: base, byteCount: data.count) }
        }
        return amqp_bytes_t(len: data.count, bytes: pointer)
    }

    func cString(_ string: String) -> UnsafePointer<CChar> {
        let bytes = self.bytes(Array(string.utf8) + [0])
        return UnsafePointer(bytes.bytes.assumingMemoryBound(to: CChar.self))
    }

    func table(_ dictionary: [String: AMQPFieldValue]) -> amqp_table_t {
        let entries = allocate(bytes: MemoryLayout<amqp_table_entry_t>.stride * dictionary.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: dictionary.count)
        for (i, key) in dictionary.keys.sorted().enumerated() {
            entries[i] = amqp_table_entry_t(key: bytes(key), value: field(dictionary[key] ?? .void))
        }
        return amqp_table_t(num_entries: Int32(dictionary.count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ c: Character) -> UInt8 { c.asciiValue ?? 0 }
        switch value {
        case .bool(let b): field.kind = kind("t"); field.value.boolean = b ? 1 : 0
        case .int(let i): field.kind = kind("l"); field.value.i64 = i
        case .double(let d): field.kind = kind("d"); field.value.f64 = d
        case .string(let s): field.kind = kind("S"); field.value.bytes = bytes(s)
        case .bytes(let b): field.kind = kind("x"); field.value.bytes = bytes(b)
        case .timestamp(let t): field.kind = kind("T"); field.value.u64 = t
        case .void: field.kind = kind("V")
        case .table(let t): field.kind = kind("F"); field.value.table = table(t)
        case .array(let elements):
            let entries = allocate(bytes: MemoryLayout<amqp_field_value_t>.stride * elements.count)
                .bindMemory(to: amqp_field_value_t.self, capacity: elements.count)
            for (i, element) in elements.enumerated() { entries[i] = self.field(element) }
            field.kind = kind("A")
            field.value.array = amqp_array_t(num_entries: Int32(elements.count), entries: entries)
        }
        return field
    }

    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: Int32 = 0
        func set(_ flag: Int32) { flags |= flag }
        if let v = p.contentType { c.content_type = bytes(v); set(AMQP_BASIC_CONTENT_TYPE_FLAG) }
        if let v = p.contentEncoding { c.content_encoding = bytes(v); set(AMQP_BASIC_CONTENT_ENCODING_FLAG) }
        if let v = p.headers { c.headers = table(v); set(AMQP_BASIC_HEADERS_FLAG) }
        if let v = p.deliveryMode { c.delivery_mode = v; set(AMQP_BASIC_DELIVERY_MODE_FLAG) }
        if let v = p.priority { c.priority = v; set(AMQP_BASIC_PRIORITY_FLAG) }
        if let v = p.correlationID { c.correlation_id = bytes(v); set(AMQP_BASIC_CORRELATION_ID_FLAG) }
        if let v = p.replyTo { c.reply_to = bytes(v); set(AMQP_BASIC_REPLY_TO_FLAG) }
        if let v = p.expiration { c.expiration = bytes(v); set(AMQP_BASIC_EXPIRATION_FLAG) }
        if let v = p.messageID { c.message_id = bytes(v); set(AMQP_BASIC_MESSAGE_ID_FLAG) }
        if let v = p.timestamp { c.timestamp = v; set(AMQP_BASIC_TIMESTAMP_FLAG) }
        if let v = p.type { c.type = bytes(v); set(AMQP_BASIC_TYPE_FLAG) }
        if let v = p.userID { c.user_id = bytes(v); set(AMQP_BASIC_USER_ID_FLAG) }
        if let v = p.appID { c.app_id = bytes(v); set(AMQP_BASIC_APP_ID_FLAG) }
        c._flags = amqp_flags_t(flags)
        return c
    }
}
