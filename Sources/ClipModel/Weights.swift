import ClipTensor

/// A read-only fp32 tensor. For F32 checkpoints it points into the mapped file; F16/BF16 ones are
/// widened once at load into memory the `Weights` owns.
public struct Tensor: @unchecked Sendable {  // points at immutable memory kept alive by its owner
    public let pointer: UnsafePointer<Float>
    public let shape: [Int]

    /// `pointer` must stay valid and unchanged while the tensor is used.
    public init(pointer: UnsafePointer<Float>, shape: [Int]) {
        self.pointer = pointer
        self.shape = shape
    }
}

/// Takes tensors out of a safetensors file by name and expected shape. Problems are collected, not
/// thrown one at a time, so that a wrong checkpoint is reported in one error naming every missing
/// or mismatched tensor.
final class Weights: @unchecked Sendable {  // immutable once loading has finished
    let file: SafeTensorsFile
    private(set) var widened: [UnsafeMutablePointer<Float>] = []
    private var adjusted: [UnsafeMutablePointer<Float>] = []
    private(set) var problems: [String] = []
    private let placeholder = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// The precision whose kernels `kernel` builds from `cache` where it has them (nil: the
    /// factory passed to `kernel` decides alone); set per tower while loading (`Precision.tower`).
    var precision: Precision?
    /// Converted weights mapped from a cache file, kept mapped as long as the kernels live.
    let cache: WeightsCacheFile?
    /// The kernels that keep converted weights, by weight name, in load order (what a cache stores).
    var converted: [(String, any ConvertingLinearKernel)] = []

    /// The cores each kernel spreads a product over, and what the kernels share (warnings, scratch).
    let threads: Int
    let context: KernelContext

    init(file: SafeTensorsFile, precision: Precision? = nil, cache: WeightsCacheFile? = nil, threads: Int = 1,
         context: KernelContext = KernelContext()) {
        self.file = file
        self.precision = precision
        self.cache = cache
        self.threads = threads
        self.context = context
    }

    deinit {
        for p in widened + adjusted { p.deallocate() }
        placeholder.deallocate()
    }

    /// The tensor `name` of shape `shape`, or a recorded problem and a dummy that must not be used
    /// (loading throws before any dummy is read; see `check()`).
    func tensor(_ name: String, _ shape: [Int]) -> Tensor {
        guard let info = file.tensors[name] else {
            problems.append("missing \(name) \(shape)")
            return dummy(shape)
        }
        guard info.shape == shape else {
            problems.append("\(name) has shape \(info.shape), expected \(shape)")
            return dummy(shape)
        }
        let raw = file.bytes(info)
        switch info.dtype {
        case .f32 where Int(bitPattern: raw) % MemoryLayout<Float>.alignment == 0:
            return Tensor(pointer: raw.assumingMemoryBound(to: Float.self), shape: shape)
        case .f32:
            return widen(info, shape) { dst, n in
                for i in 0..<n { dst[i] = raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            }
        case .f16:
            return widen(info, shape) { dst, n in
                for i in 0..<n {
                    dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                }
            }
        case .bf16:
            return widen(info, shape) { dst, n in
                for i in 0..<n {
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            }
        }
    }

    func check() throws(ModelError) {
        guard problems.isEmpty else {
            throw ModelError(
                .weightsMismatch,
                "the weights do not fit config.json: " + problems.joined(separator: "; "),
                location: file.path)
        }
    }

    /// A tensor of `values`, kept as long as the weights (e.g. a layer norm adjusted at load).
    func owned(_ values: [Float], _ shape: [Int]) -> Tensor {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        p.initialize(from: values, count: values.count)
        adjusted.append(p)
        return Tensor(pointer: p, shape: shape)
    }

    private func widen(_ info: TensorInfo, _ shape: [Int], _ fill: (UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(info.count, 1))
        fill(p, info.count)
        widened.append(p)
        return Tensor(pointer: p, shape: shape)
    }

    private func dummy(_ shape: [Int]) -> Tensor {
        Tensor(pointer: UnsafePointer(placeholder), shape: shape)
    }
}
