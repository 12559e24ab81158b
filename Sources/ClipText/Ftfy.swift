import Foundation

/// The deterministic part of `ftfy.fix_text` (ftfy 6.3, default settings), which the reference
/// runs on every text before anything else.
///
/// Left out, on purpose: `fix_encoding`, ftfy's heuristic repair of mojibake (UTF-8 decoded as
/// windows-1252 and the like, "cafÃ©" -> "café"). It guesses from statistics of "badness" and
/// changes only text that is already broken; such texts are listed apart in the fixtures.
/// Also left out: `fix_surrogates`, since a Swift string cannot hold a lone surrogate.
func ftfyFixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    // ftfy fixes each line alone (and at most a million characters at once); once a line holds
    // '<', the text is taken for HTML and entities are left alone from there on.
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var unescapeHTML = true
    var start = 0
    while start < text.count {
        var end = text[start...].firstIndex(of: "\n").map { $0 + 1 } ?? text.count
        end = min(end, start + 1_000_000)
        let segment = Array(text[start..<end])
        if unescapeHTML && segment.contains("<") { unescapeHTML = false }
        out.append(contentsOf: ftfyFixSegment(segment, unescapeHTML: unescapeHTML))
        start = end
    }
    return out
}

/// `fix_and_explain`: the fixes in ftfy's order, repeated until the text stops changing.
func ftfyFixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
    var text = segment
    // Each round either shortens the text (entities) or leaves a fixed point; the bound only
    // guards against a loop the reference would also be stuck in.
    for _ in 0..<64 {
        let before = text
        if unescapeHTML { text = ftfyUnescapeHTML(text) }
        text = ftfyFixCharacters(text)
        text = fixLineBreaks(text)
        text = removeTerminalEscapes(text)
        text = text.filter { !ftfyControlCharacters.contains($0.value) }
        text = nfc(text)
        if text == before { break }
    }
    return text
}

/// fix_c1_controls, fix_latin_ligatures, fix_character_width and uncurl_quotes: each maps one
/// character to text and they never feed each other except through "ŉ" -> "ʼn" -> "'n", so one
/// pass in that order does all four.
func ftfyFixCharacters(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    for scalar in text {
        var v = scalar.value
        if v < 0x80 {
            out.append(scalar)
            continue
        }
        if (0x80...0x9F).contains(v) { v = windows1252C1[Int(v - 0x80)] }
        let expanded = ftfyLigatures[v] ?? ftfyWidthMap[v]
        for s in expanded.map({ Array($0.unicodeScalars) }) ?? [Unicode.Scalar(v) ?? scalar] {
            switch s.value {
            case 0x02BC, 0x2018...0x201B: out.append("'")
            case 0x201C...0x201F: out.append("\"")
            default: out.append(s)
            }
        }
    }
    return out
}

/// CRLF, CR, U+2028, U+2029 and U+0085 become "\n".
func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        switch text[i].value {
        case 0x0D:
            out.append("\n")
            if i + 1 < text.count && text[i + 1] == "\n" { i += 1 }
        case 0x2028, 0x2029, 0x85:
            out.append("\n")
        default:
            out.append(text[i])
        }
        i += 1
    }
    return out
}

/// Removes ANSI escapes, `\033\[((?:\d|;)*)([a-zA-Z])` (\d: any decimal digit, as Python's re).
func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    guard text.contains("\u{1B}") else { return text }
    var out: [Unicode.Scalar] = []
    var i = 0
    while i < text.count {
        if text[i] == "\u{1B}" && i + 1 < text.count && text[i + 1] == "[" {
            var j = i + 2
            while j < text.count && (text[j] == ";" || text[j].properties.generalCategory == .decimalNumber) { j += 1 }
            if j < text.count && text[j].isASCII && text[j].properties.isAlphabetic {
                i = j + 1
                continue
            }
        }
        out.append(text[i])
        i += 1
    }
    return out
}

/// Unicode NFC. Text below U+0300 is always in NFC, which spares most text the round trip.
func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    guard text.contains(where: { $0.value >= 0x300 }) else { return text }
    let string = String(String.UnicodeScalarView(text))
    return Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
}
