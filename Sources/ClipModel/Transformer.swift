import ClipTensor
import Synchronization

/// The weights of one pre-LN encoder layer (CLIPEncoderLayer), its products as its precision runs
/// them (chosen at load).
struct EncoderLayer: Sendable {
    let norm1: LayerNormWeights
    let projections: any Projections  // q, k, v
    let out: any LinearKernel
    let norm2: LayerNormWeights
    let mlp: any FeedForward  // fc1, activation, fc2
}

struct LayerNormWeights: Sendable {
    let weight: Tensor
    let bias: Tensor
    let eps: Float

    /// y[rows, width] = layerNorm(x); y may be x.
    func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, threads: Int = 1) {
        let n = weight.shape[0]
        inChunks(rows, workers: threads, minimum: 64) { r in
            layerNorm(y + r.lowerBound * n, x + r.lowerBound * n, weight: weight.pointer, bias: bias.pointer,
                      eps: eps, rows: r.count, width: n)
        }
    }
}

/// Intermediates of one transformer pass, kept between batches.
final class TransformerScratch {
    let h = FloatBuffer(), q = FloatBuffer(), k = FloatBuffer(), v = FloatBuffer()
    let a = FloatBuffer(), mlp = FloatBuffer(), scores = FloatBuffer(), kept = FloatBuffer()
    let q16 = BFloat16Buffer(), k16 = BFloat16Buffer(), v16 = BFloat16Buffer(), p16 = BFloat16Buffer()
}

/// A stack of encoder layers run over several sequences packed one after another into one matrix
/// (no padding): the linear layers see all their rows at once, attention runs per sequence.
struct Transformer: Sendable {
    let config: TowerConfig
    let layers: [EncoderLayer]
    /// Cores to spread attention heads over (BLAS spreads each linear layer by itself).
    let threads: Int
    /// Attention in bf16, for unmasked sequences, where the linear layers are bf16 or int8.
    let bf16Attention: BFloat16Attention?
    let warnings: Warnings

    /// Runs the layers over x and writes, for each sequence, the final hidden state of one row
    /// (`pooledRow(sequence)`, an absolute row index) to pooled.
    ///
    /// The pooled row is all that is read afterwards, so the last layer computes queries, the
    /// attention output and the MLP for that row alone; keys and values still span every row.
    ///
    /// - x: [T, D], the embeddings; overwritten.
    /// - pooled: [S, D], S = sequences.count.
    func forward(
        _ x: UnsafeMutablePointer<Float>, pooled: UnsafeMutablePointer<Float>,
        sequences: [Range<Int>], causal: Bool, pooledRow: (Range<Int>) -> Int,
        scratch s: TransformerScratch
    ) {
        let D = config.hiddenSize, I = config.intermediateSize
        let T = sequences.last?.upperBound ?? 0, S = sequences.count
        let longest = sequences.map(\.count).max() ?? 0
        let h = s.h.reserve(T * D)  // [T, D] normed input, then each sublayer's output
        let q = s.q.reserve(T * D), k = s.k.reserve(T * D), v = s.v.reserve(T * D)  // [T, D]
        let a = s.a.reserve(T * D)  // [T, D] attention output, heads side by side
        let mlp = s.mlp.reserve(T * I)  // [T, I]
        // Per worker [L, L] for one head; in bf16 attention [heads, L, L] for one sequence.
        let scores = s.scores.reserve(max(threads, config.heads) * longest * longest)
        let hd = config.headDim

        for layer in layers.dropLast() {
            layer.norm1.apply(h, x, rows: T, threads: threads)
            selfAttention(a, layer.projections, h, q: q, k: k, v: v, sequences: sequences, causal: causal, scores: scores,
                          scratch: s)
            layer.out.applyAdding(to: x, a, rows: T, scratch: h, threads: threads)
            layer.norm2.apply(h, x, rows: T, threads: threads)
            layer.mlp.apply(into: x, h, rows: T, activation: config.activation, hidden: mlp, scratch: h, threads: threads)
        }

        // The last layer, for the pooled rows only.
        for (i, seq) in sequences.enumerated() { (pooled + i * D).update(from: x + pooledRow(seq) * D, count: D) }
        guard let last = layers.last else { return }
        last.norm1.apply(h, x, rows: T, threads: threads)
        last.projections.k.apply(k, h, rows: T)
        last.projections.v.apply(v, h, rows: T)
        let kept = s.kept.reserve(S * D)  // [S, D] normed pooled rows
        for (i, seq) in sequences.enumerated() { (kept + i * D).update(from: h + pooledRow(seq) * D, count: D) }
        last.projections.q.apply(q, kept, rows: S)  // [S, D]
        // The query at row r sees keys up to r under the causal mask, all of them otherwise.
        let visible = sequences.map { causal ? pooledRow($0) + 1 - $0.lowerBound : $0.count }
        eachHead(of: S, scores: scores, longest: longest) { i, h, scores in
            let o = sequences[i].lowerBound * D + h * hd
            attentionHead(a + i * D + h * hd, q: q + i * D + h * hd, k: k + o, v: v + o, scores: scores,
                          causal: false, length: visible[i], queries: 1, headDim: hd, ld: D)
        }
        last.out.applyAdding(to: pooled, a, rows: S, scratch: h, threads: threads)
        last.norm2.apply(h, pooled, rows: S, threads: threads)
        last.mlp.apply(into: pooled, h, rows: S, activation: config.activation, hidden: mlp, scratch: h, threads: threads)
    }

