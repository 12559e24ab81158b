import CDNNL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A oneDNN call that did not succeed: which call, and oneDNN's status code.
public struct DNNLError: Error, CustomStringConvertible {
    public let call: String
    public let status: dnnl_status_t
    public var description: String { "oneDNN \(call) failed (status \(status.rawValue))" }
}

@inline(__always)
func dnnl(_ status: dnnl_status_t, _ call: String) throws(DNNLError) {
    guard status == dnnl_success else { throw DNNLError(call: call, status: status) }
}

/// The process's one CPU engine (oneDNN engines are thread-safe and meant to be shared).
struct DNNLEngine: @unchecked Sendable {
    let handle: dnnl_engine_t

    static let cpu: Result<DNNLEngine, DNNLError> = Result { () throws(DNNLError) in
        var engine: dnnl_engine_t?
        try dnnl(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        guard let engine else { throw DNNLError(call: "engine_create", status: dnnl_runtime_error) }
        return DNNLEngine(handle: engine)
    }
}

/// Whether oneDNN runs bf16 matmuls with the CPU's own bf16 instructions (AVX-512 BF16 or AMX);
/// without them it would emulate bf16, slower than fp32 sgemm.
public var cpuHasBFloat16: Bool {
    let isa = dnnl_get_effective_cpu_isa().rawValue
    let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
    return isa & bf16 == bf16
}

/// A memory descriptor for a row-major matrix, or one of `tag` (`dnnl_format_tag_any`: the
/// primitive chooses).
func matrixDescriptor(rows: Int, columns: Int, _ type: dnnl_data_type_t, tag: dnnl_format_tag_t = dnnl_ab)
    throws(DNNLError) -> dnnl_memory_desc_t
{
    var md = dnnl_memory_desc_t()
    let dims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(columns)]
    try dnnl(dnnl_memory_desc_init_by_tag(&md, 2, dims, type, tag), "memory_desc_init_by_tag")
    return md
}

/// A oneDNN matmul primitive and its descriptor, made together and destroyed together.
final class MatmulPrimitive: @unchecked Sendable {
    let handle: dnnl_primitive_t
    let descriptor: dnnl_primitive_desc_t

    /// dst = src x weights (+ bias), times `outputScale` when given. A descriptor of
    /// `dnnl_format_tag_any` lets the primitive choose that layout (see `chosenWeights`).
    init(_ engine: DNNLEngine, source: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, bias: dnnl_memory_desc_t? = nil,
         destination: dnnl_memory_desc_t, outputScale: Float? = nil) throws(DNNLError)
    {
        var s = source, w = weights, d = destination, b = bias ?? dnnl_memory_desc_t()
        var desc = dnnl_matmul_desc_t()
        try dnnl(withUnsafePointer(to: &b) { dnnl_matmul_desc_init(&desc, &s, &w, bias == nil ? nil : $0, &d) },
                 "matmul_desc_init")
        var attr: dnnl_primitive_attr_t?
        if let outputScale {
            try dnnl(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            var scales = [outputScale]
            try dnnl(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scales), "primitive_attr_set_output_scales")
        }
        defer { if attr != nil { dnnl_primitive_attr_destroy(attr) } }
        var pd: dnnl_primitive_desc_t?
        try dnnl(dnnl_primitive_desc_create(&pd, &desc, attr, engine.handle, nil), "primitive_desc_create(matmul)")
        guard let pd else { throw DNNLError(call: "primitive_desc_create(matmul)", status: dnnl_runtime_error) }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, pd) == dnnl_success, let primitive else {
            dnnl_primitive_desc_destroy(pd)
            throw DNNLError(call: "primitive_create(matmul)", status: dnnl_runtime_error)
        }
        handle = primitive
        descriptor = pd
    }

    deinit {
        dnnl_primitive_destroy(handle)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// The weights' layout the primitive chose.
    var chosenWeights: dnnl_memory_desc_t? {
        dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0)?.pointee
    }

    /// oneDNN's name for the kernel it runs (e.g. "brg:avx512_core_bf16").
    var implementation: String {
        var name: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "?"
    }
}

/// Copies `source` (laid out as `from`) into `destination` (laid out as `to`), converting types.
func reorder(from: dnnl_memory_desc_t, _ source: UnsafeMutableRawPointer, to: dnnl_memory_desc_t,
             _ destination: UnsafeMutableRawPointer, _ engine: DNNLEngine) throws(DNNLError)
{
    var from = from, to = to
    var pd: dnnl_primitive_desc_t?
    try dnnl(dnnl_reorder_primitive_desc_create(&pd, &from, engine.handle, &to, engine.handle, nil),
             "reorder_primitive_desc_create")
    defer { dnnl_primitive_desc_destroy(pd) }
    var primitive: dnnl_primitive_t?
    try dnnl(dnnl_primitive_create(&primitive, pd), "primitive_create(reorder)")
    defer { dnnl_primitive_destroy(primitive) }
    try execute(primitive, [(DNNL_ARG_SRC_0, from, source), (DNNL_ARG_DST_0, to, destination)], engine)
}

/// Runs a primitive on memory it does not own, on a stream of its own, and waits for it.
func execute(_ primitive: dnnl_primitive_t?, _ arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)],
             _ engine: DNNLEngine) throws(DNNLError)
{
    var memories: [dnnl_memory_t?] = []
    defer { for m in memories { dnnl_memory_destroy(m) } }
    var args: [dnnl_exec_arg_t] = []
    for (arg, md, pointer) in arguments {
        var md = md, memory: dnnl_memory_t?
        try dnnl(dnnl_memory_create(&memory, &md, engine.handle, pointer), "memory_create")
        memories.append(memory)
        args.append(dnnl_exec_arg_t(arg: arg, memory: memory))
    }
    var stream: dnnl_stream_t?
    try dnnl(dnnl_stream_create(&stream, engine.handle, dnnl_stream_default_flags.rawValue), "stream_create")
    defer { dnnl_stream_destroy(stream) }
    try dnnl(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "primitive_execute")
    try dnnl(dnnl_stream_wait(stream), "stream_wait")
}

