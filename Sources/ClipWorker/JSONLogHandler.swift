import ClipSchema
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// swift-log's handler for clipq's logs: one JSON object per line, `time` (RFC 3339, UTC, ms),
/// `level`, `message`, then the metadata (the handler's, e.g. the worker id, and the line's) as
/// fields in key order. Numbers and booleans stay JSON numbers and booleans, so log stores can
/// filter on them.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata
    private let output: LineOutput

    /// Writes to file descriptor `fd` (stderr by default).
    public init(level: Logger.Level = .info, metadata: Logger.Metadata = [:], fd: Int32 = STDERR_FILENO) {
        logLevel = level
        self.metadata = metadata
        output = LineOutput(fd: fd)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var writer = JSONWriter(reservingCapacity: 256)
        writer.raw(#"{"time":""#)
        writer.raw(Self.timestamp())
        writer.raw(#"","level":""#)
        writer.raw(event.level.rawValue)
        writer.raw(#"","message":"#)
        writer.writeString(event.message.description)
        let fields = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for key in fields.keys.sorted() {
            writer.raw(",")
            writer.writeString(key)
            writer.raw(":")
            if let value = fields[key] { Self.write(value, into: &writer) }
        }
        writer.raw("}\n")
        output.write(writer.bytes)
    }

    private static func write(_ value: Logger.MetadataValue, into writer: inout JSONWriter) {
        switch value {
        case .string(let text): writer.writeString(text)
        case .stringConvertible(let number as any BinaryInteger): writer.raw(number.description)
        case .stringConvertible(let number as Double) where number.isFinite: writer.raw(number.description)
        case .stringConvertible(let flag as Bool): writer.raw(flag ? "true" : "false")
        case .stringConvertible(let other): writer.writeString(other.description)
        case .array(let values):
            writer.raw("[")
            for (i, element) in values.enumerated() {
                if i > 0 { writer.raw(",") }
                write(element, into: &writer)
            }
            writer.raw("]")
        case .dictionary(let object):
            writer.raw("{")
            for (i, key) in object.keys.sorted().enumerated() {
                if i > 0 { writer.raw(",") }
                writer.writeString(key)
                writer.raw(":")
                if let element = object[key] { write(element, into: &writer) }
            }
            writer.raw("}")
        }
    }

    /// `2026-11-30T01:02:03.456Z`, without a formatter object: cheap enough for every line.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}

/// A file descriptor that takes whole lines: one write(2) per line (more only if the kernel
/// takes part of it), under a lock, so lines from different threads never interleave.
private final class LineOutput: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()

    init(fd: Int32) {
        self.fd = fd
    }

    func write(_ bytes: [UInt8]) {
        lock.withLock {
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, base + offset, buffer.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }  // nowhere to log to: drop the line, never block the worker
                    offset += n
                }
            }
        }
    }
}