    /// a[T, D] = self-attention over each sequence of q, k, v [T, D], the projections of the normed
    /// input h: all heads at once in bf16 where the tower has it (unmasked sequences beside bf16 or
    /// int8 layers), else fp32 heads side by side (also should oneDNN fail, with a warning).
    private func selfAttention(
        _ a: UnsafeMutablePointer<Float>, _ projections: any Projections, _ h: UnsafePointer<Float>,
        q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        sequences: [Range<Int>], causal: Bool, scores: UnsafeMutablePointer<Float>, scratch s: TransformerScratch
    ) {
        let D = config.hiddenSize, hd = config.headDim, T = sequences.last?.upperBound ?? 0, count = T * D
        let longest = sequences.map(\.count).max() ?? 0
        if !causal, let attention = bf16Attention {
            let q16 = s.q16.reserve(count), k16 = s.k16.reserve(count), v16 = s.v16.reserve(count)  // [T, D] bf16
            let p16 = s.p16.reserve(config.heads * longest * longest)  // [heads, L, L] probabilities
            let converted = projections.apply(h, q: q, k: k, v: v, rows: T, bfloat16: (q16, k16, v16))
            if !converted {
                for (from, to) in [(q, q16), (k, k16), (v, v16)] { convertToBFloat16(to, from, count: count, workers: threads) }
            }
            do {
                for seq in sequences {
                    let o = seq.lowerBound * D
                    try attention.apply(a + o, q: q16 + o, k: k16 + o, v: v16 + o, length: seq.count, scores: scores,
                                        probabilities: p16, threads: threads)
                }
                return
            } catch {
                warnings.once("\(error): attention runs in fp32")
                if converted {  // q, k, v from their bf16 values
                    for (from, to) in [(q16, q), (k16, k), (v16, v)] { for i in 0..<count { to[i] = float(bfloat16: from[i]) } }
                }
            }
        } else {
            _ = projections.apply(h, q: q, k: k, v: v, rows: T, bfloat16: nil)
        }
        eachHead(of: sequences.count, scores: scores, longest: longest) { i, h, scores in
            let o = sequences[i].lowerBound * D + h * hd
            attentionHead(a + o, q: q + o, k: k + o, v: v + o, scores: scores, causal: causal,
                          length: sequences[i].count, queries: sequences[i].count, headDim: hd, ld: D)
        }
    }

    /// Calls `body(sequence, head, scores)` for every head of `count` sequences, spread over the
    /// threads; each thread has its own [longest, longest] slice of `scores`.
    private func eachHead(
        of count: Int, scores: UnsafeMutablePointer<Float>, longest: Int,
        _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        let tasks = count * config.heads
        let next = Atomic<Int>(0)
        // Handed out one at a time, so that a thread with short sequences takes more of them.
        inParallel(workers: threads) { worker in
            let mine = scores + worker * longest * longest
            while true {
                let t = next.add(1, ordering: .relaxed).oldValue
                guard t < tasks else { return }
                body(t / config.heads, t % config.heads, mine)
            }
        }
    }
}

extension Weights {
    /// The encoder layers under `prefix` (e.g. "vision_model.encoder"), with shapes from `config`.
    func transformer(_ prefix: String, _ config: TowerConfig, threads: Int, makeLinear: LinearFactory) -> Transformer {
        let D = config.hiddenSize, I = config.intermediateSize
        let layers = (0..<config.layers).map { i in
            let p = "\(prefix).layers.\(i)"
            let norm1 = layerNorm("\(p).layer_norm1", D, eps: config.layerNormEps)
            let norm2 = layerNorm("\(p).layer_norm2", D, eps: config.layerNormEps)
            let (o1, o2) = (outlierChannels(norm1), outlierChannels(norm2))
            let q = linear("\(p).self_attn.q_proj", out: D, in: D, makeLinear, outliers: o1)
            let k = linear("\(p).self_attn.k_proj", out: D, in: D, makeLinear, outliers: o1)
            let v = linear("\(p).self_attn.v_proj", out: D, in: D, makeLinear, outliers: o1)
            let fc1 = linear("\(p).mlp.fc1", out: I, in: D, makeLinear, outliers: o2)
            let fc2 = linear("\(p).mlp.fc2", out: D, in: I, makeLinear)
            // The int8 layer's own products where every layer of a group came out int8.
            let projections: any Projections = if let q = q as? Int8Linear, let k = k as? Int8Linear, let v = v as? Int8Linear {
                Int8Projections(q: q, k: k, v: v)
            } else {
                LinearProjections(q: q, k: k, v: v)
            }
            let mlp: any FeedForward = if let fc1 = fc1 as? Int8Linear, let fc2 = fc2 as? Int8Linear {
                Int8FeedForward(fc1: fc1, fc2: fc2)
            } else {
                LinearFeedForward(fc1: fc1, fc2: fc2)
            }
            return EncoderLayer(norm1: norm1, projections: projections, out: linear("\(p).self_attn.out_proj", out: D, in: D, makeLinear),
                                norm2: norm2, mlp: mlp)
        }
        // bf16 attention beside bf16 linear layers, and beside int8 ones where the CPU has bf16.
        let bf16 = layers.first.map { $0.projections.q is BFloat16Linear || ($0.projections.q is Int8Linear && cpuHasBFloat16) } ?? false
        return Transformer(config: config, layers: layers, threads: threads,
                           bf16Attention: bf16 ? try? BFloat16Attention(heads: config.heads, headDim: config.headDim, context: context) : nil,
                           warnings: context.warnings)
    }

