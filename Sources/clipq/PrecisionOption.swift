import ArgumentParser
import ClipModel
import ClipTensor

extension Precision: ExpressibleByArgument {}

/// The precision asked for (flag, else CLIPQ_PRECISION, else fp32), as this CPU can run it: one
/// warning on stderr when it falls back.
func availablePrecision(_ asked: Precision) -> Precision {
    let (precision, fallback) = asked.available
    if let fallback { warnOnce(fallback) }
    return precision
}

let defaultPrecision = env("CLIPQ_PRECISION").flatMap(Precision.init(rawValue:)) ?? .fp32
