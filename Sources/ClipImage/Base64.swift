/// Standard base64 (RFC 4648 alphabet `+/`): padding optional, CR/LF tolerated anywhere,
/// anything else refused. Hand-written because Foundation's decoder accepts neither missing
/// padding nor line breaks by default, and its options accept other junk too.
public func decodeBase64(_ text: Substring.UTF8View) throws(ImageError) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(text.count / 4 * 3 + 3)
    var quad: UInt32 = 0, filled = 0, padding = 0, offset = 0
    for byte in text {
        defer { offset += 1 }
        if byte == 0x0A || byte == 0x0D { continue }
        if byte == UInt8(ascii: "=") {
            padding += 1
            continue
        }
        guard padding == 0 else { throw ImageError(.invalidBase64, "data after '=' padding at byte \(offset)") }
        let value = base64Value(byte)
        guard value >= 0 else { throw ImageError(.invalidBase64, "byte \(byte) at \(offset) is not base64") }
        quad = quad << 6 | UInt32(value)
        filled += 1
        if filled == 4 {
            out.append(UInt8(truncatingIfNeeded: quad >> 16))
            out.append(UInt8(truncatingIfNeeded: quad >> 8))
            out.append(UInt8(truncatingIfNeeded: quad))
            quad = 0
            filled = 0
        }
    }
    // A lone trailing symbol carries only 6 bits: not a whole byte.
    guard filled != 1, padding <= 2, padding == 0 || (filled + padding) == 4 else {
        throw ImageError(.invalidBase64, "bad length or padding")
    }
    if filled == 2 {
        out.append(UInt8(truncatingIfNeeded: quad >> 4))
    } else if filled == 3 {
        out.append(UInt8(truncatingIfNeeded: quad >> 10))
        out.append(UInt8(truncatingIfNeeded: quad >> 2))
    }
    return out
}

@inline(__always)
private func base64Value(_ byte: UInt8) -> Int {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(byte) - 65
    case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(byte) - 97 + 26
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte) - 48 + 52
    case UInt8(ascii: "+"): 62
    case UInt8(ascii: "/"): 63
    default: -1
    }
}
