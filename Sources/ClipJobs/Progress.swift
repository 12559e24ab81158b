import Foundation

/// Rows done, rows/s, ETA and errors on stderr: a bar redrawn in place on a terminal, a plain
/// line every `interval` otherwise (logs), and a last line at the end either way.
public final class Progress {
    let total: Int
    private var done = 0, errors = 0
    private let started = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    private let interval: Duration
    private let terminal: Bool
    private let write: (String) -> Void

    public init(total: Int, interval: Duration = .seconds(10), terminal: Bool = isatty(2) == 1,
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.total = total
        self.interval = terminal ? .milliseconds(200) : interval
        self.terminal = terminal
        self.write = write
    }

    /// Rows done by earlier runs: counted in the position, not in the rate.
    public var base = 0

    public func advance(rows: Int, errors: Int) {
        done += rows
        self.errors += errors
        if ContinuousClock.now - lastReport >= interval {
            lastReport = .now
            write(line() + (terminal ? "" : "\n"))
        }
    }

    public func finish() {
        write(line() + "\n")
    }

    func line() -> String {
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let left = total - base - done
        let eta = rate > 0 ? Self.duration(Double(left) / rate) : "?"
        let position = base + done
        let figures = "\(position)/\(total) rows, \(String(format: "%.1f", rate)) rows/s, ETA \(eta), \(errors) errors"
        guard terminal else { return "batch: " + figures }
        let width = 30
        let filled = total > 0 ? width * position / total : width
        return "\r[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " + figures + "\u{1B}[K"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
