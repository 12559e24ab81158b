import ArgumentParser
import ClipCommandLine
import ClipAMQP
import ClipJobs
import Foundation

extension OutputFormat: ExpressibleByArgument {}
extension NPYDType: ExpressibleByArgument {}

/// `clipq batch`: embed a whole collection into a file (or folder), resumably.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Embed a collection (CSV/JSONL files or an image folder) into JSONL, CSV or npy, resumably.",
        discussion: """
            --input is a CSV file or a folder of them (columns `image` and `text`; images as URL or \
            base64), a JSONL file or folder ({"image": ..., "text": ...} per line), or a folder of \
            images with an optional .txt caption beside each. A bad row gets an `error` object in \
            the output and the job goes on. Rerunning the same command continues where it stopped \
            (the checkpoint lies beside the output). --via-queue sends the rows to the workers \
            of --amqp-url as requests instead of running the model here.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "A CSV or JSONL file, or a folder of CSV/JSONL files or of images.")
    var input: String

    @Option(help: "Output file (jsonl, azureml-csv) or folder (npy).")
    var output: String

    @Option(help: "jsonl, azureml-csv or npy.")
    var format: OutputFormat = .jsonl

    @Option(help: "npy element type: float32 or float16.")
    var dtype: NPYDType = .float32

    @Flag(help: "Scale each embedding to unit length.")
    var normalize = false

    @Option(help: "Rows per chunk: one request, one checkpoint.")
    var chunkRows = 32

    @Option(help: "Embed at most this many rows in this run (a rerun does the rest).")
    var limit: Int?

    @Flag(help: "Send the rows to workers through the broker (--amqp-url) instead of running the model here.")
    var viaQueue = false

    @Option(help: "With --via-queue: requests in flight at once.")
    var maxOutstanding = 16

    @Option(help: "With --via-queue: the traffic lane, bulk (default: never delays interactive requests) or interactive.")
    var lane: TrafficLane = .bulk

    @Option(help: "With --via-queue: give up (resumably) after this many seconds without a reply.")
    var replyTimeout = 600

    @Option(help: "Seconds between progress lines when stderr is not a terminal.")
    var progressInterval = 10

    func run() throws {
        do {
            var job = BatchJob(input: try BatchInput.load(input), format: format, output: output)
            job.dtype = dtype
            job.chunkRows = chunkRows
            job.limit = limit
            job.options = normalize ? "normalized" : ""
            let progress = ClipJobs.Progress(total: job.input.rows.count, interval: .seconds(progressInterval))
            let summary = try runJob(job, model: model, broker: broker, viaQueue: viaQueue, lane: lane, normalize: normalize,
                                     maxOutstanding: maxOutstanding, replyTimeout: replyTimeout, progress: progress)
            let state = summary.complete ? "complete" : "incomplete (rerun to continue)"
            FileHandle.standardError.write(Data(("batch: \(summary.written) rows written (\(summary.errors) errors), "
                + "\(summary.skipped) done before, \(summary.total) in all: \(state)\n").utf8))
        } catch {
            FileHandle.standardError.write(Data("batch: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// A job through the model here or through the broker, as the flags say.
func runJob(_ job: BatchJob, model: ModelOptions, broker: BrokerOptions, viaQueue: Bool, lane: TrafficLane, normalize: Bool,
            maxOutstanding: Int, replyTimeout: Int, progress: ClipJobs.Progress?) throws(JobError) -> BatchJob.Summary {
    if viaQueue {
        let settings: AMQPSettings
        do {
            settings = try broker.settings(connectionName: "clipq batch")
        } catch {
            throw JobError(.broker, "\(error)")
        }
        var runner = QueueRunner(settings: settings, queue: broker.queue(for: lane), maxOutstanding: maxOutstanding,
                                 replyTimeout: .seconds(replyTimeout), normalize: normalize)
        return try job.run(&runner, progress: progress)
    }
    var runner: InProcessRunner
    do {
        runner = InProcessRunner(embedder: try model.embedder(), normalize: normalize)
    } catch {
        throw JobError(.model, "\(error)")
    }
    return try job.run(&runner, progress: progress)
}
