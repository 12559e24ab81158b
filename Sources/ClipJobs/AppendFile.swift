import Foundation

/// A file written at its end, whose size after `sync` is what a checkpoint records: reopening at
/// a recorded size cuts off whatever a killed run wrote after its last checkpoint.
final class AppendFile {
    let path: String
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private(set) var size: Int

    /// Opens `path` cut to `size` bytes (a new, empty file when `size` is nil).
    init(_ path: String, size: Int?) throws(JobError) {
        self.path = path
        do {
            if size == nil || !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw JobError(.output, "cannot create \(path)")
                }
            }
            handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            let end = try handle.seekToEnd()
            guard Int(end) >= (size ?? 0) else {
                throw JobError(.checkpoint, "\(path) has \(end) bytes, fewer than the checkpoint's \(size ?? 0): it was changed")
            }
            try handle.truncate(atOffset: UInt64(size ?? 0))
            try handle.seekToEnd()
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.output, "cannot open \(path): \(error.localizedDescription)")
        }
        self.size = size ?? 0
    }

    deinit { try? handle.close() }

    func append(_ bytes: [UInt8]) {
        pending += bytes
        size += bytes.count
    }

    /// Writes `bytes` at `offset` (below what is written), e.g. a header that counts rows.
    func overwrite(_ bytes: [UInt8], at offset: Int) throws(JobError) {
        try flush()
        do {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: bytes)
            try handle.seekToEnd()
        } catch {
            throw JobError(.output, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    func flush() throws(JobError) {
        guard !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw JobError(.output, "cannot write \(path): \(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushed and on disk; returns the size.
    func sync() throws(JobError) -> Int {
        try flush()
        do {
            try handle.synchronize()
        } catch {
            throw JobError(.output, "cannot sync \(path): \(error.localizedDescription)")
        }
        return size
    }
}
