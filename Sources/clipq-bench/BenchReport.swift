import ClipSchema
import Foundation

/// What a benchmark measured, twice: one JSON line per figure on stdout as soon as it is known
/// (for scripts: `grep '^{'`), and a table at the end (for people).
final class BenchReport {
    private var rows: [(section: String, item: String, figure: String)] = []
    private let base: [(String, JSONValue)]

    /// `base`: fields every JSON line carries (the model, the precision, the threads).
    init(_ base: [(String, JSONValue)]) {
        self.base = base
    }

    /// One figure: its JSON line now, and its row in the table (`section`, `item`: the first two columns).
    func record(_ section: String, _ item: String, _ figure: String, _ fields: [(String, JSONValue)]) {
        var object = JSONObject()
        for (key, value) in base + [("section", .string(section)), ("item", .string(item))] + fields {
            object[key] = value
        }
        say(JSONWriter.string(.object(object)))
        rows.append((section, item, figure))
    }

    func printTable(title: String) {
        let sectionWidth = rows.map(\.section.count).max() ?? 0, itemWidth = rows.map(\.item.count).max() ?? 0
        say("")
        say(title)
        var previous = ""
        for row in rows {
            let section = row.section == previous ? "" : row.section
            previous = row.section
            say("  " + section.padding(toLength: sectionWidth, withPad: " ", startingAt: 0) + "  "
                + row.item.padding(toLength: itemWidth, withPad: " ", startingAt: 0) + "  " + row.figure)
        }
    }
}

/// Rounded for JSON lines: enough digits to compare runs, not float noise.
func number(_ value: Double, digits: Int = 4) -> JSONValue {
    guard value.isFinite, value != 0 else { return .number(0) }
    let scale = pow(10, Double(digits) - ceil(log10(abs(value))))
    return .number((value * scale).rounded() / scale)
}

/// Runs `body` once to warm up, then `runs` times; the median duration in seconds.
func medianSeconds(runs: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var durations: [Double] = []
    for _ in 0..<max(1, runs) {
        let t = ContinuousClock.now
        try body()
        durations.append((ContinuousClock.now - t) / .seconds(1))
    }
    return median(durations)
}
