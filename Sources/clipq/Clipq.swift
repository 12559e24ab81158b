import ArgumentParser

/// The one executable: every job clipq does is a subcommand. Only this target reads flags and
/// the environment; the modules below it take their settings as values.
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
            BenchCommand.self,
            WorkerBenchCommand.self,
            BrokerBenchCommand.self,
            LoadBenchCommand.self,
            BatchCommand.self,
            EvalCommand.self,
        ]
    )

    /// ArgumentParser's own main, after the OpenMP wait policy is settled.
    static func main() async {
        waitPassivelyInOpenMP()
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

let clipqVersion = "0.1.0"
