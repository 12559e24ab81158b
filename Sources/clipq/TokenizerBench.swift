import ClipText
import Foundation

/// The figures of `clipq tokenize --bench`: single-threaded tokens per second over a corpus,
/// first with a fresh tokenizer (empty BPE cache), then the best of `rounds` warm rounds.
/// Loading is timed apart. Tokens count the text's ids, without the two control tokens.
func benchmarkTokenizer(modelDirectory: URL, texts: [String], rounds: Int) -> String {
    let clock = ContinuousClock()
    var tokenizer: CLIPTokenizer?
    let load = clock.measure {
        tokenizer = try? CLIPTokenizer(modelDirectory: modelDirectory)
    }
    guard let tokenizer else { return "clipq: cannot load the tokenizer from \(modelDirectory.path)" }
    var tokens = 0
    func pass() -> Duration {
        clock.measure {
            var count = 0
            for text in texts { count += tokenizer.encode(text).count - 2 }
            tokens = count
        }
    }
    let cold = pass()
    let warm = (0..<max(rounds, 1)).map { _ in pass() }.min() ?? cold
    func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    func line(_ name: String, _ d: Duration) -> String {
        "clipq ClipText  " + name.padding(toLength: 5, withPad: " ", startingAt: 0) + String(format: " %8.3f s  %10.0f tokens/s  %9.0f texts/s",
               seconds(d), Double(tokens) / seconds(d), Double(texts.count) / seconds(d))
    }
    return [
        "clipq ClipText  load  \(String(format: "%8.3f", seconds(load))) s  (\(texts.count) texts, \(tokens) tokens)",
        line("cold", cold),
        line("warm", warm),
    ].joined(separator: "\n")
}
