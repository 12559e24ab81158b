import ArgumentParser
import ClipText
import Foundation

/// `clipq-bench tokenizer`: the CLIP tokenizer's speed over a caption corpus, beside which
/// Tests/Fixtures/tokenizer/bench_hf.py times Hugging Face's on the same file.
struct TokenizerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Time tokenizing each line of a corpus, one thread: a cold pass, then the best warm one.")

    @Option(help: "A directory holding vocab.json and merges.txt (default: the fixtures' clip-vocab).")
    var model: String?

    @OptionGroup var fixtures: FixtureOptions

    @Option(help: "Timed rounds over the corpus, after one with an empty cache.")
    var rounds = 5

    @Argument(help: "A text file, one text a line.")
    var corpus: String

    func run() throws {
        guard let text = try? String(contentsOfFile: corpus, encoding: .utf8) else {
            throw BenchError("cannot read the corpus \(corpus)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let directory = model.map { URL(fileURLWithPath: $0) } ?? fixtures.root.appendingPathComponent("clip-vocab")
        print(try benchmarkTokenizer(modelDirectory: directory, texts: lines, rounds: rounds))
    }
}

/// The figures of `clipq-bench tokenizer`: single-threaded tokens per second over a corpus,
/// first with a fresh tokenizer (empty BPE cache), then the best of `rounds` warm rounds.
/// Loading is timed apart. Tokens count the text's ids, without the two control tokens.
func benchmarkTokenizer(modelDirectory: URL, texts: [String], rounds: Int) throws -> String {
    let clock = ContinuousClock()
    var loaded: Result<CLIPTokenizer, any Error>?
    let load = clock.measure {
        loaded = Result { try CLIPTokenizer(modelDirectory: modelDirectory) }
    }
    guard let tokenizer = try loaded?.get() else { throw BenchError("no tokenizer in \(modelDirectory.path)") }
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
