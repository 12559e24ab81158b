import ArgumentParser
import ClipSchema

/// The size limits every request is checked against, by the workers and by a gateway before it
/// publishes: the two should agree, so they read the same flags and environment.
public struct RequestLimitOptions: ParsableArguments {
    public init() {}

    @Option(help: "Largest request body in bytes (keep gateways and workers the same). Env CLIPQ_MAX_BODY_BYTES.")
    public var maxBodyBytes: Int = env("CLIPQ_MAX_BODY_BYTES").flatMap(Int.init) ?? RequestLimits().maxBodyBytes

    @Option(help: "Most rows per request (keep gateways and workers the same). Env CLIPQ_MAX_ROWS.")
    public var maxRows: Int = env("CLIPQ_MAX_ROWS").flatMap(Int.init) ?? RequestLimits().maxRows

    public var limits: RequestLimits {
        RequestLimits(maxBodyBytes: maxBodyBytes, maxRows: maxRows)
    }
}
