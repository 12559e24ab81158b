import Foundation

/// One encoder's embeddings against a reference encoder's on the same inputs: what
/// `clipq check-precision` reports, a precision against fp32 on a user's own checkpoint and CPU
/// (real checkpoints carry activation outliers that random weights lack, so a precision's
/// accuracy is a property of the checkpoint as much as of the code).
public struct PrecisionCheck: Sendable {
    public enum Tower: String, Sendable {
        case image, text
    }

    /// One input's cosine similarity between the two encoders' embeddings.
    public struct Probe: Sendable, Equatable {
        public var tower: Tower
        public var label: String
        public var cosine: Double
    }

    public let probes: [Probe]

    /// Encodes `images` (pixels as the encoder takes them) and `texts` (token ids) with both
    /// encoders, in one batch per tower.
    public init(reference: any EmbeddingEncoder, candidate: any EmbeddingEncoder,
                images: [(label: String, pixels: [Float])], texts: [(label: String, tokenIDs: [Int])]) throws {
        var probes: [Probe] = []
        if !images.isEmpty {
            let pixels = images.flatMap(\.pixels)
            let want = try reference.encodeImages(pixels: pixels, count: images.count)
            let got = try candidate.encodeImages(pixels: pixels, count: images.count)
            probes += zip(images, zip(want, got)).map { Probe(tower: .image, label: $0.label, cosine: cosine($1.0, $1.1)) }
        }
        if !texts.isEmpty {
            let ids = texts.map(\.tokenIDs)
            let want = try reference.encodeTexts(tokenIDs: ids), got = try candidate.encodeTexts(tokenIDs: ids)
            probes += zip(texts, zip(want, got)).map { Probe(tower: .text, label: $0.label, cosine: cosine($1.0, $1.1)) }
        }
        self.probes = probes
    }

    /// The lowest cosine over a tower's inputs; nil where it had none.
    public func lowest(_ tower: Tower) -> Double? {
        probes.filter { $0.tower == tower }.map(\.cosine).min()
    }
}

/// cos(a, b) in Double; 1 where both are zero, 0 where only one is (an embedding that vanished is
/// as far as it gets), NaN propagated (a NaN embedding must fail any minimum).
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        aa += Double(x) * Double(x)
        bb += Double(y) * Double(y)
    }
    if aa == 0 || bb == 0 { return aa == bb ? 1 : 0 }
    return dot / (aa.squareRoot() * bb.squareRoot())
}

/// What `clipq check-precision` encodes when given no inputs of its own.
public enum PrecisionProbes {
    /// Captions of many lengths, the 77-token context filled by the last.
    public static let captions: [String] = [
        "a photo of a cat",
        "a dog",
        "",
        "A red double-decker bus driving down a busy city street on a rainy afternoon.",
        "a diagram of the human heart with its four chambers labelled",
        "two people hiking up a snowy mountain ridge at sunrise, seen from far below",
        "close-up of a bowl of ramen with an egg, spring onions and slices of pork",
        "an astronaut",
        String(repeating: "a very long caption that keeps going and going about many different things ", count: 8),
    ]

    /// `count` synthetic images as the encoder takes them ([channels, size, size] each, normalized
    /// pixel values of order one): smooth gradients, stripes and a hash pattern. Their activations
    /// are not a photograph's; a check on real images needs real images.
    public static func images(count: Int, channels: Int, size: Int) -> [[Float]] {
        (0..<count).map { b in
            var pixels = [Float](repeating: 0, count: channels * size * size)
            for c in 0..<channels {
                for y in 0..<size {
                    for x in 0..<size {
                        let (u, v) = (Float(x) / Float(size), Float(y) / Float(size))
                        let value: Float = switch b % 3 {
                        case 0: u * Float(c + 1) / Float(channels) + v - 1  // gradients
                        case 1: sin(Float.pi * 2 * (u * Float(4 + b) + v * Float(c + 1)))  // stripes
                        default: Float((x &* 7 &+ y &* 13 &+ c &* 29 &+ b &* 31) % 97) / 48 - 1  // hash
                        }
                        pixels[(c * size + y) * size + x] = value
                    }
                }
            }
            return pixels
        }
    }
}
