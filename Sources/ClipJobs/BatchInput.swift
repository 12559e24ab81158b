import ClipSchema
import Foundation

/// The rows of a job's input, in a fixed order (files by name, rows in file order), and a
/// fingerprint of the files so that a resumed job can tell that its input changed.
public struct BatchInput: Sendable {
    public var rows: [BatchRow]
    public var fingerprint: String

    public init(rows: [BatchRow], fingerprint: String) {
        self.rows = rows
        self.fingerprint = fingerprint
    }

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp"]

    /// `path` is a CSV or JSONL file, or a folder of CSV/JSONL files, or (when it holds none) a
    /// folder of image files with an optional `.txt` caption beside each.
    public static func load(_ path: String) throws(JobError) -> BatchInput {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JobError(.input, "no such file or folder: \(path)")
        }
        let url = URL(fileURLWithPath: path)
        let files: [URL]
        if isDirectory.boolValue {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            } catch {
                throw JobError(.input, "cannot list \(path): \(error.localizedDescription)")
            }
            files = names.map { url.appendingPathComponent($0) }
        } else {
            files = [url]
        }
        let tables = files.filter { ["csv", "jsonl"].contains($0.pathExtension.lowercased()) }
        var rows: [BatchRow] = []
        var prints: [String] = []
        if !tables.isEmpty || !isDirectory.boolValue {
            for file in tables.isEmpty ? files : tables {
                let bytes = try read(file)
                prints.append("\(file.lastPathComponent):\(bytes.count)")
                switch file.pathExtension.lowercased() {
                case "csv": rows += try csvRows(bytes, file: file.lastPathComponent)
                case "jsonl": rows += jsonlRows(bytes, file: file.lastPathComponent)
                default: throw JobError(.input, "\(file.path) is neither .csv nor .jsonl")
                }
            }
        } else {
            for file in files where imageExtensions.contains(file.pathExtension.lowercased()) {
                let caption = file.deletingPathExtension().appendingPathExtension("txt")
                var text: String?
                if let data = FileManager.default.contents(atPath: caption.path) {
                    text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }
                let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? -1
                prints.append("\(file.lastPathComponent):\(size):\(text?.utf8.count ?? -1)")
                rows.append(BatchRow(file: file.lastPathComponent, row: 0, image: .file(file.path), text: text?.nilIfEmpty))
            }
            if rows.isEmpty { throw JobError(.input, "\(path) holds no .csv, .jsonl or image files") }
        }
        return BatchInput(rows: rows, fingerprint: prints.joined(separator: ","))
    }

    private static func read(_ file: URL) throws(JobError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw JobError(.input, "cannot read \(file.path)")
        }
        return Array(data)
    }

    /// A CSV file with a header naming an `image` and/or a `text` column (others are ignored).
    static func csvRows(_ bytes: [UInt8], file: String) throws(JobError) -> [BatchRow] {
        let records = csvRecords(bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes)  // Excel's BOM
        guard let header = records.first else { return [] }
        let imageColumn = header.firstIndex(of: "image"), textColumn = header.firstIndex(of: "text")
        guard imageColumn != nil || textColumn != nil else {
            throw JobError(.input, "\(file): the header has no `image` or `text` column")
        }
        return records.dropFirst().enumerated().map { row, fields in
            func cell(_ column: Int?) -> String? {
                guard let column, column < fields.count else { return nil }
                return fields[column].nilIfEmpty
            }
            return BatchRow(file: file, row: row, image: cell(imageColumn).map(BatchRow.Image.cell), text: cell(textColumn))
        }
    }

    /// One `{"image": ..., "text": ...}` object per line; a blank line is skipped but counted, so
    /// that `row` is the line's number (0-based).
    static func jsonlRows(_ bytes: [UInt8], file: String) -> [BatchRow] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated().compactMap { row, line in
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return nil }
            let value: JSONValue
            do {
                value = try JSONParser().parse(line)
            } catch {
                return BatchRow(file: file, row: row, problem: ClipError(.invalidJSON, "line \(row + 1): \(error)"))
            }
            guard let object = value.object else {
                return BatchRow(file: file, row: row, problem: ClipError(.schemaViolation, "line \(row + 1) is not a JSON object"))
            }
            for key in ["image", "text"] {
                if let cell = object[key], cell.string == nil, cell != .null {
                    return BatchRow(file: file, row: row, problem: ClipError(.schemaViolation, "`\(key)` must be a string"))
                }
            }
            return BatchRow(file: file, row: row, image: object["image"]?.string?.nilIfEmpty.map(BatchRow.Image.cell),
                            text: object["text"]?.string?.nilIfEmpty)
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
