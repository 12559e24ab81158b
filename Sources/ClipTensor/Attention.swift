import Foundation

/// Multi-head scaled dot-product attention for one sequence.
///
/// q, k, v and out are [length, heads * headDim] with row stride `ld` (so Q, K and V can sit side
/// by side in one matrix); head h owns columns h*headDim ..< (h+1)*headDim. `scores` is scratch
/// for [length, length]. With `causal`, position i attends to positions 0...i only.
/// `queries` limits the output to the first rows (the vision encoder's last layer needs only the
/// class token); keys and values still span the whole sequence.
public func attention(
    _ out: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    scores: UnsafeMutablePointer<Float>,
    causal: Bool, length: Int, queries: Int? = nil, heads: Int, headDim: Int, ld: Int
) {
    for h in 0..<heads {
        let col = h * headDim
        attentionHead(out + col, q: q + col, k: k + col, v: v + col, scores: scores, causal: causal,
                      length: length, queries: queries ?? length, headDim: headDim, ld: ld)
    }
}

/// One head of `attention`: q, k, v and out point at the head's first column.
public func attentionHead(
    _ out: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    scores: UnsafeMutablePointer<Float>,
    causal: Bool, length: Int, queries rows: Int, headDim: Int, ld: Int
) {
    // scores[rows, length] = Q_h · K_hᵀ / sqrt(headDim)
    gemm(scores, q, k, transposeB: true, alpha: 1 / Float(headDim).squareRoot(),
         m: rows, n: length, k: headDim, lda: ld, ldb: ld, ldc: length)
    softmaxRows(scores, rows: rows, ld: length) { causal ? $0 + 1 : length }
    // out_h[rows, headDim] = P · V_h
    gemm(out, scores, v, transposeB: false, m: rows, n: headDim, k: length, lda: length, ldb: ld, ldc: ld)
}

public func attentionReference(
    _ out: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    causal: Bool, length: Int, heads: Int, headDim: Int, ld: Int
) {
    let scale = 1 / Double(headDim).squareRoot()
    var p = [Double](repeating: 0, count: length)
    for h in 0..<heads {
        let col = h * headDim
        for i in 0..<length {
            let visible = causal ? i + 1 : length
            var m = -Double.infinity
            for j in 0..<visible {
                var dot = 0.0
                for d in 0..<headDim { dot += Double(q[i * ld + col + d]) * Double(k[j * ld + col + d]) }
                p[j] = dot * scale
                m = max(m, p[j])
            }
            var sum = 0.0
            for j in 0..<visible { p[j] = Foundation.exp(p[j] - m); sum += p[j] }
            for d in 0..<headDim {
                var acc = 0.0
                for j in 0..<visible { acc += p[j] / sum * Double(v[j * ld + col + d]) }
                out[i * ld + col + d] = Float(acc)
            }
        }
    }
}
