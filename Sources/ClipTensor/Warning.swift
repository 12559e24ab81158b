import Foundation
import Synchronization

private let warned = Mutex<Set<String>>([])
private let warningSink = Mutex<(@Sendable (String) -> Void)?>(nil)

/// A line on stderr, once per distinct message per process (or, once `sendWarnings(to:)` was
/// called, to that handler instead).
public func warnOnce(_ message: String) {
    guard warned.withLock({ $0.insert(message).inserted }) else { return }
    if let sink = warningSink.withLock({ $0 }) { return sink(message) }
    FileHandle.standardError.write(Data(("clipq: warning: " + message + "\n").utf8))
}

/// Where warnings go from now on: the worker sends them to its JSON log, so that every line on
/// its stderr stays one JSON object.
public func sendWarnings(to sink: @escaping @Sendable (String) -> Void) {
    warningSink.withLock { $0 = sink }
}
