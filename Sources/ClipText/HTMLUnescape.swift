/// Python's `html.unescape`: numeric and named character references by the rules of HTML5,
/// including names without ';' ("&amp") and the longest known prefix of an unknown name
/// ("&notit;" -> "¬it;").
func pythonHTMLUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    guard text.contains("&") else { return text }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        if text[i] == "&", let (end, replacement) = characterReference(text, at: i) {
            out.append(contentsOf: replacement)
            i = end
        } else {
            out.append(text[i])
            i += 1
        }
    }
    return out
}

/// Matches `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` at `start` and decodes it.
private func characterReference(_ s: [Unicode.Scalar], at start: Int) -> (end: Int, replacement: [Unicode.Scalar])? {
    var i = start + 1
    guard i < s.count else { return nil }
    if s[i] == "#" {
        i += 1
        var radix: UInt32 = 10
        if i < s.count && (s[i] == "x" || s[i] == "X") && i + 1 < s.count && hexValue(s[i + 1]) != nil {
            radix = 16
            i += 1
        }
        var value: UInt32 = 0
        let digitsStart = i
        while i < s.count, let digit = radix == 16 ? hexValue(s[i]) : decimalValue(s[i]) {
            value = min(value * radix + digit, 0x110000)  // anything past U+10FFFF decodes alike
            i += 1
        }
        guard i > digitsStart else { return nil }
        if i < s.count && s[i] == ";" { i += 1 }
        return (i, numericReference(value))
    }
    let nameStart = i
    while i < s.count && i - nameStart < 32 && !"\t\n\u{C} <&#;".unicodeScalars.contains(s[i]) { i += 1 }
    guard i > nameStart else { return nil }
    if i < s.count && s[i] == ";" { i += 1 }
    let name = s[nameStart..<i]
    if let text = html5Entities[String(String.UnicodeScalarView(name))] {
        return (i, Array(text.unicodeScalars))
    }
    // The longest prefix of at least two characters that is a known name.
    var length = name.count - 1
    while length >= 2 {
        let prefix = name.prefix(length)
        if let text = html5Entities[String(String.UnicodeScalarView(prefix))] {
            return (i, Array(text.unicodeScalars) + name.dropFirst(length))
        }
        length -= 1
    }
    return (i, ["&"] + name)
}

/// A numeric reference's text, with HTML5's repairs: windows-1252 for C1 codes, U+FFFD for
/// surrogates and out-of-range values, nothing for other invalid code points.
private func numericReference(_ value: UInt32) -> [Unicode.Scalar] {
    switch value {
    case 0x00: return ["\u{FFFD}"]
    case 0x0D: return ["\r"]
    case 0x80...0x9F: return [Unicode.Scalar(windows1252C1[Int(value - 0x80)]) ?? "\u{FFFD}"]
    case 0xD800...0xDFFF, 0x110000...: return ["\u{FFFD}"]
    case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0xFDD0...0xFDEF: return []
    case _ where value & 0xFFFE == 0xFFFE: return []  // U+FFFE, U+FFFF of every plane
    default: return [Unicode.Scalar(value) ?? "\u{FFFD}"]
    }
}

/// ftfy's `unescape_html`: only references that end in ';' (`&#?[0-9A-Za-z]{1,24};`), named ones
/// from HTML5 or ftfy's upper-case spellings, numeric ones only if decoded whole.
func ftfyUnescapeHTML(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    guard text.contains("&") else { return text }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        guard text[i] == "&" else {
            out.append(text[i])
            i += 1
            continue
        }
        let hash = i + 1 < text.count && text[i + 1] == "#"
        let nameStart = hash ? i + 2 : i + 1
        var end = nameStart
        while end < text.count && end - nameStart <= 24 && isASCIIAlphanumeric(text[end]) { end += 1 }
        let length = end - nameStart
        guard (1...24).contains(length), end < text.count, text[end] == ";" else {
            out.append(text[i])
            i += 1
            continue
        }
        let reference = text[i...end]
        let name = String(String.UnicodeScalarView(text[(i + 1)...end]))
        if hash {
            let decoded = pythonHTMLUnescape(Array(reference))
            out.append(contentsOf: decoded.contains(";") ? Array(reference) : decoded)
        } else if let decoded = html5Entities[name] ?? ftfyUppercaseEntities[name] {
            out.append(contentsOf: decoded.unicodeScalars)
        } else {
            out.append(contentsOf: reference)
        }
        i = end + 1
    }
    return out
}

@inline(__always)
private func decimalValue(_ s: Unicode.Scalar) -> UInt32? {
    (0x30...0x39).contains(s.value) ? s.value - 0x30 : nil
}

@inline(__always)
private func hexValue(_ s: Unicode.Scalar) -> UInt32? {
    switch s.value {
    case 0x30...0x39: return s.value - 0x30
    case 0x41...0x46: return s.value - 0x41 + 10
    case 0x61...0x66: return s.value - 0x61 + 10
    default: return nil
    }
}

@inline(__always)
private func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return false
    }
}
