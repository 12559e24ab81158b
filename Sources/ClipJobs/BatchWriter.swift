import ClipSchema
import Foundation

public enum OutputFormat: String, CaseIterable, Sendable {
    case jsonl
    case azuremlCSV = "azureml-csv"
    case npy
}

/// Where a job's rows go. Rows arrive in input order; `commit` makes what was appended durable
/// and returns each file's size for the checkpoint.
public protocol BatchWriter: AnyObject {
    func append(_ row: BatchRow, _ outcome: RowOutcome) throws(JobError)
    func commit() throws(JobError) -> [String: Int]
}

/// The row's name and its embeddings or error, as one JSON object's members.
func rowObject(_ row: BatchRow, _ outcome: RowOutcome, features: Bool) -> JSONWriter {
    var writer = JSONWriter(reservingCapacity: 64 + 2 * 768 * 14)
    writer.raw("{\"file\":")
    writer.writeString(row.file)
    writer.raw(",\"row\":\(row.row)")
    switch outcome {
    case .success(let reply) where features:
        if let image = reply.imageFeatures {
            writer.raw(",\"image_features\":")
            writer.writeFloats(image)
        }
        if let text = reply.textFeatures {
            writer.raw(",\"text_features\":")
            writer.writeFloats(text)
        }
    case .success: break
    case .failure(let error):
        writer.raw(",\"error\":")
        writer.write(error.json)
    }
    return writer
}

/// JSONL: `{"file", "row", "image_features"?, "text_features"?}` or `{"file", "row", "error"}`.
public final class JSONLWriter: BatchWriter {
    private let file: AppendFile

    public init(path: String, sizes: [String: Int]?) throws(JobError) {
        file = try AppendFile(path, size: sizes.map { $0[path] ?? 0 })
    }

    public func append(_ row: BatchRow, _ outcome: RowOutcome) throws(JobError) {
        var writer = rowObject(row, outcome, features: true)
        writer.raw("}\n")
        file.append(writer.bytes)
    }

    public func commit() throws(JobError) -> [String: Int] { [file.path: try file.sync()] }
}

/// The predictions CSV of a hosted batch endpoint as clipq writes it: a header
/// `file,row,image_features,text_features,error`, features as JSON arrays and the error as a JSON
/// object, each in one quoted cell (absent: empty).
public final class AzureMLCSVWriter: BatchWriter {
    private let file: AppendFile

    public init(path: String, sizes: [String: Int]?) throws(JobError) {
        file = try AppendFile(path, size: sizes.map { $0[path] ?? 0 })
        if file.size == 0 { file.append(Array("file,row,image_features,text_features,error\n".utf8)) }
    }

    public func append(_ row: BatchRow, _ outcome: RowOutcome) throws(JobError) {
        func floats(_ values: [Float]?) -> String {
            guard let values else { return "" }
            var writer = JSONWriter(reservingCapacity: values.count * 14)
            writer.writeFloats(values)
            return csvField(String(decoding: writer.bytes, as: UTF8.self))
        }
        var cells = [csvField(row.file), String(row.row)]
        switch outcome {
        case .success(let reply): cells += [floats(reply.imageFeatures), floats(reply.textFeatures), ""]
        case .failure(let error): cells += ["", "", csvField(JSONWriter.string(error.json))]
        }
        file.append(Array((cells.joined(separator: ",") + "\n").utf8))
    }

    public func commit() throws(JobError) -> [String: Int] { [file.path: try file.sync()] }
}

/// `image_embeddings.npy` and `text_embeddings.npy` (rows in input order, only rows that have
/// one) and `metadata.jsonl`: one line per input row with `file`, `row` and `image_index` /
/// `text_index` (its row in the arrays) or `error`.
public final class NPYWriter: BatchWriter {
    public static let imageFile = "image_embeddings.npy", textFile = "text_embeddings.npy", metadataFile = "metadata.jsonl"

    private let directory: String
    private let dtype: NPYDType
    private let sizes: [String: Int]?
    private let metadata: AppendFile
    private var arrays: [String: (file: AppendFile, columns: Int)] = [:]

    public init(directory: String, dtype: NPYDType, sizes: [String: Int]?) throws(JobError) {
        self.directory = directory
        self.dtype = dtype
        self.sizes = sizes
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw JobError(.output, "cannot create \(directory): \(error.localizedDescription)")
        }
        let metadataPath = URL(fileURLWithPath: directory).appendingPathComponent(Self.metadataFile).path
        metadata = try AppendFile(metadataPath, size: sizes.map { $0[metadataPath] ?? 0 })
        for name in [Self.imageFile, Self.textFile] {
            if let size = sizes?[path(name)], size > 0 { try open(name, columns: nil, size: size) }
        }
    }

    private func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }

    /// A resumed array takes its width from its header; a new one from its first row.
    private func open(_ name: String, columns: Int?, size: Int?) throws(JobError) {
        let file = try AppendFile(path(name), size: size)
        var width = columns ?? 0
        if columns == nil {
            width = try NPYMatrix(headerOf: path(name)).columns
        } else {
            file.append(npyHeader(dtype: dtype, rows: 0, columns: width))
        }
        arrays[name] = (file, width)
    }

    private func rowCount(_ name: String) -> Int {
        guard let (file, columns) = arrays[name] else { return 0 }
        return (file.size - npyHeaderSize) / (columns * dtype.byteCount)
    }

    private func add(_ values: [Float], to name: String) throws(JobError) -> Int {
        if arrays[name] == nil { try open(name, columns: values.count, size: nil) }
        guard let (file, columns) = arrays[name], columns == values.count else {
            throw JobError(.output, "an embedding of \(values.count) values among rows of \(arrays[name]?.columns ?? 0)")
        }
        let index = rowCount(name)
        file.append(npyBytes(values, dtype: dtype))
        return index
    }

    public func append(_ row: BatchRow, _ outcome: RowOutcome) throws(JobError) {
        var writer = rowObject(row, outcome, features: false)
        if case .success(let reply) = outcome {
            if let image = reply.imageFeatures { writer.raw(",\"image_index\":\(try add(image, to: Self.imageFile))") }
            if let text = reply.textFeatures { writer.raw(",\"text_index\":\(try add(text, to: Self.textFile))") }
        }
        writer.raw("}\n")
        metadata.append(writer.bytes)
    }

    /// Arrays first (with their headers' row counts brought up to date), then the metadata that
    /// points into them.
    public func commit() throws(JobError) -> [String: Int] {
        var sizes: [String: Int] = [:]
        for (name, array) in arrays {
            try array.file.overwrite(npyHeader(dtype: dtype, rows: rowCount(name), columns: array.columns), at: 0)
            sizes[array.file.path] = try array.file.sync()
        }
        sizes[metadata.path] = try metadata.sync()
        return sizes
    }
}

extension NPYMatrix {
    /// Only the header's shape (the file may hold more rows than it says, after a killed run).
    init(headerOf path: String) throws(JobError) {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: npyHeaderSize),
            data.count == npyHeaderSize
        else { throw JobError(.checkpoint, "cannot read the header of \(path)") }
        let header = String(decoding: data.dropFirst(10), as: UTF8.self)
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw JobError(.checkpoint, "\(path): no shape in its header")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard shape.count == 2 else { throw JobError(.checkpoint, "\(path): shape \(shape)") }
        self.init(rows: shape[0], columns: shape[1], values: [])
    }
}
