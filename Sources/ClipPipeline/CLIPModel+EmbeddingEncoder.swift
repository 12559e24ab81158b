import ClipModel

/// The fp32 encoders over BLAS are the worker's encoder.
extension CLIPModel: EmbeddingEncoder {
    public func encodeImages(pixels: [Float], count: Int) throws -> [[Float]] {
        try pixels.withUnsafeBufferPointer { (buffer) throws(ModelError) in try encodeImages(pixels: buffer, count: count) }
    }
}
