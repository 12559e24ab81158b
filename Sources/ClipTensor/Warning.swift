import Foundation
import Synchronization

/// Where a model's warnings go (a oneDNN refusal, a fallback to fp32), each distinct message once.
/// Each model has its own, given at load: the worker sends them to its JSON log, so that every
/// line on its stderr stays one JSON object; by default they go to stderr.
public final class Warnings: Sendable {
    private let sink: @Sendable (String) -> Void
    private let seen = Mutex<Set<String>>([])

    public init(_ sink: @escaping @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data(("clipq: warning: " + message + "\n").utf8))
    }) {
        self.sink = sink
    }

    /// Sends `message` unless this sink had it already.
    public func once(_ message: String) {
        guard seen.withLock({ $0.insert(message).inserted }) else { return }
        sink(message)
    }
}

/// What the kernels of one model share: its warnings and the scratch memory of its bf16 and int8
/// kernels (borrowed per call, so that two encodes at once each get their own).
public final class KernelContext: Sendable {
    public let warnings: Warnings
    let int8 = ScratchPool<Int8>()
    let float = ScratchPool<Float>()
    let bfloat16 = ScratchPool<UInt16>()

    public init(warnings: Warnings = Warnings()) {
        self.warnings = warnings
    }
}
