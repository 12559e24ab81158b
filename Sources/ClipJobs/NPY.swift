import Foundation

/// NumPy's .npy format, version 1.0, for a C-order 2-D array of little-endian float32 or float16.
/// The header is a fixed 128 bytes so that the row count can be rewritten in place as rows are
/// appended (a Python dict literal padded with spaces, as numpy writes it).
public enum NPYDType: String, Sendable {
    case float32, float16

    var descr: String { self == .float32 ? "<f4" : "<f2" }
    public var byteCount: Int { self == .float32 ? 4 : 2 }
}

public let npyHeaderSize = 128

public func npyHeader(dtype: NPYDType, rows: Int, columns: Int) -> [UInt8] {
    var dict = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
    dict += String(repeating: " ", count: max(0, npyHeaderSize - 10 - dict.utf8.count - 1)) + "\n"
    let length = UInt16(dict.utf8.count)
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dict.utf8)
}

/// Little-endian bytes of `values` in `dtype`.
public func npyBytes(_ values: [Float], dtype: NPYDType) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * dtype.byteCount)
    for v in values {
        switch dtype {
        case .float32: withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
        case .float16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { bytes += $0 }
        }
    }
    return bytes
}

/// A 2-D float array read from a .npy file (float32 or float16, C order), as float32.
public struct NPYMatrix: Sendable {
    public var rows: Int
    public var columns: Int
    public var values: [Float]

    public subscript(row: Int) -> ArraySlice<Float> { values[row * columns..<(row + 1) * columns] }

    public init(rows: Int, columns: Int, values: [Float]) {
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(contentsOf path: String) throws(JobError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw JobError(.input, "cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw JobError(.input, "\(path) is not a .npy file")
        }
        let major = bytes[6]
        let (lengthBytes, start) = major == 1 ? (2, 8) : (4, 8)
        guard bytes.count >= start + lengthBytes else { throw JobError(.input, "\(path): truncated header") }
        let length = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[start + $1]) << (8 * $1) }
        let dataStart = start + lengthBytes + length
        guard bytes.count >= dataStart else { throw JobError(.input, "\(path): truncated header") }
        let header = String(decoding: bytes[(start + lengthBytes)..<dataStart], as: UTF8.self)
        let dtype: NPYDType
        if header.contains("'<f4'") { dtype = .float32 } else if header.contains("'<f2'") { dtype = .float16 } else {
            throw JobError(.input, "\(path): only little-endian float32/float16 arrays are read (\(header))")
        }
        guard header.contains("'fortran_order': False"),
            let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw JobError(.input, "\(path): not a C-order array (\(header))") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard shape.count == 2 else { throw JobError(.input, "\(path): expected a 2-D array, shape \(shape)") }
        rows = shape[0]
        columns = shape[1]
        let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
        guard !overflow, bytes.count - dataStart == count * dtype.byteCount else {
            throw JobError(.input, "\(path): \(bytes.count - dataStart) data bytes for shape (\(rows), \(columns))")
        }
        values = bytes[dataStart...].withUnsafeBytes { raw in
            switch dtype {
            case .float32: (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            case .float16: (0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
            }
        }
    }
}
