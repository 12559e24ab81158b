import Foundation

/// Each of `rows` rows of x (row stride `ld`) becomes softmax over its first `length(row)`
/// entries; the entries after those (a causal mask) become 0. Subtracting the row's maximum first
/// keeps exp from overflowing.
public func softmaxRows(
    _ x: UnsafeMutablePointer<Float>, rows: Int, ld: Int, length: (Int) -> Int
) {
    for r in 0..<rows {
        let row = x + r * ld
        let n = length(r)
        softmax(row, count: n)
        if n < ld { (row + n).update(repeating: 0, count: ld - n) }
    }
}

/// x[count] = softmax(x), in place.
public func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    let lanes = 16
    let full = n - n % lanes
    var maxV = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i < full {
        let v = load16(x + i)
        maxV.replace(with: v, where: v .> maxV)
        i += lanes
    }
    var m = maxV.max()
    while i < n { m = max(m, x[i]); i += 1 }

    var sumV = SIMD16<Float>()
    i = 0
    while i < full {
        let e = vectorExp(load16(x + i) - m)
        store16(e, x + i)
        sumV += e
        i += lanes
    }
    var sum = sumV.sum()
    if i < n {
        // The tail goes through the same exp as the body so that every entry is treated alike.
        var tail = SIMD16<Float>(repeating: -.infinity)
        for j in 0..<(n - i) { tail[j] = x[i + j] - m }
        let e = vectorExp(tail)
        for j in 0..<(n - i) { x[i + j] = e[j]; sum += e[j] }
    }
    let inv = 1 / sum
    scale(x, by: inv, count: n)
}

public func softmaxReference(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var m = -Double.infinity
    for i in 0..<n { m = max(m, Double(x[i])) }
    var sum = 0.0
    for i in 0..<n { sum += Foundation.exp(Double(x[i]) - m) }
    for i in 0..<n { x[i] = Float(Foundation.exp(Double(x[i]) - m) / sum) }
}
