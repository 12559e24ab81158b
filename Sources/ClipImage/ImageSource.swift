/// Where a request's image cell says the image is. Anything that is not an http(s) URL or a
/// `data:image/...;base64,` URI is read as plain base64.
public enum ImageSource: Equatable, Sendable {
    case url(String)
    case bytes([UInt8])

    public init(parsing cell: String) throws(ImageError) {
        let text = cell.utf8
        guard let colon = text.firstIndex(of: UInt8(ascii: ":")), let scheme = schemeOf(cell[..<colon]) else {
            self = .bytes(try decodeBase64(cell[...].utf8))
            return
        }
        switch scheme {
        case "http", "https":
            self = .url(cell)
        case "data":
            guard let comma = text.firstIndex(of: UInt8(ascii: ",")) else {
                throw ImageError(.invalidBase64, "data URI without a comma")
            }
            let header = cell[text.index(after: colon)..<comma].lowercased()
            guard header.hasPrefix("image/"), header.hasSuffix(";base64") else {
                throw ImageError(.invalidBase64, "only data:image/...;base64, URIs are accepted")
            }
            self = .bytes(try decodeBase64(cell[text.index(after: comma)...].utf8))
        default:
            throw ImageError(.urlNotAllowed, "scheme '\(scheme)' is not allowed: only http and https")
        }
    }
}

/// The lowercased URI scheme if `prefix` is one (RFC 3986: ALPHA *( ALPHA / DIGIT / + - . )).
/// Base64 text has no ':' so it never reaches here.
private func schemeOf(_ prefix: Substring) -> String? {
    guard let first = prefix.utf8.first, first.isASCIILetter, prefix.utf8.count <= 32 else { return nil }
    for byte in prefix.utf8 where !(byte.isASCIILetter || (0x30...0x39).contains(byte) || byte == 0x2B || byte == 0x2D || byte == 0x2E) {
        return nil
    }
    return prefix.lowercased()
}

extension UInt8 {
    fileprivate var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}
