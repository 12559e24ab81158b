import ArgumentParser
import ClipCommandLine

/// The benchmarks, apart from the product: `clipq` ships to users and runs workers; this measures
/// it (the Makefile's bench targets and scripts/bench-*.sh run it from the repository root).
@main
struct ClipqBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipq-bench",
        abstract: "Measure clipq: the encoders and each stage of a request, workers, the broker, ingest, the tokenizer.",
        subcommands: [
            InProcessBenchCommand.self,
            WorkerBenchCommand.self,
            BrokerBenchCommand.self,
            LoadBenchCommand.self,
            ImageBenchCommand.self,
            TokenizerBenchCommand.self,
            LanesBenchCommand.self,
            CacheBenchCommand.self,
        ]
    )

    /// ArgumentParser's own main, after the OpenMP wait policy is settled (as clipq's).
    static func main() {
        waitPassivelyInOpenMP()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
