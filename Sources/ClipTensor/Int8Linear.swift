import CDNNL
import Foundation
import Synchronization

/// A linear layer in int8 through oneDNN's matmul: weights quantized once at load, symmetric per
/// output channel, into the blocked layout the primitive asks for; activations quantized per row
/// (per token) at each call; the product accumulated exactly in int32, then scaled back to fp32
/// with both scales and the bias added in one pass (`dequantize`), which also carries what comes
/// next where it can: the activation, the residual add, the quantization for the next layer. One
/// primitive per row count, created on first use and kept.
///
/// oneDNN 2.6 takes output scales per column only. A per-row multiplier as a binary post-op drops
/// a 2-D matmul to its reference kernel (hundreds of times slower); posed in 3-D ([1, M, K] x
/// [1, K, N], where the rows are the "channel" dimension) it stays in the JIT kernel, but with the
/// bias, activation or residual as post-ops too each matmul ran 13-29% slower in the model than
/// the plain int32 product plus this pass, so the product stays plain.
public final class Int8Linear: ConvertingLinearKernel, @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    /// The fp32 weight is read only should oneDNN refuse a row count.
    public var readsWeightInPlace: Bool { false }
    // Read-only memory that outlives the kernel (the model's mapping keeps it alive): the fp32
    // weight stays the fallback should oneDNN refuse a row count.
    private let fp32Weight: UnsafePointer<Float>
    private let bias: UnsafePointer<Float>?
    private let engine: DNNLEngine
    private let converted: ConvertedWeights  // s8, in the layout the primitive chose
    private var weightDescriptor: dnnl_memory_desc_t { converted.descriptor }
    private var weights: UnsafeMutableRawPointer { converted.data }
    /// The weights' scales, one per output channel: w[o, :] ≈ q[o, :] * weightScales[o].
    public let weightScales: UnsafePointer<Float>
    private let ownsScales: Bool
    private let primitives: PrimitivesByRowCount<Int8Primitive>
    private let threads: Int
    private let context: KernelContext
    /// Input features kept out of the int8 product (outlier channels: see `outlierChannels`), and
    /// their weights' columns [outliers.count, out], transposed, in fp32.
    public let outliers: [Int]
    private let outlierWeights: [Float]

    /// Row counts with a primitive kept, per layer.
    public static var keptRowCounts: Int { PrimitivesByRowCount<Int8Primitive>.kept }

    /// The matmul's name in oneDNN (e.g. "brg:avx512_core_vnni"), for the benchmark's log.
    public let implementation: String

    /// - rows: the row count the weights' layout is chosen for (other counts use the same layout).
    /// - outliers: input features (ascending) whose products stay fp32: a few channels tens of
    ///   times larger than the rest would leave the others a handful of levels in int8.
    /// - cached: `convertedParts` of an earlier kernel of the same weight (a mapped cache file that
    ///   outlives this kernel), used in place when laid out as this CPU's primitive wants; else the
    ///   weight is quantized.
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int, outFeatures: Int,
                outliers: [Int] = [], rows: Int = 4616, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                cached: [UnsafeRawBufferPointer]? = nil, context: KernelContext = KernelContext()) throws(DNNLError) {
        self.context = context
        precondition(outliers.allSatisfy { (0..<inFeatures).contains($0) }, "outlier channels are input features")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.threads = threads
        self.outliers = outliers
        outlierWeights = outliers.flatMap { j in (0..<outFeatures).map { weight[$0 * inFeatures + j] } }
        fp32Weight = weight
        self.bias = bias
        let engine = try DNNLEngine.cpu.get()
        self.engine = engine
        let anyLayout = try matrixDescriptor(rows: inFeatures, columns: outFeatures, dnnl_s8, tag: dnnl_format_tag_any)
        let first = try Int8Primitive(engine, rows: rows, inFeatures, outFeatures, weights: anyLayout)
        implementation = first.implementation
        let scalesSize = outFeatures * MemoryLayout<Float>.size
        let cachedScales = cached.flatMap { $0.count == 3 && $0[2].count == scalesSize ? $0[2].baseAddress : nil }
        // Quantized [out, in] row-major, which is [K, N] "ba" to oneDNN, then reordered into the
        // chosen layout (which may carry the compensation oneDNN needs for signed sources).
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: outFeatures)
        converted = try ConvertedWeights(first.weightDescriptor, cached: cachedScales == nil ? nil : cached) {
            (data) throws(DNNLError) in
            let plain = UnsafeMutablePointer<Int8>.allocate(capacity: inFeatures * outFeatures)
            defer { plain.deallocate() }
            if !outliers.isEmpty {  // their columns zero, so that they do not set the rows' scales
                let rest = UnsafeMutablePointer<Float>.allocate(capacity: inFeatures * outFeatures)
                defer { rest.deallocate() }
                rest.update(from: weight, count: inFeatures * outFeatures)
                for o in 0..<outFeatures { for j in outliers { rest[o * inFeatures + j] = 0 } }
                quantizeRows(plain, scales: scales, rest, rows: outFeatures, columns: inFeatures, limit: int8WeightLimit,
                             workers: threads)
            } else {
                quantizeRows(plain, scales: scales, weight, rows: outFeatures, columns: inFeatures, limit: int8WeightLimit,
                             workers: threads)
            }
            let source = try matrixDescriptor(rows: inFeatures, columns: outFeatures, dnnl_s8, tag: dnnl_ba)
            try reorder(from: source, UnsafeMutableRawPointer(plain), to: first.weightDescriptor, data, engine)
        }
        if converted.borrowed, let cachedScales, Int(bitPattern: cachedScales) % MemoryLayout<Float>.alignment == 0 {
            scales.deallocate()
            weightScales = cachedScales.assumingMemoryBound(to: Float.self)
            ownsScales = false
        } else {
            if converted.borrowed, let cachedScales {  // unaligned: copied
                scales.update(from: cachedScales.assumingMemoryBound(to: Float.self), count: outFeatures)
            }
            weightScales = UnsafePointer(scales)
            ownsScales = true
        }
        primitives = PrimitivesByRowCount(loadRows: rows, first)
    }

    deinit {
        if ownsScales { weightScales.deallocate() }
    }

    public var convertedParts: [UnsafeRawBufferPointer] {
        converted.parts + [UnsafeRawBufferPointer(start: weightScales, count: outFeatures * MemoryLayout<Float>.size)]
    }
    public var runsOnGivenParts: Bool { converted.borrowed }

    public func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int) {
        run(y, x, rows: rows, sums: y, adding: false)
    }

    /// The activation is applied to each few rows right after they are scaled back, in cache, and
    /// computed as the next layer quantizes it (`activateForQuantization`).
    public func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, activation: Activation,
                      threads: Int) {
        let n = outFeatures
        run(y, x, rows: rows, sums: y, adding: false) { r in
            activateForQuantization(y + r.lowerBound * n, activation, count: r.count * n)
        }
    }

    /// The scaled sums are added to the residual in the same pass (scratch holds the int32 sums).
    public func applyAdding(to residual: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int,
                            scratch: UnsafeMutablePointer<Float>, threads: Int) {
        run(residual, x, rows: rows, sums: scratch, adding: true)
    }

    /// y_i = x · w_iᵀ + b_i for several layers reading the same x (queries, keys and values),
    /// quantizing x once; each y_i as `apply` writes it. The layers share their outlier channels.
    public static func apply(_ layers: [(Int8Linear, UnsafeMutablePointer<Float>)], sharing x: UnsafePointer<Float>, rows: Int) {
        withSharedInput(layers.map(\.0), x, rows: rows) { i, quantized, scales in
            let (layer, y) = layers[i]
            layer.run(y, quantized: quantized, scales: scales, input: x, rows: rows, sums: y, adding: false)
        }
    }

    /// As `apply(_:sharing:rows:)`, each result rounded to bf16 into its `out` (for the bf16
    /// attention) in the same pass that scales it back; its `sums` (room for [rows, out] floats)
    /// holds the int32 sums meanwhile.
    public static func apply(_ layers: [(Int8Linear, sums: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<UInt16>)],
                             sharing x: UnsafePointer<Float>, rows: Int) {
        withSharedInput(layers.map(\.0), x, rows: rows) { i, quantized, scales in
            let (layer, sums, out) = layers[i]
            layer.run(out, quantized: quantized, scales: scales, input: x, rows: rows, sums: sums)
        }
    }

    /// Quantizes `x` once for `layers` (which read the same features) and runs `body` for each
    /// layer's index with the quantized rows and their scales.
    private static func withSharedInput(
        _ layers: [Int8Linear], _ x: UnsafePointer<Float>, rows: Int,
        _ body: (Int, UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Float>) -> Void
    ) {
        guard rows > 0, let first = layers.first else { return }
        let K = first.inFeatures
        precondition(layers.allSatisfy { $0.inFeatures == K && $0.outliers == first.outliers },
                     "layers sharing an input take the same features")
        let scratch = first.context
        let quantized = scratch.int8.borrow(rows * K), scales = scratch.float.borrow(rows)
        defer { scratch.int8.giveBack(quantized); scratch.float.giveBack(scales) }
        first.quantize(quantized.pointer, scales: scales.pointer, x, rows: rows)
        for i in layers.indices { body(i, quantized.pointer, scales.pointer) }
    }

    /// residual[rows, D] += fc2(act(self(x))), the MLP with both layers in int8 (self is fc1,
    /// [rows, D] -> [rows, I]). fc1's sums are scaled back, activated and quantized again for fc2 a
    /// few rows at a time, in cache, rather than in three passes over the [rows, I] matrix.
    /// The result equals `apply(_:_:rows:activation:threads:)` then `fc2.applyAdding`, bit for bit.
    ///
    /// - hidden: room for [rows, I] floats (fc1's int32 sums, then its activations, a row at a time).
    /// - scratch: room for [rows, D] floats (fc2's int32 sums).
    public func feedForward(into residual: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int,
                            activation: Activation, then fc2: Int8Linear, hidden: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(fc2.inFeatures == outFeatures, "fc2 takes \(fc2.inFeatures) features, fc1 gives \(outFeatures)")
        guard rows > 0 else { return }
        let I = outFeatures
        let quantized = context.int8.borrow(rows * I), scales = context.float.borrow(rows)
        defer { context.int8.giveBack(quantized); context.float.giveBack(scales) }
        run(hidden, x, rows: rows, sums: hidden, adding: false) { r in
            let o = r.lowerBound * I
            activateForQuantization(hidden + o, activation, count: r.count * I)
            fc2.quantize(quantized.pointer + o, scales: scales.pointer + r.lowerBound, hidden + o, rows: r.count, workers: 1)
        }
        fc2.run(residual, quantized: quantized.pointer, scales: scales.pointer, input: hidden, rows: rows, sums: scratch,
                adding: true)
    }

    /// q[rows, in] and scales[rows] from x[rows, in], per row, the outlier channels left out (zero
    /// in q, not in the scale).
    func quantize(_ q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int,
                  workers: Int? = nil) {
        let K = inFeatures, workers = workers ?? threads
        guard !outliers.isEmpty else {
            return quantizeRows(q, scales: scales, x, rows: rows, columns: K, workers: workers)
        }
        // A few rows at a time through a copy with those channels zero.
        inChunks(rows, workers: workers, minimum: max(1, 16384 / max(1, K))) { chunk in
            let step = 8, rest = UnsafeMutablePointer<Float>.allocate(capacity: step * K)
            defer { rest.deallocate() }
            for r in stride(from: chunk.lowerBound, to: chunk.upperBound, by: step) {
                let n = min(step, chunk.upperBound - r)
                rest.update(from: x + r * K, count: n * K)
                for i in 0..<n { for j in outliers { rest[i * K + j] = 0 } }
                quantizeRows(q + r * K, scales: scales + r, rest, rows: n, columns: K)
            }
        }
    }

    /// y[rows, out] += x[:, outliers] · their weights: the outlier channels' share, in fp32.
    private func addOutliers(_ y: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, rows: Range<Int>) {
        let N = outFeatures
        outlierWeights.withUnsafeBufferPointer { w in
            guard let w = w.baseAddress else { return }
            for r in rows {
                for (o, j) in outliers.enumerated() {
                    let xv = x[r * inFeatures + j]
                    let wo = w + o * N, yr = y + r * N
                    var c = 0
                    while c + 16 <= N { store16(load16(yr + c) + xv * load16(wo + c), yr + c); c += 16 }
                    while c < N { yr[c] += xv * wo[c]; c += 1 }
                }
            }
        }
    }

    /// Quantizes x, multiplies into `sums` (int32, in memory of [rows, out] floats), then writes
    /// (or adds) the scaled results to y, calling `after` on each few rows of y once written.
    private func run(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, sums: UnsafeMutablePointer<Float>,
                     adding: Bool, after: (Range<Int>) -> Void = { _ in }) {
        guard rows > 0 else { return }
        let quantized = context.int8.borrow(rows * inFeatures), scales = context.float.borrow(rows)
        defer { context.int8.giveBack(quantized); context.float.giveBack(scales) }
        quantize(quantized.pointer, scales: scales.pointer, x, rows: rows)
        run(y, quantized: quantized.pointer, scales: scales.pointer, input: x, rows: rows, sums: sums, adding: adding, after: after)
    }

    /// `run` from activations already quantized: xq[rows, in], xScales[rows], from `input` (read
    /// for the outlier channels only; the memory may be overwritten meanwhile elsewhere).
    private func run(_ y: UnsafeMutablePointer<Float>, quantized xq: UnsafePointer<Int8>, scales xScales: UnsafePointer<Float>,
                     input: UnsafePointer<Float>, rows: Int, sums: UnsafeMutablePointer<Float>, adding: Bool,
                     after: (Range<Int>) -> Void = { _ in }) {
        // The int32 sums go where floats will (y's own memory unless adding): each is read once,
        // before its float is written.
        let count = rows * outFeatures
        let acc = UnsafeMutableRawPointer(sums).bindMemory(to: Int32.self, capacity: count)
        defer { _ = UnsafeMutableRawPointer(sums).bindMemory(to: Float.self, capacity: count) }
        func finish(_ r: Range<Int>) {
            if !outliers.isEmpty { addOutliers(y, input: input, rows: r) }
            after(r)
        }
        if accumulate(acc, xq, rows: rows) {
            return dequantize(y, UnsafePointer(acc), rowScales: xScales, columnScales: weightScales, bias: bias,
                              rows: rows, columns: outFeatures, adding: adding, workers: threads, after: finish)
        }
        // oneDNN refused the row count (never seen): fp32 on the dequantized input (its outlier
        // channels zero, their share added after).
        _ = UnsafeMutableRawPointer(sums).bindMemory(to: Float.self, capacity: count)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: rows * inFeatures)
        defer { x.deallocate() }
        dequantizeRows(x, xq, scales: xScales, rows: rows, columns: inFeatures)
        let out = adding ? sums : y
        linear(out, x, fp32Weight, bias, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        if adding { add(y, out, count: count, workers: threads) }
        finish(0..<rows)
    }

    /// `run` to bf16: out = bf16(xq · qᵀ scaled back), the int32 sums in `sums` meanwhile.
    private func run(_ out: UnsafeMutablePointer<UInt16>, quantized xq: UnsafePointer<Int8>, scales xScales: UnsafePointer<Float>,
                     input: UnsafePointer<Float>, rows: Int, sums: UnsafeMutablePointer<Float>) {
        let count = rows * outFeatures
        if outliers.isEmpty {
            let acc = UnsafeMutableRawPointer(sums).bindMemory(to: Int32.self, capacity: count)
            defer { _ = UnsafeMutableRawPointer(sums).bindMemory(to: Float.self, capacity: count) }
            if accumulate(acc, xq, rows: rows) {
                return dequantize(out, UnsafePointer(acc), rowScales: xScales, columnScales: weightScales, bias: bias,
                                  rows: rows, columns: outFeatures, workers: threads)
            }
        }
        // fp32 first (the outlier channels' share added there, or oneDNN refused), then rounded.
        _ = UnsafeMutableRawPointer(sums).bindMemory(to: Float.self, capacity: count)
        run(sums, quantized: xq, scales: xScales, input: input, rows: rows, sums: sums, adding: false)
        convertToBFloat16(out, sums, count: count, workers: threads)
    }

    /// acc[rows, out] = xq[rows, in] · qᵀ exactly, q the quantized weights; false (acc untouched)
    /// where oneDNN refused the row count.
    @discardableResult
    public func accumulate(_ acc: UnsafeMutablePointer<Int32>, _ xq: UnsafePointer<Int8>, rows: Int) -> Bool {
        guard rows > 0 else { return true }
        guard let primitive = primitive(rows: rows) else { return false }
        do {
            try execute(primitive.matmul.handle, [
                (DNNL_ARG_SRC_0, primitive.sourceDescriptor, UnsafeMutableRawPointer(mutating: xq)),
                (DNNL_ARG_WEIGHTS_0, weightDescriptor, weights),
                (DNNL_ARG_DST_0, primitive.destinationDescriptor, UnsafeMutableRawPointer(acc)),
            ], engine)
            return true
        } catch {
            // Unreachable with the descriptors created above.
            context.warnings.once("\(error): an int8 matmul of \(rows) x \(inFeatures) -> \(outFeatures) runs in fp32")
            return false
        }
    }

    /// The primitive for `rows`, created with the weights' layout fixed to the one chosen at load.
    private func primitive(rows: Int) -> Int8Primitive? {
        primitives.primitive(rows: rows) {
            try Int8Primitive(engine, rows: rows, inFeatures, outFeatures, weights: weightDescriptor)
        } refused: {
            context.warnings.once("oneDNN refused an int8 matmul of \(rows) x \(inFeatures) -> \(outFeatures); that shape runs in fp32")
        }
    }
}

/// One matmul: src [rows, K] s8 row-major, weights [K, N] s8, dst [rows, N] s32 row-major.
private final class Int8Primitive: @unchecked Sendable {
    let matmul: MatmulPrimitive
    let sourceDescriptor: dnnl_memory_desc_t
    let weightDescriptor: dnnl_memory_desc_t
    let destinationDescriptor: dnnl_memory_desc_t

    var implementation: String { matmul.implementation }

    init(_ engine: DNNLEngine, rows: Int, _ inFeatures: Int, _ outFeatures: Int, weights: dnnl_memory_desc_t)
        throws(DNNLError)
    {
        sourceDescriptor = try matrixDescriptor(rows: rows, columns: inFeatures, dnnl_s8)
        destinationDescriptor = try matrixDescriptor(rows: rows, columns: outFeatures, dnnl_s32)
        matmul = try MatmulPrimitive(engine, source: sourceDescriptor, weights: weights, destination: destinationDescriptor)
        guard let chosen = matmul.chosenWeights else {
            throw DNNLError(call: "primitive_desc_query_md(weights)", status: dnnl_runtime_error)
        }
        weightDescriptor = chosen
    }
}
