#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ClipTensor
import Foundation

/// Where a bf16 or int8 model keeps its converted weights between loads, so that the processes
/// of one host map one copy (shared in the page cache) instead of each converting its own.
public enum WeightsCache: Sendable, Equatable {
    /// No cache: every load converts.
    case off
    /// Beside model.safetensors (`model.clipq-<precision>.cache`), or in `fallback` when the
    /// model's directory cannot be written.
    case auto(fallback: URL?)
    /// In this directory only.
    case directory(URL)
}

/// Where a loaded model's converted weights came from.
public enum ConvertedWeightsOrigin: Sendable, Equatable {
    /// fp32, or kernels of the caller's own: nothing converted.
    case none
    /// Converted at load and kept in this process only; `why` there is no cache.
    case converted(why: String)
    /// Mapped from the cache file at `path`. `rebuilt` says why this load (re)wrote it; nil when it
    /// was there and valid.
    case mapped(path: String, rebuilt: String?)
}

/// What a cache file must have been made from: the same checkpoint (size, modification time, header
/// digest), precision, oneDNN and instruction set. Any difference makes it stale.
struct WeightsCacheKey: Equatable {
    var precision: String
    var sourceSize: Int
    var sourceModified: Int64
    var sourceHeader: UInt64
    var engine: String

    init(precision: Precision, source: SafeTensorsFile) {
        // int8's weights leave the layer norms' outlier channels out (`Weights.outlierChannels`)
        // since "int8-outliers", and the patch embedding stays fp32 (`Precision.patchEmbedding`)
        // since "int8-fp32-patch": a cache from before either is stale.
        self.precision = precision == .int8 ? "int8-fp32-patch" : precision.rawValue
        sourceSize = source.size
        sourceModified = source.modified
        sourceHeader = source.headerDigest
        engine = oneDNNIdentity
    }

    init(precision: String, sourceSize: Int, sourceModified: Int64, sourceHeader: UInt64, engine: String) {
        self.precision = precision
        self.sourceSize = sourceSize
        self.sourceModified = sourceModified
        self.sourceHeader = sourceHeader
        self.engine = engine
    }

    /// What differs from `other`, in words, or nil.
    func difference(from other: WeightsCacheKey) -> String? {
        if precision != other.precision { return "made for \(other.precision)" }
        if sourceSize != other.sourceSize || sourceModified != other.sourceModified || sourceHeader != other.sourceHeader {
            return "model.safetensors changed since it was made"
        }
        if engine != other.engine { return "made by \(other.engine), this is \(engine)" }
        return nil
    }
}

/// A cache file of converted weights, mapped read-only:
///
///     "CLIPQWC1"  UInt64 header length (little endian)  header JSON  zeros to a page  parts...
///
/// The header holds the key, and per layer (by weight tensor name) the offset (from the first
/// page after the header) and length of each part (`ConvertingLinearKernel.convertedParts`, each
/// 64-byte aligned), and a checksum of them all, checked at every open: a truncated or damaged
/// file is rebuilt, never used.
final class WeightsCacheFile: @unchecked Sendable {  // immutable after init
    let path: String
    private let base: UnsafeRawPointer
    private let size: Int
    private let entries: [String: [Range<Int>]]

    static let magic = Array("CLIPQWC1".utf8)

    /// Where the parts begin: the first 4096-byte boundary after the header.
    static func dataStart(headerLength: Int) -> Int { (16 + headerLength + 4095) / 4096 * 4096 }

    var count: Int { entries.count }

