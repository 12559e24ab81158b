import ClipTensor

/// The number format of the linear layers' matrix products (layer norms, softmax, GELU and
/// residuals stay fp32 in every precision; attention products are bf16 in bf16 and int8, fp32
/// otherwise).
public enum Precision: String, CaseIterable, Sendable {
    /// OpenBLAS sgemm on the checkpoint's fp32 weights, read in place.
    case fp32
    /// oneDNN matmul on bf16 copies of the weights made at load, accumulating in fp32.
    case bf16
    /// oneDNN int8 matmul: weights quantized once at load (symmetric, per output channel),
    /// activations per token at run time, exact int32 sums scaled back to fp32.
    case int8

    /// What this CPU runs when asked for `self`, and a warning where it differs: bf16 falls back to
    /// fp32 without AVX-512 BF16 (oneDNN would emulate it, slower than sgemm); int8 falls back to
    /// fp32 without VNNI, and keeps its attention products in fp32 without bf16.
    public var available: (precision: Precision, fallback: String?) {
        switch self {
        case .fp32: return (.fp32, nil)
        case .bf16:
            return cpuHasBFloat16 ? (.bf16, nil) : (.fp32, "this CPU has no AVX-512 BF16: bf16 falls back to fp32")
        case .int8:
            guard cpuHasVNNI else { return (.fp32, "this CPU has no VNNI (AVX-512 or AVX): int8 falls back to fp32") }
            return cpuHasBFloat16 ? (.int8, nil) : (.int8, "this CPU has no AVX-512 BF16: int8's attention products stay fp32")
        }
    }

    /// The layer of this precision for weight w and bias b (call on an available precision),
    /// running on `cached` converted weights where they fit (see `ConvertingLinearKernel`). A
    /// layer oneDNN refuses stays fp32, with a warning.
    func linear(_ w: Tensor, _ b: Tensor?, cached: [UnsafeRawBufferPointer]?) -> any LinearKernel {
        do {
            switch self {
            case .fp32: return sgemmLinearFactory(w, b)
            case .bf16:
                return try BFloat16Linear(weight: w.pointer, bias: b?.pointer, inFeatures: w.shape[1], outFeatures: w.shape[0],
                                          cached: cached)
            case .int8:
                return try Int8Linear(weight: w.pointer, bias: b?.pointer, inFeatures: w.shape[1], outFeatures: w.shape[0],
                                      cached: cached)
            }
        } catch {
            warnOnce("\(error): a \(w.shape[1]) -> \(w.shape[0]) linear layer stays fp32")
            return sgemmLinearFactory(w, b)
        }
    }

    /// Builds the linear layers of this precision (call on an available precision). A layer
    /// oneDNN refuses stays fp32, with a warning.
    public var linearFactory: LinearFactory {
        switch self {
        case .fp32: return sgemmLinearFactory
        case .bf16, .int8: return { w, b in linear(w, b, cached: nil) }
        }
    }
}