    /// In int8, the outlier channels of a layer norm's output, whose products with the next
    /// layers' weights stay fp32: a few channels of a real CLIP checkpoint's layer norms are tens
    /// of times larger than the rest, and one int8 scale per token would leave the others a handful
    /// of levels. The norm's own parameters stand in for calibration: channel j's outputs are
    /// bounded by about a_j = 3|gamma_j| + |beta_j| (3 standard deviations); a channel is an outlier
    /// where a_j exceeds 6 times the median, the largest 1/16 of the width at most. Moving each
    /// channel's scale into the weights instead (SmoothQuant, alpha 0.5) was measured worse on the
    /// stress models (Tests/Fixtures/outlier-clip): with 7-bit weights (AVX2) the weights' rows
    /// lose what the activations gain. Other precisions: none.
    func outlierChannels(_ norm: LayerNormWeights) -> [Int] {
        guard precision == .int8, problems.isEmpty else { return [] }
        let n = norm.weight.shape[0], gamma = norm.weight.pointer, beta = norm.bias.pointer
        let bound = (0..<n).map { 3 * abs(gamma[$0]) + abs(beta[$0]) }
        let median = bound.sorted()[n / 2]
        let outliers = (0..<n).filter { bound[$0] > 6 * median }.sorted { bound[$0] > bound[$1] }.prefix(max(1, n / 16))
        return outliers.sorted()
    }

    func layerNorm(_ prefix: String, _ width: Int, eps: Float) -> LayerNormWeights {
        LayerNormWeights(weight: tensor("\(prefix).weight", [width]), bias: tensor("\(prefix).bias", [width]), eps: eps)
    }

    func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = true, _ make: LinearFactory,
                outliers: [Int] = []) -> any LinearKernel {
        let w = tensor("\(prefix).weight", [out, inFeatures])
        let b = bias ? tensor("\(prefix).bias", [out]) : nil
        return kernel("\(prefix).weight", w, b, make, outliers: outliers)
    }

    /// The kernel for the weight `name`: of `precision` on its converted weights in `cache` where
    /// the cache has them, else what `make` builds. Where it keeps a converted copy, the fp32
    /// weight's pages in the mapped file are let go (they come back from the page cache if read).
    ///
    /// - outliers: input channels whose products stay fp32 (int8; see `outlierChannels`).
    func kernel(_ name: String, _ w: Tensor, _ b: Tensor?, _ make: LinearFactory, outliers: [Int] = []) -> any LinearKernel {
        kernel(name, w, b, make, outliers: outliers, in: precision)
    }

    /// As `kernel(_:_:_:_:outliers:)`, in `precision` rather than the tower's.
    func kernel(_ name: String, _ w: Tensor, _ b: Tensor?, _ make: LinearFactory, outliers: [Int] = [],
                in precision: Precision?) -> any LinearKernel {
        let kernel = precision.map {
            $0.linear(w, b, outliers: outliers, cached: cache?.parts(for: name), threads: threads, context: context)
        } ?? make(w, b)
        if let converting = kernel as? any ConvertingLinearKernel { converted.append((name, converting)) }
        if !kernel.readsWeightInPlace { file.release(w.pointer, bytes: w.shape.reduce(4, *)) }
        return kernel
    }
}

/// Builds the kernel for one linear layer from its [out, in] weight and optional bias; the backend
/// seam (fp32 sgemm, bf16 or int8 through oneDNN: `Precision.linearFactory`).
public typealias LinearFactory = @Sendable (_ weight: Tensor, _ bias: Tensor?) -> any LinearKernel

public let sgemmLinearFactory: LinearFactory = { w, b in
    SgemmLinear(weight: w.pointer, bias: b?.pointer, inFeatures: w.shape[1], outFeatures: w.shape[0])
}