/// Whether oneDNN runs int8 matmuls with the CPU's dot-product instructions (AVX-512 VNNI, AVX-VNNI
/// or AMX); without them the products go through 16-bit pair sums (`int8WeightLimit`).
public var cpuHasVNNI: Bool {
    let isa = dnnl_get_effective_cpu_isa().rawValue
    return [dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx2_vnni].contains { isa & $0.rawValue == $0.rawValue }
}

/// Whether oneDNN has JIT int8 matmul kernels here: AVX2 and up (below, its reference kernel).
public var cpuRunsInt8: Bool {
    let isa = dnnl_get_effective_cpu_isa().rawValue, avx2 = dnnl_cpu_isa_avx2.rawValue
    return isa & avx2 == avx2
}

/// The largest magnitude of a quantized weight. Without VNNI, oneDNN's int8 kernels multiply
/// unsigned 8-bit sources (s8 shifted by 128, up to 255) with s8 weights in pairs summed to 16 bits
/// with saturation (`vpmaddubsw`): 2 x 255 x 127 overflows, 2 x 255 x 63 = 32130 does not, so
/// weights keep 7 bits there and the sums stay exact (the scheme oneDNN's own int8 guide gives).
public var int8WeightLimit: Int8 { cpuHasVNNI ? 127 : 63 }

/// oneDNN's effective instruction set (after any `DNNL_MAX_CPU_ISA` cap) in its own words.
public var oneDNNInstructionSet: String {
    let isa = dnnl_get_effective_cpu_isa().rawValue
    let names: [(dnnl_cpu_isa_t, String)] = [
        (dnnl_cpu_isa_avx512_core_amx, "AVX512_CORE_AMX"), (dnnl_cpu_isa_avx512_core_bf16, "AVX512_CORE_BF16"),
        (dnnl_cpu_isa_avx512_core_vnni, "AVX512_CORE_VNNI"), (dnnl_cpu_isa_avx512_core, "AVX512_CORE"),
        (dnnl_cpu_isa_avx2_vnni, "AVX2_VNNI"), (dnnl_cpu_isa_avx2, "AVX2"), (dnnl_cpu_isa_avx, "AVX"),
        (dnnl_cpu_isa_sse41, "SSE41"),
    ]
    return names.first { isa & $0.0.rawValue == $0.0.rawValue }?.1 ?? "none (0x\(String(isa, radix: 16)))"
}

/// oneDNN's version and the instruction set it runs on here: converted weights cached by one are
/// laid out for it (a cache key).
public var oneDNNIdentity: String {
    let v = dnnl_version().pointee
    return "oneDNN \(v.major).\(v.minor).\(v.patch) isa 0x\(String(dnnl_get_effective_cpu_isa().rawValue, radix: 16))"
}

/// Converted weights: the layout's descriptor (as bytes, for `convertedParts`) and the data, in
/// memory of their own or borrowed from cached parts (a mapped file that outlives the kernel).
final class ConvertedWeights: @unchecked Sendable {  // immutable after init
    let descriptor: dnnl_memory_desc_t
    let data: UnsafeMutableRawPointer
    let size: Int
    let borrowed: Bool
    private let descriptorBytes: UnsafeMutableRawBufferPointer

    /// The data part of `cached` if its descriptor is `descriptor` (the layout this CPU's
    /// primitive chose), its size fits, and it is 64-byte aligned; else fresh memory that `fill`
    /// writes.
    init(_ descriptor: dnnl_memory_desc_t, cached: [UnsafeRawBufferPointer]?,
         fill: (UnsafeMutableRawPointer) throws(DNNLError) -> Void) throws(DNNLError) {
        var chosen = descriptor
        self.descriptor = descriptor
        let size = dnnl_memory_desc_get_size(&chosen)
        self.size = size
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryLayout<dnnl_memory_desc_t>.size, alignment: 16)
        withUnsafeBytes(of: descriptor) { bytes.copyMemory(from: $0) }
        descriptorBytes = bytes
        if let cached, cached.count >= 2, cached[0].count == MemoryLayout<dnnl_memory_desc_t>.size,
           cached[1].count == size, let base = cached[1].baseAddress, Int(bitPattern: base) % 64 == 0 {
            var stored = cached[0].loadUnaligned(as: dnnl_memory_desc_t.self)
            if dnnl_memory_desc_equal(&stored, &chosen) != 0 {
                data = UnsafeMutableRawPointer(mutating: base)  // read only: oneDNN never writes weights
                borrowed = true
                return
            }
        }
        // Pages of its own (not the heap), so that a model dropped for a cached copy gives them back.
        guard let mapped = mmap(nil, max(size, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else {
            bytes.deallocate()
            throw DNNLError(call: "mmap(\(size) bytes for converted weights)", status: dnnl_out_of_memory)
        }
        do { try fill(mapped) } catch {
            munmap(mapped, max(size, 1))
            bytes.deallocate()
            throw error
        }
        data = mapped
        borrowed = false
    }

    deinit {
        if !borrowed { munmap(data, max(size, 1)) }
        descriptorBytes.deallocate()
    }

    /// [descriptor, data] as `ConvertingLinearKernel.convertedParts` lists them.
    var parts: [UnsafeRawBufferPointer] {
        [UnsafeRawBufferPointer(descriptorBytes), UnsafeRawBufferPointer(start: data, count: size)]
    }
}
