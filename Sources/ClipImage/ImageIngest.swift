/// Settings for turning a request's image cell into a tensor; the worker builds one from its
/// flags and passes it in.
public struct IngestSettings: Equatable, Sendable {
    public var fetch = FetchSettings()
    public var limits = DecodeLimits()

    public init() {}
}

/// The image side of the worker's ingest pool: cell text in, [3, H, W] tensor or error out.
/// A value with no shared mutable state: call it from as many threads as the pool has.
public struct ImageIngest: Sendable {
    public let config: PreprocessorConfig
    public let settings: IngestSettings

    public init(config: PreprocessorConfig, settings: IngestSettings = IngestSettings()) {
        self.config = config
        self.settings = settings
    }

    /// The steps of `ingest` that take time, for the worker's metrics.
    public enum Stage: Sendable {
        /// Fetching a URL (only URLs are fetched; base64 is decoded in place).
        case fetch
        /// Decoding the bytes and resizing, cropping and normalizing the picture.
        case preprocess
    }

    /// `cell` is an http(s) URL, a data:image/...;base64 URI or plain base64. Work still to do
    /// when `deadline` passes is not done. `timed` hears how long each stage took, failed or not.
    public func ingest(
        _ cell: String, deadline: ContinuousClock.Instant? = nil, timed: (Stage, Duration) -> Void = { _, _ in }
    ) -> Result<ImageTensor, ImageError> {
        Result { () throws(ImageError) -> ImageTensor in
            try tensor(from: try fileBytes(cell, deadline: deadline, timed: timed), deadline: deadline, timed: timed)
        }
    }

    /// The image file a cell names: base64 decoded in place, or a URL fetched.
    public func fileBytes(
        _ cell: String, deadline: ContinuousClock.Instant? = nil, timed: (Stage, Duration) -> Void = { _, _ in }
    ) throws(ImageError) -> [UInt8] {
        switch try ImageSource(parsing: cell) {
        case .bytes(let decoded): return decoded
        case .url(let url):
            let start = ContinuousClock.now
            defer { timed(.fetch, .now - start) }
            return try fetchImageBytes(url, settings: settings.fetch, deadline: deadline)
        }
    }

    /// Decode and preprocess an image file, unless `deadline` has passed.
    public func tensor(
        from bytes: [UInt8], deadline: ContinuousClock.Instant?, timed: (Stage, Duration) -> Void = { _, _ in }
    ) throws(ImageError) -> ImageTensor {
        if let deadline, ContinuousClock.now >= deadline {
            throw ImageError(.deadlineExceeded, "deadline passed before decoding")
        }
        let start = ContinuousClock.now
        defer { timed(.preprocess, .now - start) }
        return try tensor(from: bytes)
    }

    /// Decode and preprocess bytes already in hand (a local file, for the CLI).
    public func tensor(from bytes: [UInt8]) throws(ImageError) -> ImageTensor {
        preprocess(try decodeImage(bytes, limits: settings.limits), config: config)
    }
}
