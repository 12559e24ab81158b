import ClipTensor

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

/// One linear layer's tensors as the checkpoint holds them: weight [out, in], optional bias [out].
struct LinearWeights {
    let name: String  // the weight's, e.g. "vision_model.encoder.layers.0.mlp.fc1.weight"
    let weight: Tensor
    let bias: Tensor?
}

extension Weights {
    /// The encoder layers under `prefix` (e.g. "vision_model.encoder"), with shapes from `config`.
    func transformer(_ prefix: String, _ config: TowerConfig, threads: Int, makeLinear: LinearFactory) -> Transformer {
        let D = config.hiddenSize, I = config.intermediateSize
        let layers = (0..<config.layers).map { i in
            let p = "\(prefix).layers.\(i)"
            let norm1 = layerNorm("\(p).layer_norm1", D, eps: config.layerNormEps)
            let norm2 = layerNorm("\(p).layer_norm2", D, eps: config.layerNormEps)
            let qkv = ["q_proj", "k_proj", "v_proj"].map { linearWeights("\(p).self_attn.\($0)", out: D, in: D) }
            let fc1 = linearWeights("\(p).mlp.fc1", out: I, in: D), fc2 = linearWeights("\(p).mlp.fc2", out: D, in: I)
            return EncoderLayer(
                norm1: norm1, projections: projections(qkv, outliers: outlierChannels(norm1), makeLinear),
                out: kernel(linearWeights("\(p).self_attn.out_proj", out: D, in: D), makeLinear),
                norm2: norm2, mlp: feedForward(fc1, fc2, outliers: outlierChannels(norm2), makeLinear))
        }
        // bf16 attention beside bf16 linear layers, and beside int8 ones where the CPU has bf16.
        let bf16 = precision == .bf16 || (precision == .int8 && cpuHasBFloat16)
        return Transformer(config: config, layers: layers, threads: threads,
                           bf16Attention: bf16 ? try? BFloat16Attention(heads: config.heads, headDim: config.headDim, context: context) : nil)
    }

    /// q, k and v of one layer: in int8, one group that quantizes their shared input once, should
    /// oneDNN take all three; else three layers of the tower's precision.
    func projections(_ qkv: [LinearWeights], outliers: [Int], _ make: LinearFactory) -> any Projections {
        let kernels: [any LinearKernel]
        if precision == .int8 {
            let int8 = qkv.map { int8Kernel($0, outliers: outliers) }
            if let q = int8[0], let k = int8[1], let v = int8[2] { return Int8Projections(q: q, k: k, v: v) }
            kernels = zip(qkv, int8).map { layer, kernel in fp32Unless(kernel, layer) }
        } else {
            kernels = qkv.map { kernel($0, make, outliers: outliers) }
        }
        return LinearProjections(q: kernels[0], k: kernels[1], v: kernels[2])
    }

    /// fc1, the activation, fc2: in int8, one pass from fc1's sums to fc2's input, should oneDNN
    /// take both; else two layers of the tower's precision.
    func feedForward(_ fc1: LinearWeights, _ fc2: LinearWeights, outliers: [Int], _ make: LinearFactory) -> any FeedForward {
        guard precision == .int8 else {
            return LinearFeedForward(fc1: kernel(fc1, make, outliers: outliers), fc2: kernel(fc2, make))
        }
        let (first, second) = (int8Kernel(fc1, outliers: outliers), int8Kernel(fc2, outliers: []))
        if let first, let second { return Int8FeedForward(fc1: first, fc2: second) }
        return LinearFeedForward(fc1: fp32Unless(first, fc1), fc2: fp32Unless(second, fc2))
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

    func linearWeights(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = true) -> LinearWeights {
        LinearWeights(name: "\(prefix).weight", weight: tensor("\(prefix).weight", [out, inFeatures]),
                      bias: bias ? tensor("\(prefix).bias", [out]) : nil)
    }

    /// The kernel for one linear layer: of `precision` (the tower's unless given) on its converted
    /// weights in `cache` where the cache has them, else what `make` builds. Where it keeps a
    /// converted copy, the fp32 weight's pages in the mapped file are let go (they come back from
    /// the page cache if read).
    ///
    /// - outliers: input channels whose products stay fp32 (int8; see `outlierChannels`).
    func kernel(_ layer: LinearWeights, _ make: LinearFactory, outliers: [Int] = []) -> any LinearKernel {
        kernel(layer, make, outliers: outliers, in: precision)
    }

    /// As `kernel(_:_:outliers:)`, in `precision` rather than the tower's (nil: what `make` builds).
    func kernel(_ layer: LinearWeights, _ make: LinearFactory, outliers: [Int] = [], in precision: Precision?)
        -> any LinearKernel
    {
        guard problems.isEmpty else { return fp32Kernel(layer) }  // never run: loading throws (`check()`)
        let (w, b) = (layer.weight, layer.bias)
        let kernel = precision.map {
            $0.linear(w, b, outliers: outliers, cached: cache?.parts(for: layer.name), threads: threads, context: context)
        } ?? make(w, b)
        return keep(layer, kernel)
    }

    /// int8's own layer, or nil where oneDNN refuses it (with a warning: the caller runs it in fp32)
    /// or the checkpoint has problems.
    private func int8Kernel(_ layer: LinearWeights, outliers: [Int]) -> Int8Linear? {
        guard problems.isEmpty else { return nil }
        return Precision.int8Linear(layer.weight, layer.bias, outliers: outliers, cached: cache?.parts(for: layer.name),
                                    threads: threads, context: context).map { keep(layer, $0) }
    }

    /// `kernel` where there is one, else the layer in fp32.
    private func fp32Unless(_ kernel: Int8Linear?, _ layer: LinearWeights) -> any LinearKernel {
        if let kernel { kernel } else { fp32Kernel(layer) }
    }

    /// sgemm on the checkpoint's weight, read in place.
    private func fp32Kernel(_ layer: LinearWeights) -> SgemmLinear {
        SgemmLinear(weight: layer.weight.pointer, bias: layer.bias?.pointer, inFeatures: layer.weight.shape[1],
                    outFeatures: layer.weight.shape[0], threads: threads)
    }

    /// `kernel`, after noting what a weights cache stores of it and letting go of the fp32 pages it
    /// no longer reads.
    private func keep<Kernel: LinearKernel>(_ layer: LinearWeights, _ kernel: Kernel) -> Kernel {
        if let converting = kernel as? any ConvertingLinearKernel { converted.append((layer.name, converting)) }
        if !kernel.readsWeightInPlace { file.release(layer.weight.pointer, bytes: layer.weight.shape.reduce(4, *)) }
        return kernel
    }
}

/// Builds the kernel for one linear layer from its [out, in] weight and optional bias; the backend
/// seam (fp32 sgemm, bf16 or int8 through oneDNN: `Precision.linearFactory`).
public typealias LinearFactory = @Sendable (_ weight: Tensor, _ bias: Tensor?) -> any LinearKernel

public let sgemmLinearFactory: LinearFactory = { w, b in
    SgemmLinear(weight: w.pointer, bias: b?.pointer, inFeatures: w.shape[1], outFeatures: w.shape[0])
}
