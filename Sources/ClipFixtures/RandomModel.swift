import ClipModel
import Foundation

/// Writes a model directory (config.json, model.safetensors) with random weights for `config`: what
/// the benchmark runs on when the real checkpoint is not at hand. Scales keep activations of order
/// one (no overflow, no subnormals) so that the timings are those of real weights.
public func writeRandomModel(_ config: CLIPConfig, to directory: URL, dtype: DType = .f32, seed: UInt64 = 1) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try config.json().write(to: directory.appendingPathComponent("config.json"))
    var writer = SafeTensorsWriter()
    for (i, (name, shape)) in config.tensorShapes().enumerated() {
        writer.add(name, shape: shape, dtype: dtype) {
            var rng = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            let count = shape.reduce(1, *)
            // Layer norm scales (layer_norm1, pre_layrnorm, post_layernorm, ...) around 1.
            let center: Float = name.contains("norm") && name.hasSuffix(".weight") ? 1 : 0
            // Unit gain for matrices: uniform in ±sqrt(3 / fan_in) has variance 1 / fan_in.
            let spread: Float = shape.count >= 2 ? (3 / Float(shape.dropFirst().reduce(1, *))).squareRoot() : 0.1
            return (0..<count).map { _ in
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17  // xorshift64
                return center + spread * (Float(rng >> 40) / Float(1 << 23) - 1)
            }
        }
    }
    try writer.write(to: directory.appendingPathComponent("model.safetensors"))
}
