import CDNNL
import Foundation
import Synchronization

/// A linear layer in bf16 through oneDNN's matmul: weights converted to bf16 once, in the blocked
/// layout the primitive asks for; activations converted to bf16 per call; products accumulated and
/// written in fp32, bias added in fp32. One primitive per row count, created on first use and kept.
public final class BFloat16Linear: ConvertingLinearKernel, @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    /// The fp32 weight is read only should oneDNN refuse a row count.
    public var readsWeightInPlace: Bool { false }
    // Read-only memory that outlives the kernel (the model's mapping keeps it alive): the fp32
    // weight stays the fallback should oneDNN refuse a row count.
    private let fp32Weight: UnsafePointer<Float>
    private let bias: UnsafePointer<Float>?
    private let engine: DNNLEngine
    private let converted: ConvertedWeights  // bf16, in the layout the primitive chose
    private var weightDescriptor: dnnl_memory_desc_t { converted.descriptor }
    private var weights: UnsafeMutableRawPointer { converted.data }
    private let primitives: PrimitivesByRowCount<Primitive>
    private let context: KernelContext

    /// Row counts with a primitive kept, per layer.
    public static var keptRowCounts: Int { PrimitivesByRowCount<Primitive>.kept }

    /// The matmul's name in oneDNN (e.g. "brg:avx512_core_bf16"), for the benchmark's log.
    public let implementation: String

    /// - rows: the row count the weights' layout is chosen for (other counts use the same layout).
    /// - cached: `convertedParts` of an earlier kernel of the same weight (a mapped cache file that
    ///   outlives this kernel), used in place when laid out as this CPU's primitive wants; else the
    ///   weight is converted.
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int, outFeatures: Int,
                rows: Int = 4616, cached: [UnsafeRawBufferPointer]? = nil, context: KernelContext = KernelContext())
        throws(DNNLError) {
        self.context = context
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        fp32Weight = weight
        self.bias = bias
        let engine = try DNNLEngine.cpu.get()
        self.engine = engine
        // Weights are [K, N] to oneDNN; the checkpoint's [out, in] = [N, K] row-major is its "ba".
        let anyLayout = try matrixDescriptor(rows: inFeatures, columns: outFeatures, dnnl_bf16, tag: dnnl_format_tag_any)
        let first = try Primitive(engine, rows: rows, inFeatures, outFeatures, weights: anyLayout, bias: bias != nil)
        implementation = first.implementation
        converted = try ConvertedWeights(first.weightDescriptor, cached: cached) { (data) throws(DNNLError) in
            let source = try matrixDescriptor(rows: inFeatures, columns: outFeatures, dnnl_f32, tag: dnnl_ba)
            try reorder(from: source, UnsafeMutableRawPointer(mutating: weight), to: first.weightDescriptor, data, engine)
        }
        primitives = PrimitivesByRowCount(loadRows: rows, first)
    }

    public var convertedParts: [UnsafeRawBufferPointer] { converted.parts }
    public var runsOnGivenParts: Bool { converted.borrowed }

    public func apply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int) {
        guard rows > 0 else { return }
        guard let primitive = primitive(rows: rows) else {
            return linear(y, x, fp32Weight, bias, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
        let count = rows * inFeatures
        let source = context.bfloat16.borrow(count)
        defer { context.bfloat16.giveBack(source) }
        convertToBFloat16(source.pointer, x, count: count, workers: ProcessInfo.processInfo.activeProcessorCount)
        do {
            try primitive.run(source: source.pointer, weights: weights, bias: bias, destination: y, engine)
        } catch {
            // Unreachable with the descriptors created above; fp32 keeps the answer right if not.
            linear(y, x, fp32Weight, bias, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
    }

    /// The primitive for `rows`, created with the weights' layout fixed to the one chosen at load.
    private func primitive(rows: Int) -> Primitive? {
        primitives.primitive(rows: rows) {
            try Primitive(engine, rows: rows, inFeatures, outFeatures, weights: weightDescriptor, bias: bias != nil)
        } refused: {
            context.warnings.once("oneDNN refused a bf16 matmul of \(rows) x \(inFeatures) -> \(outFeatures); that shape runs in fp32")
        }
    }
}

/// One matmul: src [rows, K] bf16 row-major, weights [K, N] bf16, bias [1, N] fp32, dst [rows, N]
/// fp32 row-major.
private final class Primitive: @unchecked Sendable {
    let matmul: MatmulPrimitive
    let sourceDescriptor: dnnl_memory_desc_t
    let weightDescriptor: dnnl_memory_desc_t
    let biasDescriptor: dnnl_memory_desc_t
    let destinationDescriptor: dnnl_memory_desc_t

    var implementation: String { matmul.implementation }

    init(_ engine: DNNLEngine, rows: Int, _ inFeatures: Int, _ outFeatures: Int, weights: dnnl_memory_desc_t, bias: Bool)
        throws(DNNLError)
    {
        sourceDescriptor = try matrixDescriptor(rows: rows, columns: inFeatures, dnnl_bf16)
        biasDescriptor = try matrixDescriptor(rows: 1, columns: outFeatures, dnnl_f32)
        destinationDescriptor = try matrixDescriptor(rows: rows, columns: outFeatures, dnnl_f32)
        matmul = try MatmulPrimitive(
            engine, source: sourceDescriptor, weights: weights, bias: bias ? biasDescriptor : nil,
            destination: destinationDescriptor)
        guard let chosen = matmul.chosenWeights else {
            throw DNNLError(call: "primitive_desc_query_md(weights)", status: dnnl_runtime_error)
        }
        weightDescriptor = chosen
    }

    func run(source: UnsafeMutablePointer<UInt16>, weights: UnsafeMutableRawPointer, bias: UnsafePointer<Float>?,
             destination: UnsafeMutablePointer<Float>, _ engine: DNNLEngine) throws(DNNLError)
    {
        var arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC_0, sourceDescriptor, UnsafeMutableRawPointer(source)),
            (DNNL_ARG_WEIGHTS_0, weightDescriptor, weights),
            (DNNL_ARG_DST_0, destinationDescriptor, UnsafeMutableRawPointer(destination)),
        ]
        if let bias { arguments.append((DNNL_ARG_BIAS, biasDescriptor, UnsafeMutableRawPointer(mutating: bias))) }
        try execute(matmul.handle, arguments, engine)
    }
}
