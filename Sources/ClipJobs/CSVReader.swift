import Foundation

/// RFC 4180 records: fields separated by commas, records by LF or CRLF, a field in double quotes
/// may hold commas, line breaks and `""` for a quote. A final record without a line break counts.
/// Invalid UTF-8 is replaced, never trapped on.
public func csvRecords(_ bytes: [UInt8]) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field: [UInt8] = []
    var quoted = false, fieldStarted = false
    var i = 0
    func endField() {
        record.append(String(decoding: field, as: UTF8.self))
        field.removeAll(keepingCapacity: true)
        fieldStarted = false
    }
    while i < bytes.count {
        let b = bytes[i]
        if quoted {
            if b == UInt8(ascii: "\"") {
                if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                    field.append(b)
                    i += 1
                } else {
                    quoted = false
                }
            } else {
                field.append(b)
            }
        } else {
            switch b {
            case UInt8(ascii: "\"") where field.isEmpty: quoted = true; fieldStarted = true
            case UInt8(ascii: ","): endField()
            case UInt8(ascii: "\r") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"): break
            case UInt8(ascii: "\n"):
                endField()
                records.append(record)
                record = []
            default: field.append(b); fieldStarted = true
            }
        }
        i += 1
    }
    if fieldStarted || !field.isEmpty || !record.isEmpty {
        endField()
        records.append(record)
    }
    return records
}

/// A field as a CSV cell: quoted when it holds a comma, quote or line break.
public func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
