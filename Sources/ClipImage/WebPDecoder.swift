import CWebP

/// Still WebP (lossy, lossless, with alpha) through libwebp; alpha dropped as Pillow does.
/// Animated WebP is refused: reading only its first frame needs libwebpdemux.
func decodeWebP(_ bytes: [UInt8], limits: DecodeLimits) throws(ImageError) -> RGBImage {
    var features = WebPBitstreamFeatures()
    let status = WebPGetFeatures(bytes, bytes.count, &features)
    guard status == VP8_STATUS_OK else { throw ImageError(.imageDecodeFailed, "WebP header: status \(status.rawValue)") }
    guard features.has_animation == 0 else { throw ImageError(.unsupportedImageFormat, "animated WebP is not supported") }
    let width = Int(features.width), height = Int(features.height)
    try limits.check(width: width, height: height, format: "WebP")
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    let decoded = pixels.withUnsafeMutableBufferPointer {
        WebPDecodeRGBInto(bytes, bytes.count, $0.baseAddress, $0.count, Int32(width * 3))
    }
    guard decoded != nil else { throw ImageError(.imageDecodeFailed, "WebP data could not be decoded") }
    return RGBImage(width: width, height: height, pixels: pixels)
}
