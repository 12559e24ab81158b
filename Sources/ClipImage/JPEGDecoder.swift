import CTurboJPEG

/// JPEG through TurboJPEG with libjpeg's defaults as Pillow uses them (accurate integer IDCT,
/// fancy upsampling). Grayscale is replicated; CMYK and YCCK are read as Pillow reads them
/// (always as Adobe's inverted CMYK, "CMYK;I") and converted with Pillow's cmyk2rgb.
func decodeJPEG(_ bytes: [UInt8], limits: DecodeLimits) throws(ImageError) -> RGBImage {
    guard let decoder = tjInitDecompress() else { throw ImageError(.internal, "tjInitDecompress failed") }
    defer { tjDestroy(decoder) }
    var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
    guard tjDecompressHeader3(decoder, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
        throw ImageError(.imageDecodeFailed, "JPEG header: \(String(cString: tjGetErrorStr2(decoder)))")
    }
    try limits.check(width: Int(width), height: Int(height), format: "JPEG")

    let pixelFormat: TJPF, channels: Int
    switch TJCS(rawValue: UInt32(colorspace)) {
    case TJCS_GRAY: (pixelFormat, channels) = (TJPF_GRAY, 1)
    case TJCS_CMYK, TJCS_YCCK: (pixelFormat, channels) = (TJPF_CMYK, 4)
    default: (pixelFormat, channels) = (TJPF_RGB, 3)
    }
    let count = Int(width) * Int(height)
    var raw = [UInt8](repeating: 0, count: count * channels)
    // LIMITSCANS refuses progressive files with absurd scan counts (a known CPU bomb).
    let flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS
    let status = tjDecompress2(decoder, bytes, UInt(bytes.count), &raw, width, 0, height, pixelFormat.rawValue, flags)
    if status != 0 {
        let message = String(cString: tjGetErrorStr2(decoder))
        // Pillow ignores libjpeg's warnings (corrupt-data notes) but refuses truncated files.
        if tjGetErrorCode(decoder) == TJERR_FATAL.rawValue || message.contains("Premature end") {
            throw ImageError(.imageDecodeFailed, "JPEG: \(message)")
        }
    }
    switch channels {
    case 1: return RGBImage(width: Int(width), height: Int(height), pixels: grayToRGB(raw))
    case 4: return RGBImage(width: Int(width), height: Int(height), pixels: invertedCMYKToRGB(raw))
    default: return RGBImage(width: Int(width), height: Int(height), pixels: raw)
    }
}

func grayToRGB(_ gray: [UInt8]) -> [UInt8] {
    var rgb = [UInt8](repeating: 0, count: gray.count * 3)
    for (i, v) in gray.enumerated() {
        rgb[3 * i] = v
        rgb[3 * i + 1] = v
        rgb[3 * i + 2] = v
    }
    return rgb
}

/// Pillow's "CMYK;I" unpack (every sample v read as 255 - v) followed by its cmyk2rgb:
/// out = (255 - k) - c * (255 - k) / 255, with Pillow's rounded division by 255.
func invertedCMYKToRGB(_ stored: [UInt8]) -> [UInt8] {
    let count = stored.count / 4
    var rgb = [UInt8](repeating: 0, count: count * 3)
    for i in 0..<count {
        let notK = Int(stored[4 * i + 3])  // 255 - k, k = 255 - stored
        for channel in 0..<3 {
            let ink = 255 - Int(stored[4 * i + channel])
            let t = ink * notK + 128
            rgb[3 * i + channel] = UInt8(clamping: notK - ((t >> 8) + t) >> 8)
        }
    }
    return rgb
}
