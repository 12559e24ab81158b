import ClipModel
import Foundation

/// Writes a safetensors file: the tests use it to make model directories (good and broken) and the
/// benchmark to make a full-size model with random weights.
public struct SafeTensorsWriter {
    // Bytes are made when written, so a 1.7 GB model never sits in memory whole.
    private var entries: [(name: String, dtype: DType, shape: [Int], data: () -> Data)] = []

    public init() {}

    /// Adds a tensor stored as `dtype` (values are rounded from fp32).
    public mutating func add(_ name: String, shape: [Int], dtype: DType = .f32, values: [Float]) {
        add(name, shape: shape, dtype: dtype) { values }
    }

    /// Adds a tensor whose values are produced only when the file is written.
    public mutating func add(_ name: String, shape: [Int], dtype: DType = .f32, values: @escaping () -> [Float]) {
        let count = shape.reduce(1, *)
        entries.append((name, dtype, shape, {
            let v = values()
            precondition(v.count == count, "\(name): \(v.count) values for shape \(shape)")
            switch dtype {
            case .f32: return v.withUnsafeBytes { Data($0) }
            case .f16: return v.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
            case .bf16: return v.map { bf16Bits($0).littleEndian }.withUnsafeBytes { Data($0) }
            }
        }))
    }

    /// Writes length, JSON header padded to 8 bytes (so fp32 data stays aligned), then the data.
    public func write(to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            let bytes = e.shape.reduce(1, *) * e.dtype.size
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ModelError(.missingFile, "cannot create the file", location: url.path)
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) })
        try handle.write(contentsOf: json)
        for e in entries { try handle.write(contentsOf: e.data()) }
    }
}

/// fp32 -> bf16 with round-to-nearest-even, as torch rounds.
private func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return 0x7FC0 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
