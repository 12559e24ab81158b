import ClipSchema

/// Finds the bad rows of a chunk without giving up batching for the good ones.
///
/// A chunk goes out as one request. A request is refused as a whole when one of its rows is bad,
/// with the first bad row's pointer (`/input_data/data/N/...`): that row gets the error and the
/// rest goes out again as one request, so a chunk with k bad rows costs k + 1 requests, and the
/// encoder still sees the good rows together (a refusal comes from ingest, before any encoding).
/// An error that names no row (`internal`, `deadline_exceeded`) is retried row by row, and
/// what a single row gets is final. The same steps serve the in-process path and the broker.
public struct RowIsolation: Sendable {
    public private(set) var outcomes: [RowOutcome?]
    private var toSend: [[Int]] = []

    /// `rows`: each row's request row, or the error it already has (it is never sent).
    public init(_ rows: [Result<EmbeddingRequest.Row, ClipError>]) {
        outcomes = rows.map { row in
            if case .failure(let error) = row { return .failure(error) }
            return nil
        }
        let good = rows.indices.filter { outcomes[$0] == nil }
        if !good.isEmpty { toSend = [good] }
    }

    public var isComplete: Bool { !outcomes.contains { $0 == nil } }

    /// The requests to send now, each as indices into the chunk's rows.
    public mutating func takeRequests() -> [[Int]] {
        defer { toSend = [] }
        return toSend
    }

    /// What the request made of rows `sent` came back as.
    public mutating func receive(_ reply: Result<[ReplyRow], ClipError>, for sent: [Int]) {
        switch reply {
        case .success(let rows) where rows.count == sent.count:
            for (index, row) in zip(sent, rows) { outcomes[index] = .success(row) }
        case .success(let rows):
            let error = ClipError(.internal, "the reply has \(rows.count) rows for a request of \(sent.count)")
            for index in sent { outcomes[index] = .failure(error) }
        case .failure(let error) where sent.count == 1:
            outcomes[sent[0]] = .failure(Self.rowError(error))
        case .failure(let error):
            if let bad = Self.row(of: error), bad < sent.count {
                outcomes[sent[bad]] = .failure(Self.rowError(error))
                toSend.append(sent.enumerated().filter { $0.offset != bad }.map(\.element))
            } else {
                toSend += sent.map { [$0] }
            }
        }
    }

    /// N of a pointer `/input_data/data/N...`.
    static func row(of error: ClipError) -> Int? {
        guard let pointer = error.pointer, pointer.hasPrefix("/input_data/data/") else { return nil }
        return Int(pointer.dropFirst("/input_data/data/".count).prefix { $0.isNumber })
    }

    /// The pointer is dropped: it points into a request the user never wrote.
    static func rowError(_ error: ClipError) -> ClipError {
        ClipError(error.code, error.message)
    }
}
