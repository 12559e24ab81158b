import Foundation

/// The MLP activations CLIP configs name in `hidden_act`.
public enum Activation: String, Sendable, CaseIterable {
    /// x * sigmoid(1.702 x): what OpenAI's CLIP was trained with.
    case quickGELU = "quick_gelu"
    /// x * Φ(x) with the exact erf, as torch.nn.functional.gelu.
    case gelu = "gelu"
}

/// x[count] = act(x), in place.
public func activate(_ x: UnsafeMutablePointer<Float>, _ act: Activation, count n: Int) {
    switch act {
    case .quickGELU:
        var i = 0
        while i + 16 <= n {
            let v = load16(x + i)
            store16(v / (1 + vectorExp(v * -1.702)), x + i)
            i += 16
        }
        while i < n {
            var tail = SIMD16<Float>()
            for j in 0..<(n - i) { tail[j] = x[i + j] }
            let r = tail / (1 + vectorExp(tail * -1.702))
            for j in 0..<(n - i) { x[i + j] = r[j] }
            i = n
        }
    case .gelu:
        for i in 0..<n { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.707_106_77)) }
    }
}

/// x[count] = act(x) in place for outputs quantized to int8 next (steps of 1/127 of a row's
/// largest value), where `activate`'s accuracy buys nothing: quick-GELU through the cheaper
/// `exp2ForBFloat16` (within ~1e-4 relative of `activate`), GELU as `activate`.
public func activateForQuantization(_ x: UnsafeMutablePointer<Float>, _ act: Activation, count n: Int) {
    guard act == .quickGELU else { return activate(x, act, count: n) }
    // x sigmoid(1.702 x) = x / (1 + 2^(-1.702 log2(e) x))
    let k: Float = -1.702 * 1.442_695_04
    var i = 0
    while i + 16 <= n {
        let v = load16(x + i)
        store16(v / (1 + exp2ForBFloat16(v * k, large: true)), x + i)
        i += 16
    }
    if i < n {
        var tail = SIMD16<Float>()
        for j in 0..<(n - i) { tail[j] = x[i + j] }
        let r = tail / (1 + exp2ForBFloat16(tail * k, large: true))
        for j in 0..<(n - i) { x[i + j] = r[j] }
    }
}

public func activateReference(_ x: UnsafeMutablePointer<Float>, _ act: Activation, count n: Int) {
    for i in 0..<n {
        let v = Double(x[i])
        switch act {
        case .quickGELU: x[i] = Float(v / (1 + Foundation.exp(-1.702 * v)))
        case .gelu: x[i] = Float(0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())))
        }
    }
}
