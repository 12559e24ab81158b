import ClipTensor

/// CLIPTextTransformer plus `text_projection`: token ids in, text embeddings out.
struct TextEncoder: Sendable {
    let config: TextConfig
    let tokenEmbedding: Tensor  // [V, D]
    let positionEmbedding: Tensor  // [77, D]
    let transformer: Transformer
    let finalNorm: LayerNormWeights
    let projection: any LinearKernel  // [P, D], no bias

    init(_ w: Weights, _ config: TextConfig, projectionDim: Int, threads: Int, makeLinear: LinearFactory) {
        let D = config.tower.hiddenSize
        self.config = config
        tokenEmbedding = w.tensor("text_model.embeddings.token_embedding.weight", [config.vocabSize, D])
        positionEmbedding = w.tensor("text_model.embeddings.position_embedding.weight", [config.maxPositions, D])
        transformer = w.transformer("text_model.encoder", config.tower, threads: threads, makeLinear: makeLinear)
        finalNorm = w.layerNorm("text_model.final_layer_norm", D, eps: config.tower.layerNormEps)
        projection = w.kernel(w.linearWeights("text_projection", out: projectionDim, in: D, bias: false), makeLinear)
    }

    /// The position whose hidden state is the text's feature, as transformers picks it: the first
    /// `eos_token_id`, or for legacy configs (eos_token_id == 2) the first largest id. Like
    /// transformers, a text without the end token pools position 0.
    func pooledPosition(_ ids: [Int]) -> Int {
        if config.eosTokenID == 2 {
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: config.eosTokenID) ?? 0
    }

    /// out[B, P] for B token id lists, already checked against the vocabulary and context length.
    ///
    /// Under the causal mask the pooled state depends on tokens up to the pooled position only, so
    /// each text is cut there and the texts are packed back to back without padding.
    func encode(_ out: UnsafeMutablePointer<Float>, tokenIDs: [[Int]], scratch: TextScratch) {
        let D = config.tower.hiddenSize, B = tokenIDs.count
        var sequences: [Range<Int>] = []
        var start = 0
        for ids in tokenIDs {
            let length = pooledPosition(ids) + 1
            sequences.append(start..<start + length)
            start += length
        }
        let x = scratch.x.reserve(start * D)  // [T, D], T = tokens up to each pooled position
        let pooled = scratch.pooled.reserve(B * D)  // [B, D]
        for (ids, seq) in zip(tokenIDs, sequences) {
            for p in 0..<seq.count {
                let row = x + (seq.lowerBound + p) * D
                row.update(from: tokenEmbedding.pointer + ids[p] * D, count: D)
                add(row, positionEmbedding.pointer + p * D, count: D)
            }
        }
        transformer.forward(x, pooled: pooled, sequences: sequences, causal: true,
                            pooledRow: { $0.upperBound - 1 }, scratch: scratch.transformer)
        finalNorm.apply(pooled, pooled, rows: B)
        projection.apply(out, pooled, rows: B)
    }
}

final class TextScratch {
    let x = FloatBuffer(), pooled = FloatBuffer()
    let transformer = TransformerScratch()
}
