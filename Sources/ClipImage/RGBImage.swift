/// Decoded pixels as Pillow's `convert("RGB")` leaves them: 8-bit R, G, B interleaved, row-major.
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]  // [height, width, 3]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count does not match the size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// What a decoder may allocate. Checked on the header, before any pixel is decoded.
public struct DecodeLimits: Equatable, Sendable {
    /// Default 50 MP: a 50 MP RGB image is 150 MB decoded.
    public var maxPixels: Int = 50_000_000

    public init(maxPixels: Int = 50_000_000) { self.maxPixels = maxPixels }

    func check(width: Int, height: Int, format: String) throws(ImageError) {
        guard width > 0, height > 0 else {
            throw ImageError(.imageDecodeFailed, "\(format) header says \(width)x\(height)")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw ImageError(.imageTooLarge, "\(format) of \(width)x\(height) is over the \(maxPixels)-pixel limit")
        }
    }
}
