import ClipTensor

/// CLIPVisionTransformer plus `visual_projection`: pixels in, image embeddings out.
struct VisionEncoder: Sendable {
    let config: VisionConfig
    let patchEmbedding: any LinearKernel  // conv weight [D, C, P, P] seen as [D, C*P*P]
    let classEmbedding: Tensor  // [D]
    let positionEmbedding: Tensor  // [N+1, D]
    let preNorm: LayerNormWeights
    let transformer: Transformer
    let postNorm: LayerNormWeights
    let projection: any LinearKernel  // [P, D], no bias

    init(_ w: Weights, _ config: VisionConfig, projectionDim: Int, threads: Int, makeLinear: LinearFactory) {
        let D = config.tower.hiddenSize, eps = config.tower.layerNormEps
        self.config = config
        let conv = w.tensor("vision_model.embeddings.patch_embedding.weight",
                            [D, config.channels, config.patchSize, config.patchSize])
        let patches = LinearWeights(name: "vision_model.embeddings.patch_embedding.weight",
                                    weight: Tensor(pointer: conv.pointer, shape: [D, config.patchFeatures]), bias: nil)
        patchEmbedding = w.kernel(patches, makeLinear, in: w.precision?.patchEmbedding)
        classEmbedding = w.tensor("vision_model.embeddings.class_embedding", [D])
        positionEmbedding = w.tensor("vision_model.embeddings.position_embedding.weight", [config.positions, D])
        preNorm = w.layerNorm("vision_model.pre_layrnorm", D, eps: eps)  // sic: HF's spelling
        transformer = w.transformer("vision_model.encoder", config.tower, threads: threads, makeLinear: makeLinear)
        postNorm = w.layerNorm("vision_model.post_layernorm", D, eps: eps)
        projection = w.kernel(w.linearWeights("visual_projection", out: projectionDim, in: D, bias: false), makeLinear)
    }

    /// out[B, P] for pixels [B, C, H, W] (normalized, H = W = image_size).
    func encode(_ out: UnsafeMutablePointer<Float>, pixels: UnsafePointer<Float>, count B: Int, scratch: VisionScratch) {
        let D = config.tower.hiddenSize, N = config.positions, G = config.gridSize
        let patches = scratch.patches.reserve(B * (N - 1) * config.patchFeatures)  // [B*G*G, C*P*P]
        let embedded = scratch.embedded.reserve(B * (N - 1) * D)  // [B*G*G, D]
        let x = scratch.x.reserve(B * N * D)  // [B*N, D]: per image the class token, then the patches
        let pooled = scratch.pooled.reserve(B * D)  // [B, D]

        im2col(patches, pixels, count: B)
        patchEmbedding.apply(embedded, patches, rows: B * G * G)
        for b in 0..<B {
            let xb = x + b * N * D
            xb.update(from: classEmbedding.pointer, count: D)
            (xb + D).update(from: embedded + b * (N - 1) * D, count: (N - 1) * D)
            add(xb, positionEmbedding.pointer, count: N * D)
        }
        preNorm.apply(x, x, rows: B * N)
        let sequences = (0..<B).map { $0 * N..<($0 + 1) * N }
        transformer.forward(x, pooled: pooled, sequences: sequences, causal: false,
                            pooledRow: { $0.lowerBound }, scratch: scratch.transformer)
        postNorm.apply(pooled, pooled, rows: B)
        projection.apply(out, pooled, rows: B)
    }

    /// Rearranges [B, C, H, W] into one row per patch, in the conv weight's (c, ky, kx) order, so
    /// that the stride-P convolution is a single matrix product.
    private func im2col(_ patches: UnsafeMutablePointer<Float>, _ pixels: UnsafePointer<Float>, count B: Int) {
        let C = config.channels, P = config.patchSize, G = config.gridSize, H = config.imageSize
        var dst = patches
        for b in 0..<B {
            for gy in 0..<G {
                for gx in 0..<G {
                    for c in 0..<C {
                        let plane = pixels + (b * C + c) * H * H
                        for ky in 0..<P {
                            dst.update(from: plane + (gy * P + ky) * H + gx * P, count: P)
                            dst += P
                        }
                    }
                }
            }
        }
    }
}

final class VisionScratch {
    let patches = FloatBuffer(), embedded = FloatBuffer(), x = FloatBuffer(), pooled = FloatBuffer()
    let transformer = TransformerScratch()
}
