/// The reference's text cleaning (open_clip's `_clean_lower`):
/// `" ".join(html.unescape(html.unescape(ftfy.fix_text(text))).split()).lower()`.
func cleanText(_ text: String) -> [Unicode.Scalar] {
    if let ascii = cleanPlainASCII(text) { return ascii }
    var scalars = ftfyFixText(Array(text.unicodeScalars))
    scalars = pythonHTMLUnescape(pythonHTMLUnescape(scalars))
    return pythonLowercase(collapsePythonWhitespace(scalars))
}

/// The common case, printable ASCII and ordinary white space without '&', where ftfy and
/// html.unescape change nothing: only white space and case are left to fix.
private func cleanPlainASCII(_ text: String) -> [Unicode.Scalar]? {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.utf8.count)
    var pendingSpace = false
    for byte in text.utf8 {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0C:
            pendingSpace = !out.isEmpty
        case 0x21...0x7E where byte != UInt8(ascii: "&"):
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            let lower = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
            out.append(Unicode.Scalar(lower))
        default:
            return nil
        }
    }
    return out
}

/// `" ".join(text.split())`: runs of Python white space become one space, none at the ends.
func collapsePythonWhitespace(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var pendingSpace = false
    for scalar in text {
        if pythonWhitespace.contains(scalar.value) {
            pendingSpace = !out.isEmpty
        } else {
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(scalar)
        }
    }
    return out
}

/// Python's `str.lower()`: full lower-case mappings (so "İ" becomes "i̇"), and capital sigma
/// becomes final "ς" when it ends a word, by Unicode's Final_Sigma condition.
func pythonLowercase(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    for (i, scalar) in text.enumerated() {
        let v = scalar.value
        if v < 0x80 {
            out.append((0x41...0x5A).contains(v) ? Unicode.Scalar(UInt8(v | 0x20)) : scalar)
        } else if v == 0x3A3 {
            out.append(isFinalSigma(text, at: i) ? "\u{3C2}" : "\u{3C3}")
        } else if scalar.properties.changesWhenLowercased {
            out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        } else {
            out.append(scalar)
        }
    }
    return out
}

/// Final_Sigma: a cased letter before (skipping case-ignorable ones), none after.
private func isFinalSigma(_ text: [Unicode.Scalar], at i: Int) -> Bool {
    var j = i - 1
    while j >= 0 && text[j].properties.isCaseIgnorable { j -= 1 }
    guard j >= 0 && text[j].properties.isCased else { return false }
    j = i + 1
    while j < text.count && text[j].properties.isCaseIgnorable { j += 1 }
    return j == text.count || !text[j].properties.isCased
}
