import CDNNL
import Foundation
import Synchronization

/// Self-attention of one unmasked sequence, all heads at once, with both products in bf16 through
/// oneDNN (batched over heads, reading the heads in place from the [L, D] matrices); softmax in fp32,
/// its normalization applied to the output of the second product.
/// One pair of primitives per sequence length, created on first use and kept. Should oneDNN refuse
/// a length (never seen), that sequence runs in fp32 from the same bf16 inputs, with one warning.
public final class BFloat16Attention: @unchecked Sendable {
    let heads: Int, headDim: Int
    private let engine: DNNLEngine
    private let primitives = Mutex<[Int: Products]>([:])
    private let context: KernelContext

    public init(heads: Int, headDim: Int, context: KernelContext = KernelContext()) throws(DNNLError) {
        self.context = context
        self.heads = heads
        self.headDim = headDim
        engine = try DNNLEngine.cpu.get()
    }

    /// out[L, D] (f32, heads side by side) = softmax(Q Kᵀ / sqrt(headDim)) V per head, from bf16
    /// q, k, v [L, D] (row stride D = heads x headDim).
    ///
    /// - scores: room for heads x L x L floats; probabilities: as many bf16 values.
    public func apply(_ out: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<UInt16>, k: UnsafeMutablePointer<UInt16>,
                      v: UnsafeMutablePointer<UInt16>, length: Int, scores: UnsafeMutablePointer<Float>,
                      probabilities: UnsafeMutablePointer<UInt16>, threads: Int)
    {
        do {
            try applyInBFloat16(out, q: q, k: k, v: v, length: length, scores: scores, probabilities: probabilities,
                                threads: threads)
        } catch {
            context.warnings.once("\(error): attention over \(length) tokens runs in fp32")
            applyInFloat(out, q: q, k: k, v: v, length: length, scores: scores)
        }
    }

    private func applyInBFloat16(_ out: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<UInt16>, k: UnsafeMutablePointer<UInt16>,
                                 v: UnsafeMutablePointer<UInt16>, length: Int, scores: UnsafeMutablePointer<Float>,
                                 probabilities: UnsafeMutablePointer<UInt16>, threads: Int) throws(DNNLError)
    {
        let products = try self.products(length: length)
        try execute(products.scores.handle, [(DNNL_ARG_SRC_0, products.scores.source, UnsafeMutableRawPointer(q)),
                                              (DNNL_ARG_WEIGHTS_0, products.scores.weights, UnsafeMutableRawPointer(k)),
                                              (DNNL_ARG_DST_0, products.scores.destination, UnsafeMutableRawPointer(scores))], engine)
        // Softmax left unnormalized (each row's sum kept), the division done on P·V's smaller output.
        let rows = heads * length
        let sums = context.float.borrow(rows)
        defer { context.float.giveBack(sums) }
        inChunks(rows, workers: threads, minimum: 64) { r in
            for row in r {
                sums.pointer[row] = 1 / exponentiateToBFloat16(probabilities + row * length, scores + row * length, count: length)
            }
        }
        try execute(products.values.handle, [(DNNL_ARG_SRC_0, products.values.source, UnsafeMutableRawPointer(probabilities)),
                                              (DNNL_ARG_WEIGHTS_0, products.values.weights, UnsafeMutableRawPointer(v)),
                                              (DNNL_ARG_DST_0, products.values.destination, UnsafeMutableRawPointer(out))], engine)
        let D = heads * headDim, inverses = sums.pointer
        inChunks(length, workers: threads, minimum: 64) { r in
            for l in r {
                for h in 0..<heads { scale(out + l * D + h * headDim, by: inverses[h * length + l], count: headDim) }
            }
        }
    }

    /// The same attention in fp32 (`attentionHead`) on q, k, v widened from bf16, a head at a time.
    private func applyInFloat(_ out: UnsafeMutablePointer<Float>, q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>,
                              v: UnsafePointer<UInt16>, length: Int, scores: UnsafeMutablePointer<Float>) {
        let D = heads * headDim, count = length * D
        let wide = context.float.borrow(3 * count)
        defer { context.float.giveBack(wide) }
        let (q32, k32, v32) = (wide.pointer, wide.pointer + count, wide.pointer + 2 * count)
        for (from, to) in [(q, q32), (k, k32), (v, v32)] { for i in 0..<count { to[i] = float(bfloat16: from[i]) } }
        for h in 0..<heads {
            let o = h * headDim
            attentionHead(out + o, q: q32 + o, k: k32 + o, v: v32 + o, scores: scores, causal: false, length: length,
                          queries: length, headDim: headDim, ld: D)
        }
    }

    private struct Products {
        let scores: Matmul, values: Matmul
    }

    private func products(length: Int) throws(DNNLError) -> Products {
        try primitives.withLock { (cache) throws(DNNLError) -> Products in
            if let known = cache[length] { return known }
            let H = Int64(heads), L = Int64(length), hd = Int64(headDim), D = H * hd
            // Head h of Q is [L, hd] at column h * hd of the [L, D] matrix: strides (hd, D, 1).
            let perHead = try strided([H, L, hd], [hd, D, 1], dnnl_bf16)
            let made = Products(
                scores: try Matmul(engine, source: perHead, weights: try strided([H, hd, L], [hd, 1, D], dnnl_bf16),
                                   destination: try strided([H, L, L], [L * L, L, 1], dnnl_f32),
                                   scale: log2e / Float(headDim).squareRoot()),  // base-2 logits
                values: try Matmul(engine, source: try strided([H, L, L], [L * L, L, 1], dnnl_bf16), weights: perHead,
                                   destination: try strided([H, L, hd], [hd, D, 1], dnnl_f32), scale: 1))
            cache[length] = made
            return made
        }
    }
}

/// Scores in base-2 logits, for `exponentiateToBFloat16`.
private let log2e: Float = 1.442_695_04

private func strided(_ dims: [Int64], _ strides: [Int64], _ type: dnnl_data_type_t) throws(DNNLError) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    try dnnl(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dims, type, strides), "memory_desc_init_by_strides")
    return md
}

/// A matmul over fixed memory descriptors, its output multiplied by `scale`.
private struct Matmul: @unchecked Sendable {
    let primitive: MatmulPrimitive
    let source, weights, destination: dnnl_memory_desc_t

    var handle: dnnl_primitive_t { primitive.handle }

    init(_ engine: DNNLEngine, source: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, destination: dnnl_memory_desc_t,
         scale: Float) throws(DNNLError)
    {
        primitive = try MatmulPrimitive(engine, source: source, weights: weights, destination: destination, outputScale: scale)
        self.source = source
        self.weights = weights
        self.destination = destination
    }
}
