import CSPNG

/// PNG through libspng, converted as Pillow's open + convert("RGB") does: palette expanded,
/// alpha dropped (not composited), tRNS and gAMA ignored, 16-bit samples cut to their high byte,
/// except 16-bit grayscale, which Pillow opens as "I;16" and clamps to 255 when converting.
func decodePNG(_ bytes: [UInt8], limits: DecodeLimits) throws(ImageError) -> RGBImage {
    guard let context = spng_ctx_new(0) else { throw ImageError(.internal, "spng_ctx_new failed") }
    defer { spng_ctx_free(context) }
    func check(_ status: Int32, _ what: String) throws(ImageError) {
        guard status == 0 else { throw ImageError(.imageDecodeFailed, "PNG \(what): \(String(cString: spng_strerror(status)))") }
    }
    // Ancillary chunks (text, ICC...) are kept in memory by libspng: bound them.
    try check(spng_set_chunk_limits(context, 8 << 20, 16 << 20), "limits")
    let status = bytes.withUnsafeBytes { spng_set_png_buffer(context, $0.baseAddress, $0.count) }
    try check(status, "buffer")
    var header = spng_ihdr()
    try check(spng_get_ihdr(context, &header), "header")
    let width = Int(header.width), height = Int(header.height)
    try limits.check(width: width, height: height, format: "PNG")

    let colorType = spng_color_type(rawValue: UInt32(header.color_type))
    let deep = header.bit_depth == 16
    let format: spng_format
    switch colorType {
    case SPNG_COLOR_TYPE_INDEXED: format = SPNG_FMT_RGB8
    case SPNG_COLOR_TYPE_GRAYSCALE where !deep: format = SPNG_FMT_G8
    default: format = SPNG_FMT_RAW  // big-endian samples as stored
    }
    var size = 0
    try check(spng_decoded_image_size(context, Int32(format.rawValue), &size), "size")
    var raw = [UInt8](repeating: 0, count: size)
    try check(spng_decode_image(context, &raw, size, Int32(format.rawValue), 0), "data")

    let count = width * height
    let pixels: [UInt8]
    switch (colorType, deep) {
    case (SPNG_COLOR_TYPE_INDEXED, _):
        pixels = raw
    case (SPNG_COLOR_TYPE_GRAYSCALE, false):
        pixels = grayToRGB(raw)
    case (SPNG_COLOR_TYPE_GRAYSCALE, true):
        pixels = grayToRGB((0..<count).map { i in UInt8(clamping: Int(raw[2 * i]) << 8 | Int(raw[2 * i + 1])) })
    case (SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, _):
        pixels = grayToRGB(highBytes(raw, channels: 2, keep: 1, deep: deep, count: count))
    case (SPNG_COLOR_TYPE_TRUECOLOR, _):
        pixels = highBytes(raw, channels: 3, keep: 3, deep: deep, count: count)
    case (SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, _):
        pixels = highBytes(raw, channels: 4, keep: 3, deep: deep, count: count)
    default:
        throw ImageError(.imageDecodeFailed, "PNG color type \(header.color_type)")
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// The first `keep` of each pixel's `channels` samples, 8-bit (the high byte of a 16-bit one).
private func highBytes(_ raw: [UInt8], channels: Int, keep: Int, deep: Bool, count: Int) -> [UInt8] {
    if !deep && channels == keep { return raw }
    let stride = deep ? 2 : 1
    var out = [UInt8](repeating: 0, count: count * keep)
    for i in 0..<count {
        for c in 0..<keep { out[i * keep + c] = raw[(i * channels + c) * stride] }
    }
    return out
}
