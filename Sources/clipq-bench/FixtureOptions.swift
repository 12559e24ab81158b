import ArgumentParser
import Foundation

/// Where the benchmarks find the repository's test fixtures (images, the CLIP vocabulary, the
/// preprocessor settings). The default is relative, for runs from the repository root as the
/// Makefile and scripts do them; give the folder to run from anywhere else.
struct FixtureOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The repository's Tests/Fixtures folder.", valueName: "directory"))
    var fixtures = "Tests/Fixtures"

    var root: URL { URL(fileURLWithPath: fixtures) }

    /// The sample images: astronaut.jpg (a typical web photo) and coffee_12mp.jpg among them.
    var images: URL { root.appendingPathComponent("images/inputs") }

    /// A typical web photo, 512x512 JPEG.
    var photo: URL { images.appendingPathComponent("astronaut.jpg") }

    /// The CLIP tokenizer's files and the preprocessor settings, which a model with random weights
    /// lacks: a model directory needs them beside its weights for every command to run on it.
    var modelSideFiles: [URL] {
        [root.appendingPathComponent("clip-vocab/vocab.json"), root.appendingPathComponent("clip-vocab/merges.txt"),
         root.appendingPathComponent("images/preprocessor_config.json")]
    }

    /// Reads a fixture file, or says which flag to give.
    func read(_ url: URL) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw BenchError("cannot read \(url.path): run from the repository root, or give --fixtures")
        }
        return data
    }
}
