import ArgumentParser
import ClipModel
import ClipTensor

extension Precision: ExpressibleByArgument {}

/// The precision asked for (the flag, else CLIPQ_PRECISION, else fp32) as this CPU can run it,
/// with one warning on stderr when it falls back. An unknown CLIPQ_PRECISION is refused, as an
/// unknown flag value is.
public func availablePrecision(_ flag: Precision?, warnings: Warnings = Warnings()) throws -> Precision {
    var asked = Precision.fp32
    if let flag {
        asked = flag
    } else if let value = env("CLIPQ_PRECISION") {
        guard let parsed = Precision(rawValue: value) else {
            throw ValidationError("CLIPQ_PRECISION=\(value): expected one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        asked = parsed
    }
    guard asked != .auto else { return .auto }  // chosen by CLIPModel.load, which says why (precisionChoice)
    let (precision, fallback) = asked.available
    if let fallback { warnings.once(fallback) }
    return precision
}
