import ClipSchema
import Foundation

/// What a job has durably written: the first `rows` input rows, in files of these sizes. It lies
/// beside the output and is replaced atomically (written aside, then renamed) after each chunk,
/// always after the output it describes is synced, so it never claims more than is on disk.
public struct Checkpoint: Equatable, Sendable {
    /// What the job is (input fingerprint, format, options): a rerun of another job refuses it.
    public var job: String
    public var rows: Int
    public var sizes: [String: Int]
    public var complete: Bool

    public init(job: String, rows: Int, sizes: [String: Int], complete: Bool) {
        self.job = job
        self.rows = rows
        self.sizes = sizes
        self.complete = complete
    }

    public static func read(_ path: String) throws(JobError) -> Checkpoint? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let value = try? JSONParser().parse(Array(data)), let job = value["job"]?.string, let rows = value["rows"]?.number,
            let sizes = value["sizes"]?.object
        else { throw JobError(.checkpoint, "\(path) is not a clipq checkpoint; remove it to start over") }
        var table: [String: Int] = [:]
        for (key, size) in sizes.members { table[key] = Int(size.number ?? 0) }
        return Checkpoint(job: job, rows: Int(rows), sizes: table, complete: value["complete"]?.bool ?? false)
    }

    public func write(_ path: String) throws(JobError) {
        var sizes = JSONObject()
        for (key, size) in self.sizes.sorted(by: { $0.key < $1.key }) { sizes[key] = .number(Double(size)) }
        let body = JSONWriter.serialize(["job": .string(job), "rows": .number(Double(rows)), "sizes": .object(sizes), "complete": .bool(complete)])
        let aside = path + ".tmp"
        guard FileManager.default.createFile(atPath: aside, contents: Data(body)) else { throw JobError(.checkpoint, "cannot write \(aside)") }
        guard rename(aside, path) == 0 else { throw JobError(.checkpoint, "cannot rename \(aside) to \(path)") }
    }
}
