import ClipSchema

/// `v / |v|`; a zero vector stays zero. Replies are unnormalized by contract; callers that
/// compare embeddings by cosine (`--normalize`, retrieval) scale them here.
public func l2Normalized(_ v: [Float]) -> [Float] {
    let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? v.map { $0 / norm } : v
}

extension ReplyRow {
    /// The row with each embedding scaled to unit length.
    public var normalized: ReplyRow {
        ReplyRow(imageFeatures: imageFeatures.map(l2Normalized), textFeatures: textFeatures.map(l2Normalized))
    }
}