    /// The file's cache name beside a model, or in a cache directory (there named after the
    /// model's path, so that models do not collide).
    static func paths(for option: WeightsCache, modelDirectory: URL, precision: Precision) -> [String] {
        let name = "model.clipq-\(precision.rawValue).cache"
        func elsewhere(_ dir: URL) -> String {
            let id = modelDirectory.standardizedFileURL.path.utf8.withContiguousStorageIfAvailable {
                fnv1a(UnsafeRawBufferPointer($0))
            } ?? 0
            return dir.appendingPathComponent("clipq-\(precision.rawValue)-\(String(id, radix: 16)).cache").path
        }
        switch option {
        case .off: return []
        case .auto(let fallback): return [modelDirectory.appendingPathComponent(name).path] + (fallback.map { [elsewhere($0)] } ?? [])
        case .directory(let dir): return [elsewhere(dir)]
        }
    }

    /// Maps the file at `path` if it is a complete, intact cache for `key`; else says why not
    /// (nil file, and "missing" when there is none).
    static func map(_ path: String, key: WeightsCacheKey) -> (WeightsCacheFile?, String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return (nil, "missing") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return (nil, "unreadable") }
        let size = Int(st.st_size)
        guard size >= 16 else { return (nil, "truncated (\(size) bytes)") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            return (nil, "cannot be mapped (errno \(errno))")
        }
        let base = UnsafeRawPointer(mapped)
        func fail(_ why: String) -> (WeightsCacheFile?, String) {
            munmap(mapped, size)
            return (nil, why)
        }
        guard Array(UnsafeRawBufferPointer(start: base, count: 8)) == magic else { return fail("not a clipq weights cache") }
        let headerLength = Int(clamping: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        guard headerLength <= size - 16 else {
            return fail("truncated or corrupt (a header of \(headerLength) bytes in a file of \(size))")
        }
        let dataStart = Self.dataStart(headerLength: headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes: base + 16, count: headerLength)) as? [String: Any],
              let stored = Self.key(header), let list = header["entries"] as? [[String: Any]],
              let checksum = (header["checksum"] as? String).flatMap({ UInt64($0, radix: 16) })
        else { return fail("corrupt (unreadable header)") }
        if let why = key.difference(from: stored) { return fail("stale (\(why))") }
        var entries: [String: [Range<Int>]] = [:]
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for entry in list {
            guard let name = entry["name"] as? String, let parts = entry["parts"] as? [[NSNumber]] else {
                return fail("corrupt (bad entry)")
            }
            var ranges: [Range<Int>] = []
            for part in parts {
                guard part.count == 2 else { return fail("corrupt (bad entry)") }
                let offset = dataStart + part[0].intValue, length = part[1].intValue
                guard offset >= dataStart, length >= 0, offset <= size - length, offset % 64 == 0 else {
                    return fail("truncated or corrupt (\(name) lies outside the file)")
                }
                ranges.append(offset..<(offset + length))
                digest = partDigest(UnsafeRawBufferPointer(start: base + offset, count: length), digest)
            }
            entries[name] = ranges
        }
        guard digest == checksum else { return fail("corrupt (checksum mismatch)") }
        return (WeightsCacheFile(path: path, base: base, size: size, entries: entries), "")
    }

    private init(path: String, base: UnsafeRawPointer, size: Int, entries: [String: [Range<Int>]]) {
        self.path = path
        self.base = base
        self.size = size
        self.entries = entries
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// The parts stored for the weight `name`, pointing into the mapping (valid while this lives).
    func parts(for name: String) -> [UnsafeRawBufferPointer]? {
        entries[name]?.map { UnsafeRawBufferPointer(start: base + $0.lowerBound, count: $0.count) }
    }

    /// Writes a cache of `layers` for `key` at `path`, atomically: a temporary file beside it,
    /// flushed, then renamed over it. Readers see the old file or the new one, never a part.
    static func store(_ path: String, key: WeightsCacheKey, layers: [(String, [UnsafeRawBufferPointer])]) throws(ModelError) {
        func failed(_ what: String) -> ModelError { ModelError(.missingFile, "cannot write the weights cache: \(what)", location: path) }
        var offset = 0
        var list: [[String: Any]] = []
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for (name, parts) in layers {
            var ranges: [[Int]] = []
            for part in parts {
                ranges.append([offset, part.count])
                digest = partDigest(part, digest)
                offset = (offset + part.count + 63) / 64 * 64
            }
            list.append(["name": name, "parts": ranges])
        }
        let header: [String: Any] = [
            "format": 1, "precision": key.precision, "source_size": key.sourceSize, "source_modified_ns": key.sourceModified,
            "source_header_fnv1a": String(key.sourceHeader, radix: 16), "engine": key.engine,
            "checksum": String(digest, radix: 16), "entries": list,
        ]
        guard let json = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) else {
            throw failed("the header is not JSON")
        }
        let dataStart = Self.dataStart(headerLength: json.count)
        try? FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                 withIntermediateDirectories: true)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw failed(String(cString: strerror(errno))) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temporary) }
        }
        var prefix = [UInt8](repeating: 0, count: dataStart)
        prefix.replaceSubrange(0..<8, with: magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix.replaceSubrange(8..<16, with: $0) }
        prefix.replaceSubrange(16..<(16 + json.count), with: json)
        var written = 0
        func put(_ bytes: UnsafeRawBufferPointer) -> Bool {
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n <= 0 { return false }
                done += n
            }
            written += bytes.count
            return true
        }
        let zeros = [UInt8](repeating: 0, count: 64)
        guard prefix.withUnsafeBytes(put) else { throw failed(String(cString: strerror(errno))) }
        for (_, parts) in layers {
            for part in parts where part.count > 0 {
                guard put(part) else { throw failed(String(cString: strerror(errno))) }
                let pad = (64 - written % 64) % 64
                guard zeros.withUnsafeBytes({ put(UnsafeRawBufferPointer(rebasing: $0[0..<pad])) }) else {
                    throw failed(String(cString: strerror(errno)))
                }
            }
        }
        guard fsync(fd) == 0, rename(temporary, path) == 0 else { throw failed(String(cString: strerror(errno))) }
        ok = true
    }

    private static func key(_ header: [String: Any]) -> WeightsCacheKey? {
        guard header["format"] as? Int == 1, let precision = header["precision"] as? String,
              let size = (header["source_size"] as? NSNumber)?.intValue,
              let modified = (header["source_modified_ns"] as? NSNumber)?.int64Value,
              let digest = (header["source_header_fnv1a"] as? String).flatMap({ UInt64($0, radix: 16) }),
              let engine = header["engine"] as? String
        else { return nil }
        return WeightsCacheKey(precision: precision, sourceSize: size, sourceModified: modified, sourceHeader: digest, engine: engine)
    }

    /// A checksum of one part folded into `seed`: FNV-1a over 8-byte words (the tail bytewise), fast
    /// enough to run over ~0.4-0.6 GB at every open (~0.1 s).
    static func partDigest(_ bytes: UnsafeRawBufferPointer, _ seed: UInt64) -> UInt64 {
        var h = (seed ^ UInt64(bytes.count)) &* 0x0000_0100_0000_01B3
        guard let start = bytes.baseAddress else { return h }
        let words = bytes.count / 8
        // Four lanes, so that the multiplies do not wait on each other; folded at the end.
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (h, h ^ 1, h ^ 2, h ^ 3)
        var i = 0
        while i + 4 <= words {
            lanes.0 = (lanes.0 ^ start.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            lanes.1 = (lanes.1 ^ start.loadUnaligned(fromByteOffset: 8 * i + 8, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            lanes.2 = (lanes.2 ^ start.loadUnaligned(fromByteOffset: 8 * i + 16, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            lanes.3 = (lanes.3 ^ start.loadUnaligned(fromByteOffset: 8 * i + 24, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            i += 4
        }
        h = (((lanes.0 &* 31) ^ lanes.1) &* 31 ^ lanes.2) &* 31 ^ lanes.3
        while i < words {
            h = (h ^ start.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            i += 1
        }
        return fnv1a(UnsafeRawBufferPointer(start: start + 8 * words, count: bytes.count - 8 * words), h)
    }
}
