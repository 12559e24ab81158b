/// The model's input for one image: [3, height, width] float32, channel-major.
public struct ImageTensor: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var values: [Float]  // [3, height, width]
}

/// CLIPImageProcessor on Pillow: resize the shortest edge (bicubic), center-crop, rescale,
/// normalize. Only the part of the resized image that survives the crop is computed.
public func preprocess(_ image: RGBImage, config: PreprocessorConfig) -> ImageTensor {
    let (resizedHeight, resizedWidth) = shortestEdgeSize(height: image.height, width: image.width, shortestEdge: config.shortestEdge)
    let (cropHeight, cropWidth) = (config.cropHeight, config.cropWidth)
    // HF's center_crop: top = (h - crop) // 2, which is also where its zero padding leaves the
    // image when it is smaller than the crop.
    let top = floorHalf(resizedHeight - cropHeight), left = floorHalf(resizedWidth - cropWidth)
    let rows = max(0, top)..<min(resizedHeight, top + cropHeight)
    let columns = max(0, left)..<min(resizedWidth, left + cropWidth)
    let window = resizeWindow(image, height: resizedHeight, width: resizedWidth, rows: rows, columns: columns)

    let lookup = normalizationTable(config)  // [3, 256]
    let padding = (0..<3).map { lookup[$0 * 256] }  // HF pads with byte 0, before rescaling
    var values = [Float](repeating: 0, count: 3 * cropHeight * cropWidth)
    values.withUnsafeMutableBufferPointer { values in
        window.withUnsafeBufferPointer { window in
            for c in 0..<3 {
                let table = lookup[(c * 256)..<(c * 256 + 256)]
                for y in 0..<cropHeight {
                    let row = (c * cropHeight + y) * cropWidth
                    let sourceY = top + y
                    for x in 0..<cropWidth {
                        let sourceX = left + x
                        if rows.contains(sourceY) && columns.contains(sourceX) {
                            let pixel = ((sourceY - rows.lowerBound) * columns.count + sourceX - columns.lowerBound) * 3
                            values[row + x] = table[c * 256 + Int(window[pixel + c])]
                        } else {
                            values[row + x] = padding[c]
                        }
                    }
                }
            }
        }
    }
    return ImageTensor(height: cropHeight, width: cropWidth, values: values)
}

/// HF's get_resize_output_image_size(default_to_square: false): the short side becomes
/// `shortestEdge`, the long side int(shortestEdge * long / short), truncated.
public func shortestEdgeSize(height: Int, width: Int, shortestEdge: Int) -> (height: Int, width: Int) {
    let (short, long) = width <= height ? (width, height) : (height, width)
    let newLong = Int(Double(shortestEdge * long) / Double(short))
    return width <= height ? (newLong, shortestEdge) : (shortestEdge, newLong)
}

private func floorHalf(_ n: Int) -> Int { n >= 0 ? n / 2 : -((-n + 1) / 2) }

/// Rows `rows` and columns `columns` of `image` resized to height x width as Pillow's BICUBIC
/// resize would make them: [rows, columns, 3].
func resizeWindow(_ image: RGBImage, height: Int, width: Int, rows: Range<Int>, columns: Range<Int>) -> [UInt8] {
    let needHorizontal = width != image.width, needVertical = height != image.height
    let verticalTaps = needVertical ? bicubicTaps(inSize: image.height, outSize: height, outputs: rows) : nil
    // Input rows the vertical pass reads (the taps' first indices never decrease).
    let firstRow = verticalTaps?.first.first ?? rows.lowerBound
    let endRow = verticalTaps.map { ($0.first.last ?? 0) + ($0.count.last ?? 0) } ?? rows.upperBound

    var band = [UInt8](repeating: 0, count: (endRow - firstRow) * columns.count * 3)  // [endRow - firstRow, columns, 3]
    image.pixels.withUnsafeBufferPointer { input in
        band.withUnsafeMutableBufferPointer { band in
            guard let input = input.baseAddress, let out = band.baseAddress else { return }
            if needHorizontal {
                let taps = bicubicTaps(inSize: image.width, outSize: width, outputs: columns)
                resampleHorizontal(out, input, taps: taps, firstRow: firstRow, rows: endRow - firstRow, inWidth: image.width)
            } else {
                for r in 0..<(endRow - firstRow) {
                    (out + r * columns.count * 3).update(from: input + ((firstRow + r) * image.width + columns.lowerBound) * 3,
                                                         count: columns.count * 3)
                }
            }
        }
    }
    guard let verticalTaps else { return band }
    var window = [UInt8](repeating: 0, count: rows.count * columns.count * 3)
    band.withUnsafeBufferPointer { band in
        window.withUnsafeMutableBufferPointer { window in
            guard let input = band.baseAddress, let out = window.baseAddress else { return }
            resampleVertical(out, input, taps: verticalTaps, firstRow: firstRow, width: columns.count)
        }
    }
    return window
}

/// value(c, byte) = (Float(byte * rescaleFactor) - mean[c]) / std[c], in HF's float32 order.
func normalizationTable(_ config: PreprocessorConfig) -> [Float] {
    var table = [Float](repeating: 0, count: 3 * 256)
    for c in 0..<3 {
        for byte in 0..<256 {
            var x = config.doRescale ? Float(Double(byte) * config.rescaleFactor) : Float(byte)
            if config.doNormalize { x = (x - config.mean[c]) / config.std[c] }
            table[c * 256 + byte] = x
        }
    }
    return table
}
