// libFuzzer harness: an image cell as text through source parsing (URL, data URI, base64),
// with the base64 decoder checked against Foundation's encoder. Built by scripts/fuzz.sh.
import ClipImage
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSource(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let cell = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        switch try ImageSource(parsing: cell) {
        case .url(let url):
            // By bytes: ":" followed by a combining mark is one Character.
            let scheme = String(decoding: url.utf8.prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self).lowercased()
            check(scheme == "http" || scheme == "https", "took \(url) for an http(s) URL")
        case .bytes(let bytes):
            // Whatever decoded must encode (Foundation) and decode (ours) back to itself.
            let encoded = Data(bytes).base64EncodedString()
            check((try? decodeBase64(encoded[...].utf8)) == bytes, "base64 round trip differs")
        }
    } catch {
        check([.invalidBase64, .urlNotAllowed].contains(error.code), "\(error)")
    }
    return 0
}
