/// Formats recognised by their first bytes; the name or Content-Type of an image is never trusted.
public enum ImageFormat: String, Sendable {
    case jpeg, png, webp

    public init(sniffing bytes: [UInt8]) throws(ImageError) {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && bytes[offset..<offset + prefix.count].elementsEqual(prefix)
        }
        if starts([0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) {
            self = .webp
        } else if bytes.isEmpty {
            throw ImageError(.imageDecodeFailed, "the image is empty")
        } else {
            let known: [(String, [UInt8])] = [("GIF", Array("GIF8".utf8)), ("BMP", Array("BM".utf8)),
                                             ("TIFF", [0x49, 0x49, 0x2A, 0]), ("TIFF", [0x4D, 0x4D, 0, 0x2A])]
            let name = known.first { starts($0.1) }?.0 ?? "this"
            throw ImageError(.unsupportedImageFormat, "\(name) format is not supported: JPEG, PNG and WebP are")
        }
    }
}

/// Decodes any supported format to RGB the way Pillow's open + convert("RGB") does.
public func decodeImage(_ bytes: [UInt8], limits: DecodeLimits = DecodeLimits()) throws(ImageError) -> RGBImage {
    switch try ImageFormat(sniffing: bytes) {
    case .jpeg: return try decodeJPEG(bytes, limits: limits)
    case .png: return try decodePNG(bytes, limits: limits)
    case .webp: return try decodeWebP(bytes, limits: limits)
    }
}
