// libFuzzer harness: bytes through one decoder (JPEG, PNG or WebP, chosen at compile time with
// -D FUZZ_JPEG / FUZZ_PNG / FUZZ_WEBP) and CLIP preprocessing. The format's magic bytes are
// written over the input so that every input reaches that decoder. Built by scripts/fuzz.sh.
import ClipImage

#if FUZZ_JPEG
private let magic: [(offset: Int, bytes: [UInt8])] = [(0, [0xFF, 0xD8, 0xFF])]
#elseif FUZZ_PNG
private let magic: [(offset: Int, bytes: [UInt8])] = [(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])]
#elseif FUZZ_WEBP
private let magic: [(offset: Int, bytes: [UInt8])] = [(0, Array("RIFF".utf8)), (8, Array("WEBP".utf8))]
#endif

// A small crop keeps each run fast; the resampling code is the same as at 336.
private let config: PreprocessorConfig = {
    var c = PreprocessorConfig()
    (c.shortestEdge, c.cropHeight, c.cropWidth) = (24, 24, 24)
    return c
}()
// Under libFuzzer's 2 GB memory limit, and small enough to keep runs fast.
private let limits = DecodeLimits(maxPixels: 4_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for (offset, m) in magic {
        if bytes.count < offset + m.count { bytes += [UInt8](repeating: 0, count: offset + m.count - bytes.count) }
        bytes.replaceSubrange(offset..<offset + m.count, with: m)
    }
    do {
        let image = try decodeImage(bytes, limits: limits)
        check(image.width > 0 && image.height > 0 && image.width * image.height <= limits.maxPixels, "\(image.width)x\(image.height)")
        check(image.pixels.count == image.width * image.height * 3, "pixel buffer of \(image.pixels.count) bytes")
        let tensor = preprocess(image, config: config)
        check(tensor.height == 24 && tensor.width == 24 && tensor.values.count == 3 * 24 * 24, "tensor of \(tensor.height)x\(tensor.width)")
        check(tensor.values.allSatisfy(\.isFinite), "non-finite tensor value")
    } catch {
        check([.imageDecodeFailed, .imageTooLarge].contains(error.code), "\(error)")
    }
    return 0
}
