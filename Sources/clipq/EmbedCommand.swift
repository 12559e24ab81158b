import ArgumentParser
import ClipCommandLine
import ClipPipeline
import ClipImage
import ClipModel
import ClipSchema
import ClipTensor
import ClipText
import ClipWorker
import Foundation

/// `clipq embed`: the main job in process, no broker. Prints the reply of the contract.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed images and texts in process and print the reply (no broker).",
        discussion: """
            Rows come from --request (a request of the contract; - reads stdin), or one row per \
            --image and --text flag, in the order given. An --image may be a local file (a \
            convenience of this command), an http(s) URL, a data URI or base64. Embeddings are not \
            normalized unless --normalize is given, as the hosted endpoint does. A refused request \
            prints its error reply and exits 1.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "A request file (input_data JSON), or - for stdin.")
    var request: String?

    @Option(help: "An image: local path, http(s) URL, data URI or base64. Repeatable.")
    var image: [String] = []

    @Option(help: "A text. Repeatable.")
    var text: [String] = []

    @Flag(help: "Scale each embedding to unit length.")
    var normalize = false

    func validate() throws {
        guard (request != nil) != (!image.isEmpty || !text.isEmpty) else {
            throw ValidationError("give --request, or --image/--text flags (not both)")
        }
    }

    func run() throws {
        let embedder = try model.embedder()
        let rows: EmbeddingRequest
        do {
            rows = try request.map(readRequest) ?? EmbeddingRequest(rows: try flagRows())
            let body = try embedder.embed(rows, normalize: normalize)
            FileHandle.standardOutput.write(Data(try ReplyEncoder().encode(body) + [0x0A]))
        } catch let error as ClipError {
            FileHandle.standardOutput.write(Data(error.replyBody + [0x0A]))
            throw ExitCode(1)
        }
    }

    private func readRequest(_ path: String) throws -> EmbeddingRequest {
        try RequestDecoder().decode(Array(try requestFile(path)))
    }

    /// One row per --image/--text flag, in command-line order (the parser keeps each option's
    /// values in order but not their interleaving, so the order is read off the arguments).
    private func flagRows() throws -> [EmbeddingRequest.Row] {
        var images = image.makeIterator(), texts = text.makeIterator()
        var rows: [EmbeddingRequest.Row] = []
        for argument in CommandLine.arguments {
            if argument == "--image" || argument.hasPrefix("--image="), let cell = images.next() {
                rows.append(.init(image: try imageCell(cell)))
            } else if argument == "--text" || argument.hasPrefix("--text="), let value = texts.next() {
                rows.append(.init(text: value))
            }
        }
        return rows
    }
}
