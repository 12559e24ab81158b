import ClipTensor
import Synchronization

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
    /// int8 layers), else fp32 heads side by side.
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
            for seq in sequences {
                let o = seq.lowerBound * D
                attention.apply(a + o, q: q16 + o, k: k16 + o, v: v16 + o, length: seq.count, scores: scores,
                                probabilities: p16, threads: threads)
            }
            return
        }
        _ = projections.apply(h, q: q, k: k, v: v, rows: T, bfloat16: nil)
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
