import ArgumentParser
import ClipCommandLine
import ClipAMQP
import ClipClient
import ClipSchema
import Foundation

/// `clipq request`: what another service does, from the shell. Publishes one request,
/// waits for its reply and prints it.
struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Send one embedding request to the workers and print the reply.",
        discussion: """
            Prints the correlation id it sends on stderr, then the reply body (embeddings, or the \
            error reply) on stdout. Exits 0 for embeddings, 1 for an error reply, 2 when no reply \
            came (broker unreachable, timeout).
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: "A request file (input_data JSON), or - for stdin.")
    var request: String?

    @Option(help: "An image: http(s) URL, data URI or base64 (a local file is sent as base64). Repeatable; one row each.")
    var image: [String] = []

    @Option(help: "A text. Repeatable; one row each, after the images.")
    var text: [String] = []

    @Option(help: "Seconds to wait for the reply.")
    var timeout: Int = 60

    @Option(help: "Ask workers not to compute after this many ms from now (x-deadline).")
    var deadlineMs: Int?

    @Option(help: "The request's correlation id (default: a fresh UUID), echoed on its reply and its dead letter.")
    var correlationID: String?

    @Option(help: "interactive (someone waits) or bulk (served where interactive requests leave room).")
    var lane: TrafficLane = .interactive

    func validate() throws {
        guard (request != nil) != (!image.isEmpty || !text.isEmpty) else {
            throw ValidationError("give --request, or --image/--text flags (not both)")
        }
    }

    func run() throws {
        let body: [UInt8]
        if let request {
            body = Array(try requestFile(request))
        } else {
            body = RequestEncoder.encode(images: try image.map(imageCell), texts: text)
        }
        do {
            let client = try ClipClient(settings: try broker.settings(connectionName: "clipq request"), queue: broker.queue(for: lane))
            let deadline = deadlineMs.map { Date().addingTimeInterval(Double($0) / 1000) }
            let id = correlationID ?? UUID().uuidString
            FileHandle.standardError.write(Data("correlation id: \(id)\n".utf8))
            switch try client.send(body, timeout: .seconds(timeout), deadline: deadline, correlationID: id) {
            case .embeddings(let rows):
                FileHandle.standardOutput.write(Data(try ReplyEncoder().encode(rows) + [0x0A]))
            case .error(let error):
                FileHandle.standardOutput.write(Data(error.replyBody + [0x0A]))
                throw ExitCode(1)
            }
        } catch let error as ClipClientError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as AMQPError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
