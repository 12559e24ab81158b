import ClipTensor
import Foundation

/// The number format of the linear layers' matrix products (layer norms, softmax, GELU and
/// residuals stay fp32 in every precision; attention products are bf16 in bf16 and int8 where the
/// CPU has bf16, fp32 otherwise).
public enum Precision: String, CaseIterable, Sendable {
    /// OpenBLAS sgemm on the checkpoint's fp32 weights, read in place.
    case fp32
    /// oneDNN matmul on bf16 copies of the weights made at load, accumulating in fp32.
    case bf16
    /// oneDNN int8 matmul: weights quantized once at load (symmetric, per output channel),
    /// activations per token at run time, exact int32 sums scaled back to fp32; the few outlier
    /// channels of the layer norms' outputs multiplied in fp32 beside them.
    case int8
    /// The fastest of the others this CPU runs natively, chosen at load (`automatic`).
    case auto

    /// What this CPU runs when asked for `self`, and a note where it differs or needs saying: bf16
    /// falls back to fp32 without AVX-512 BF16 (oneDNN would emulate it, slower than sgemm); int8
    /// runs wherever oneDNN has int8 kernels (AVX2 and up), its attention products in fp32 without
    /// bf16; auto says what it chose and why.
    public var available: (precision: Precision, fallback: String?) {
        switch self {
        case .fp32: return (.fp32, nil)
        case .bf16:
            return cpuHasBFloat16 ? (.bf16, nil) : (.fp32, "this CPU has no AVX-512 BF16: bf16 falls back to fp32")
        case .int8:
            guard cpuRunsInt8 else { return (.fp32, "oneDNN has no int8 kernels below AVX2: int8 falls back to fp32") }
            return cpuHasBFloat16 ? (.int8, nil) : (.int8, "this CPU has no AVX-512 BF16: int8's attention products stay fp32")
        case .auto:
            let choice = Precision.automatic
            return (choice.precision, choice.reason)
        }
    }

    /// What `auto` picks on this CPU (oneDNN's effective instruction set, which `DNNL_MAX_CPU_ISA`
    /// caps), and why, in a line for logs:
    /// - int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX): int8, the fastest there
    ///   (Zen 4: ~2x bf16's matmul rate) and within cosine 0.999 of fp32 on the stress models
    ///   (`Tests/Fixtures/outlier-clip`) with its outlier channels and patch embedding in fp32;
    /// - AVX-512 BF16 without them (a capped ISA; no shipping CPU has one without the other): bf16;
    /// - AVX2 without VNNI: fp32, an accuracy call. oneDNN's int8 there sums products in 16-bit
    ///   pairs, so its weights keep 7 bits: images hold 0.999 on the committed stress models, but
    ///   with thin margins, and fell below it on two others (a full-size ViT-L whose outlier
    ///   channels feed the attention logits: 0.9925-0.998; a simulated moderate model with steady
    ///   logits: 0.998), where 8-bit weights hold or come closer. An explicit `int8` runs there,
    ///   for its smaller weights and faster images (Zen 3: 1.27-1.55x fp32's images/s);
    /// - below AVX2: fp32.
    public static var automatic: (precision: Precision, reason: String) {
        let isa = oneDNNInstructionSet
        if cpuHasVNNI { return (.int8, "auto: int8 (oneDNN \(isa) has int8 dot-product instructions)") }
        if cpuHasBFloat16 { return (.bf16, "auto: bf16 (oneDNN \(isa) has bf16 instructions, no int8 dot products)") }
        if cpuRunsInt8 {
            return (.fp32, "auto: fp32 (oneDNN \(isa) has no int8 dot-product or bf16 instructions: int8 there keeps 7-bit weights, too close to the accuracy promise)")
        }
        return (.fp32, "auto: fp32 (oneDNN \(isa): no int8 or bf16 kernels)")
    }

