#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The element types a CLIP checkpoint comes in.
public enum DType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    public var size: Int { self == .f32 ? 4 : 2 }
}

/// One tensor's entry in a safetensors header: where its bytes are inside the mapped file.
public struct TensorInfo: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    /// Byte range from the start of the file (the header's offsets plus 8 + header length).
    public var range: Range<Int>

    public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file mapped read-only into memory. Nothing is read or copied up front: fp32
/// tensors are used where they lie, so worker processes on one host share a single copy in the page
/// cache. Every offset in the header is checked against the file before anything points into it.
public final class SafeTensorsFile: @unchecked Sendable {  // immutable after init
    public let path: String
    public let tensors: [String: TensorInfo]
    private let base: UnsafeRawPointer
    /// The file's size in bytes and last modification (ns since the epoch), as opened.
    public let size: Int
    public let modified: Int64

    public init(path: String) throws(ModelError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelError(.missingFile, "cannot open model.safetensors", location: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelError(.missingFile, "cannot stat model.safetensors", location: path) }
        size = Int(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        guard size >= 8 else {
            throw ModelError(.invalidWeights, "file is \(size) bytes, too short for a safetensors header", location: path)
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw ModelError(.invalidWeights, "cannot map the file: errno \(errno)", location: path)
        }
        base = UnsafeRawPointer(mapped)
        do {
            tensors = try Self.parseHeader(base, size: size, path: path)
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// The tensor's bytes, valid as long as this file object lives.
    public func bytes(_ info: TensorInfo) -> UnsafeRawPointer { base + info.range.lowerBound }

    /// FNV-1a of the header (its length and JSON: every tensor's name, dtype, shape and offsets).
    public var headerDigest: UInt64 {
        let length = 8 + Int(base.loadUnaligned(as: UInt64.self).littleEndian)
        return fnv1a(UnsafeRawBufferPointer(start: base, count: length))
    }

    /// Ask the kernel to start reading the whole file now, so the first batch does not wait on page
    /// faults one at a time.
    public func prefetch() { _ = madvise(UnsafeMutableRawPointer(mutating: base), size, MADV_WILLNEED) }

    /// Drops this process's copy of the whole pages inside [pointer, pointer + bytes) if they lie in
    /// the mapping (a tensor converted at load: bf16 or int8 weights), so that they stop counting
    /// in its resident memory; the file stays in the page cache for other processes, and a later
    /// read maps the pages again from it (the mapping is private but never written). Memory
    /// outside the mapping (widened copies) is left alone.
    public func release(_ pointer: UnsafeRawPointer, bytes: Int) {
        guard pointer >= base, bytes > 0, pointer + bytes <= base + size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: pointer) + page - 1) / page * page
        let end = (Int(bitPattern: pointer) + bytes) / page * page
        guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(start, end - first, MADV_DONTNEED)
    }

    static func parseHeader(_ base: UnsafeRawPointer, size: Int, path: String) throws(ModelError) -> [String: TensorInfo] {
        func bad(_ message: String) -> ModelError { ModelError(.invalidWeights, message, location: path) }
        let headerLength = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(size - 8) else {
            throw bad("header claims \(headerLength) bytes but the file has only \(size - 8) after the length: truncated?")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = size - dataStart
        let header = Data(bytes: base + 8, count: Int(headerLength))
        guard let json = (try? JSONSerialization.jsonObject(with: header)) as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in json where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [NSNumber],
                  let offsetValues = entry["data_offsets"] as? [NSNumber], offsetValues.count == 2
            else { throw bad("tensor \"\(name)\" lacks dtype, shape or data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw bad("tensor \"\(name)\" has dtype \(dtypeName); only F32, F16 and BF16 are supported")
            }
            let shape = shapeValues.map(\.intValue)
            let begin = offsetValues[0].intValue, end = offsetValues[1].intValue
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }) else { throw bad("tensor \"\(name)\" has a bad shape \(shape)") }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("tensor \"\(name)\" claims bytes \(begin)..<\(end) but the data section has \(dataSize): truncated or corrupt")
            }
            // The byte count, with every multiplication checked: a lying shape must not trap.
            let (bytes, overflow) = shape.reduce((dtype.size, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, bytes == end - begin else {
                throw bad("tensor \"\(name)\" of shape \(shape) (\(dtype.rawValue)) does not fit its offsets, which span \(end - begin) bytes")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, range: (dataStart + begin)..<(dataStart + end))
        }
        return tensors
    }
}

/// 64-bit FNV-1a over bytes.
func fnv1a(_ bytes: UnsafeRawBufferPointer, _ seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}
