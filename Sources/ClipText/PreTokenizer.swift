/// Splits cleaned text into pre-tokens as the reference's regex does:
/// `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`, case-insensitive, matches
/// found left to right and everything between them (white space) dropped.
///
/// Case-insensitive matching matters for two characters once text is lower-cased: "ſ" (long s)
/// folds to "s", so "'ſ" is a contraction; and U+0345, a combining mark that folds to the letter
/// iota, matches neither the letter class nor its complement, so it is dropped like a space.
func preTokenize(_ text: [Unicode.Scalar], _ emit: (ArraySlice<Unicode.Scalar>) -> Bool) {
    var i = 0
    let n = text.count
    while i < n {
        let start = i
        switch characterClass(text[i]) {
        case .skipped:
            i += 1
            continue
        case .letter:
            i += 1
            while i < n && characterClass(text[i]) == .letter { i += 1 }
        case .number:
            i += 1
        case .other:
            if text[i] == "'", let length = contractionLength(text, after: i) {
                i += 1 + length
            } else {
                i += 1
                while i < n && characterClass(text[i]) == .other { i += 1 }
            }
        }
        if !emit(text[start..<i]) { return }
    }
}

enum CharacterClass {
    case letter, number, other, skipped
}

@inline(__always)
func characterClass(_ scalar: Unicode.Scalar) -> CharacterClass {
    let v = scalar.value
    if v < 0x80 {
        switch UInt8(v) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .skipped
        default: return .other
        }
    }
    if v == 0x345 { return .skipped }
    let properties = scalar.properties
    if properties.isWhitespace { return .skipped }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
        return .letter
    case .decimalNumber, .letterNumber, .otherNumber:
        return .number
    default:
        return .other
    }
}

/// The length of the contraction ('s 't 're 've 'm 'll 'd) after the apostrophe at `i`, if any.
private func contractionLength(_ text: [Unicode.Scalar], after i: Int) -> Int? {
    func at(_ k: Int) -> UInt32? { i + k < text.count ? text[i + k].value : nil }
    switch at(1) {
    case 0x73, 0x53, 0x17F, 0x74, 0x54, 0x6D, 0x4D, 0x64, 0x44:  // s S ſ t T m M d D
        return 1
    case 0x72, 0x52, 0x76, 0x56:  // r R v V, then e
        return at(2) == 0x65 || at(2) == 0x45 ? 2 : nil
    case 0x6C, 0x4C:  // l L, then l
        return at(2) == 0x6C || at(2) == 0x4C ? 2 : nil
    default:
        return nil
    }
}
