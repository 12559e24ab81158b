import Foundation
import Synchronization

private let warned = Mutex<Set<String>>([])

/// A line on stderr, once per distinct message per process.
public func warnOnce(_ message: String) {
    guard warned.withLock({ $0.insert(message).inserted }) else { return }
    FileHandle.standardError.write(Data(("clipq: warning: " + message + "\n").utf8))
}
