import ClipModel
import ClipTensor
import Foundation

/// The CPU a benchmark ran on, as /proc/cpuinfo names it, with what decides clipq's kernels: a
/// virtual machine's model name is often only the vendor's line ("AMD EPYC"), so the family and
/// model numbers and the vector extensions come with it.
struct MachineDescription {
    var name = "unknown CPU"
    var family: String?
    var model: String?
    /// The extensions clipq's kernels (OpenBLAS, oneDNN) choose by, in the order listed here.
    var extensions: [String] = []

    static let extensionsOfInterest = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16"]

    init(cpuinfo: String) {
        var flags: Set<Substring> = []
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces), value = parts[1].trimmingCharacters(in: .whitespaces)
            switch key {
            case "model name" where name == "unknown CPU": name = value
            case "cpu family" where family == nil: family = value
            case "model" where model == nil: model = value
            case "flags" where flags.isEmpty: flags = Set(value.split(separator: " "))
            default: break
            }
        }
        extensions = Self.extensionsOfInterest.filter { flags.contains(Substring($0)) }
    }

    static var current: MachineDescription {
        MachineDescription(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    }

    /// e.g. "AMD EPYC (family 25, model 1): avx2 fma".
    var summary: String {
        let numbers = [family.map { "family \($0)" }, model.map { "model \($0)" }].compactMap { $0 }
        return name + (numbers.isEmpty ? "" : " (\(numbers.joined(separator: ", ")))")
            + ": " + (extensions.isEmpty ? "no AVX2" : extensions.joined(separator: " "))
    }

    /// One figure for a report: the CPU, oneDNN's instruction set and what `--precision auto`
    /// picks on it, and why.
    func record(into report: BenchReport) {
        let auto = Precision.automatic
        report.record("machine", "cpu", "\(summary); oneDNN \(oneDNNInstructionSet); \(auto.reason)",
                      [("cpu", .string(name)), ("cpu_family", .string(family ?? "")), ("cpu_model", .string(model ?? "")),
                       ("extensions", .string(extensions.joined(separator: " "))), ("onednn_isa", .string(oneDNNInstructionSet)),
                       ("auto", .string(auto.precision.rawValue)), ("auto_reason", .string(auto.reason))])
    }
}
