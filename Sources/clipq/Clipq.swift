import ArgumentParser
import ClipCommandLine

/// The one executable users run: every job clipq does is a subcommand (the benchmarks are
/// clipq-bench). Only this target and ClipCommandLine read flags and the environment; the
/// modules below them take their settings as values.
@main
struct Clipq: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipq",
        abstract: "CLIP embeddings for images and texts, served over RabbitMQ.",
        version: clipqVersion,
        subcommands: [
            SchemaCommand.self,
            TokenizeCommand.self,
            PreprocessCommand.self,
            EmbedCommand.self,
            WorkerCommand.self,
            GatewayCommand.self,
            RequestCommand.self,
            DeadLetterCommand.self,
            QueueCommand.self,
            BatchCommand.self,
            EvalCommand.self,
            CheckPrecisionCommand.self,
        ]
    )

    /// ArgumentParser's own main, after the OpenMP wait policy is settled, with run-time
    /// failures told apart from usage mistakes (exitOnError).
    static func main() async {
        waitPassivelyInOpenMP()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exitOnError(error, of: Self.self)
        }
    }
}

let clipqVersion = "0.1.0"
