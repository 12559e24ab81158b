import Foundation

/// An --image value as a request cell: a local file becomes base64; a URL, a data URI or base64
/// passes as it is. A value that can only be a path and names no file is reported as such,
/// rather than as the bad base64 the worker would take it for.
func imageCell(_ value: String) throws -> String {
    guard !value.contains("://"), !value.hasPrefix("data:") else { return value }
    let path = (value as NSString).expandingTildeInPath
    if FileManager.default.fileExists(atPath: path) {
        return try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
    }
    if looksLikePath(value) { throw CommandError(.notFound, "file not found: \(value)") }
    return value
}

/// Starts as paths do (/, ./, ../, ~) or ends in a file extension, and is not base64: base64
/// may start with / (a JPEG's does: "/9j/") but never holds a dot or a tilde, and comes in
/// groups of four characters.
func looksLikePath(_ value: String) -> Bool {
    let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    let compact = value.filter { !$0.isWhitespace }
    if compact.count % 4 == 0 && compact.allSatisfy(alphabet.contains) { return false }
    if ["/", "./", "../", "~"].contains(where: value.hasPrefix) { return true }
    guard let dot = value.lastIndex(of: "."), dot != value.startIndex else { return false }
    let ext = value[value.index(after: dot)...]
    return (1...5).contains(ext.count) && ext.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
}

/// The bytes of a --request argument: a file, or standard input for "-".
func requestFile(_ path: String) throws -> Data {
    if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
    guard let data = FileManager.default.contents(atPath: (path as NSString).expandingTildeInPath) else {
        throw CommandError(.notFound, "file not found: \(path)")
    }
    return data
}
