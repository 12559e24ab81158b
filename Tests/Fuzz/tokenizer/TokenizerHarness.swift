// libFuzzer harness: any text through CLIP's tokenizer (cleaning, pre-tokenizer, BPE). The
// vocabulary is read from Tests/Fixtures/clip-vocab (run from the repository root, or set
// CLIPQ_FUZZ_VOCAB). Built by scripts/fuzz.sh.
import ClipText
import Foundation

private let tokenizer: CLIPTokenizer = {
    let directory = ProcessInfo.processInfo.environment["CLIPQ_FUZZ_VOCAB"] ?? "Tests/Fixtures/clip-vocab"
    do { return try CLIPTokenizer(modelDirectory: URL(fileURLWithPath: directory)) } catch { fatalError("\(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let ids = tokenizer.encode(text)
    check(ids.count >= 2 && ids.count <= CLIPTokenizer.contextLength, "\(ids.count) ids")
    check(ids.first == tokenizer.startOfTextID && ids.last == tokenizer.endOfTextID, "control ids misplaced")
    check(ids.dropFirst().dropLast().allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize && $0 != tokenizer.startOfTextID && $0 != tokenizer.endOfTextID },
                 "an id out of the vocabulary, or a control id from the text")
    // A shorter context cuts the same ids.
    let short = tokenizer.encode(text, contextLength: 8)
    check(Array(short.dropLast()) == Array(ids.prefix(short.count - 1)), "context 8 is not a prefix of context 77")
    return 0
}
