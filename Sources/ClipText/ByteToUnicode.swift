/// GPT-2's reversible map of the 256 byte values to printable characters (`bytes_to_unicode`):
/// printable Latin-1 bytes stand for themselves, the others take code points from U+0100 on,
/// so that BPE never sees a space or a control character.
let byteToUnicode: [Unicode.Scalar] = {
    func printable(_ b: Int) -> Bool { (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) }
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var next = 0x100
    for b in 0..<256 {
        if printable(b) {
            table[b] = Unicode.Scalar(UInt8(b))
        } else {
            table[b] = Unicode.Scalar(UInt16(next)) ?? " "  // U+0100...U+0143: always valid
            next += 1
        }
    }
    return table
}()