    /// The precision of each tower when the model is asked for `self` (call on an available
    /// precision), and a note where a tower differs. Without VNNI, oneDNN's int8 keeps 7-bit
    /// weights (`int8WeightLimit`), and the text tower, whose causal attention follows small
    /// changes in the logits, measured below cosine 0.999 to fp32 on the stress models (0.998 in
    /// a simulation of the scheme on both): int8 runs the text tower in fp32 there (cheap: its
    /// weights are a third of the model's, its work per caption ~1/50 of an image's). Images hold
    /// 0.999 there (Zen 3: 0.9996-0.9999 on the stress fixtures), with thinner margins than with
    /// VNNI (see `automatic`).
    public var towers: (vision: Precision, text: Precision, note: String?) {
        guard self == .int8, !cpuHasVNNI else { return (self, self, nil) }
        return (.int8, .fp32, "without VNNI int8 keeps 7-bit weights: the text tower runs in fp32")
    }

    /// The precision of the vision tower's patch embedding when the tower runs in `self`: fp32 in
    /// int8. It starts the residual stream that every later layer adds to, so its rounding reaches
    /// every token of every layer undiluted: with 7-bit weights (AVX2) it alone took the moderate
    /// stress model's images from cosine 1 to 0.9982 of fp32 (a simulation of the scheme), more
    /// than all the other layers together; in fp32 it costs ~0.2% of an image's multiply-adds
    /// (576 x 588 x 1024 of ViT-L/14@336's ~175 G).
    var patchEmbedding: Precision { self == .int8 ? .fp32 : self }

    /// The layer of this precision for weight w and bias b (call on an available precision),
    /// running on `cached` converted weights where they fit (see `ConvertingLinearKernel`); int8
    /// keeps the `outliers` input channels' products in fp32 (see `Weights.outlierChannels`). A
    /// layer oneDNN refuses stays fp32, with a warning.
    func linear(_ w: Tensor, _ b: Tensor?, outliers: [Int] = [], cached: [UnsafeRawBufferPointer]?,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, context: KernelContext = KernelContext())
        -> any LinearKernel
    {
        let (inF, outF) = (w.shape[1], w.shape[0])
        do {
            switch self {
            case .fp32: return SgemmLinear(weight: w.pointer, bias: b?.pointer, inFeatures: inF, outFeatures: outF, threads: threads)
            case .bf16:
                return try BFloat16Linear(weight: w.pointer, bias: b?.pointer, inFeatures: inF, outFeatures: outF,
                                          cached: cached, context: context)
            case .int8:
                return Self.int8Linear(w, b, outliers: outliers, cached: cached, threads: threads, context: context)
                    ?? SgemmLinear(weight: w.pointer, bias: b?.pointer, inFeatures: inF, outFeatures: outF, threads: threads)
            case .auto:
                return Precision.automatic.precision.linear(w, b, outliers: outliers, cached: cached, threads: threads,
                                                            context: context)
            }
        } catch {
            warnRefused(error, w, context)
            return SgemmLinear(weight: w.pointer, bias: b?.pointer, inFeatures: inF, outFeatures: outF, threads: threads)
        }
    }

    /// int8's own layer for weight w and bias b, or nil where oneDNN refuses it (with a warning: the
    /// caller runs that layer in fp32).
    static func int8Linear(_ w: Tensor, _ b: Tensor?, outliers: [Int], cached: [UnsafeRawBufferPointer]?, threads: Int,
                           context: KernelContext) -> Int8Linear? {
        do {
            return try Int8Linear(weight: w.pointer, bias: b?.pointer, inFeatures: w.shape[1], outFeatures: w.shape[0],
                                  outliers: outliers, threads: threads, cached: cached, context: context)
        } catch {
            warnRefused(error, w, context)
            return nil
        }
    }

    /// Builds the linear layers of this precision (call on an available precision), without int8's
    /// outlier channels, which need the layer norms (`CLIPModel.load(directory:precision:
    /// weightsCache:)` does it). A layer oneDNN refuses stays fp32, with a warning.
    public var linearFactory: LinearFactory {
        switch self {
        case .fp32: return sgemmLinearFactory
        case .bf16, .int8, .auto: return { w, b in linear(w, b, cached: nil) }
        }
    }
}

/// The warning for a layer oneDNN would not build in its precision.
private func warnRefused(_ error: any Error, _ w: Tensor, _ context: KernelContext) {
    context.warnings.once("\(error): a \(w.shape[1]) -> \(w.shape[0]) linear layer stays fp32")
}
