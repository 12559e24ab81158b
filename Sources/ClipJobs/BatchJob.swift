import Foundation

/// A batch job: input rows, in order, through a runner into a writer, with a checkpoint after
/// every chunk so that running the same job again continues where it stopped.
public struct BatchJob {
    public var input: BatchInput
    public var format: OutputFormat
    /// A file for jsonl and azureml-csv, a folder for npy.
    public var output: String
    public var dtype: NPYDType = .float32
    public var chunkRows = 32
    /// At most this many rows in this run (the rest is left for a rerun).
    public var limit: Int?
    /// Options that change what is written (e.g. normalization): part of the job's identity.
    public var options = ""

    public init(input: BatchInput, format: OutputFormat, output: String) {
        self.input = input
        self.format = format
        self.output = output
    }

    public struct Summary: Equatable, Sendable {
        public var total: Int
        /// Rows written by earlier runs, skipped by this one.
        public var skipped: Int
        public var written: Int
        public var errors: Int
        public var complete: Bool
    }

    public var checkpointPath: String {
        format == .npy ? URL(fileURLWithPath: output).appendingPathComponent("checkpoint.json").path : output + ".checkpoint.json"
    }

    var identity: String {
        "clipq-batch-1|\(format.rawValue)|\(format == .npy ? dtype.rawValue : "")|\(options)|\(input.fingerprint)"
    }

    public func run(_ runner: inout some ChunkRunner, progress: Progress? = nil) throws(JobError) -> Summary {
        let previous = try Checkpoint.read(checkpointPath)
        if let previous, previous.job != identity {
            throw JobError(.checkpoint, "\(checkpointPath) belongs to another job (other input or options): "
                + "rerun that job, or remove the output to start over")
        }
        if previous == nil, FileManager.default.fileExists(atPath: format == .npy
            ? URL(fileURLWithPath: output).appendingPathComponent(NPYWriter.metadataFile).path : output)
        {
            throw JobError(.output, "\(output) exists without a checkpoint: remove it, or choose another output")
        }
        let done = previous?.rows ?? 0
        var summary = Summary(total: input.rows.count, skipped: done, written: 0, errors: 0, complete: previous?.complete ?? false)
        if summary.complete { return summary }
        progress?.base = done

        let writer: BatchWriter = switch format {
        case .jsonl: try JSONLWriter(path: output, sizes: previous?.sizes)
        case .azuremlCSV: try AzureMLCSVWriter(path: output, sizes: previous?.sizes)
        case .npy: try NPYWriter(directory: output, dtype: dtype, sizes: previous?.sizes)
        }
        try Checkpoint(job: identity, rows: done, sizes: try writer.commit(), complete: false).write(checkpointPath)

        let todo = Array(input.rows[done..<min(input.rows.count, done + (limit ?? input.rows.count))])
        let chunks = stride(from: 0, to: todo.count, by: max(1, chunkRows)).map { Array(todo[$0..<min($0 + max(1, chunkRows), todo.count)]) }
        try runner.run(chunks) { (i: Int, outcomes: [RowOutcome]) throws(JobError) in
            var errors = 0
            for (row, outcome) in zip(chunks[i], outcomes) {
                try writer.append(row, outcome)
                if case .failure = outcome { errors += 1 }
            }
            summary.written += outcomes.count
            summary.errors += errors
            let rows = done + summary.written
            summary.complete = rows == input.rows.count
            try Checkpoint(job: identity, rows: rows, sizes: try writer.commit(), complete: summary.complete).write(checkpointPath)
            progress?.advance(rows: outcomes.count, errors: errors)
        }
        if todo.isEmpty, done == input.rows.count {
            summary.complete = true
            try Checkpoint(job: identity, rows: done, sizes: try writer.commit(), complete: true).write(checkpointPath)
        }
        progress?.finish()
        return summary
    }
}
