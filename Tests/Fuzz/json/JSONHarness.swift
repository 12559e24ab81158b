// libFuzzer harness: a message body through the worker's first steps (size, JSON, request
// schema, request rules), and the parser against its writer. Built by scripts/fuzz.sh.
import ClipSchema

private let decoder: RequestDecoder = {
    do { return try RequestDecoder() } catch { fatalError("the built-in request schema does not compile: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = UnsafeBufferPointer(start: data, count: size)
    // Whatever the body, decode returns a request or throws a contract error; a request it
    // returns has rows within the limit, each with an image or a text.
    do {
        let request = try decoder.decode(body)
        check(!request.rows.isEmpty && request.rows.count <= decoder.limits.maxRows, "accepted \(request.rows.count) rows")
        check(request.rows.allSatisfy { $0.image != nil || $0.text != nil }, "accepted an empty row")
    } catch {
        check([.invalidJSON, .schemaViolation, .tooManyRows, .messageTooLarge].contains(error.code), "\(error)")
    }
    // Any document the parser accepts survives writing and reading back unchanged, and the
    // validator gives a verdict on it (whatever its shape).
    guard let value = try? JSONParser(maxDepth: decoder.limits.maxDepth).parse(body) else { return 0 }
    let written = JSONWriter.serialize(value)
    let again = try? JSONParser(maxDepth: decoder.limits.maxDepth).parse(written)
    check(again == value, "writing then parsing changed the document: \(String(decoding: written, as: UTF8.self))")
    _ = decoder.violations(of: value)
    return 0
}
