import CDNNL

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
