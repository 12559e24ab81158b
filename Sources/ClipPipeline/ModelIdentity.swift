import ClipModel
import Foundation

/// A digest of everything that decides an embedding besides the input: the model's
/// architecture, its weights, the image preprocessing, the precision and this code's
/// preprocessing. Two workers with equal identities compute the same embeddings, so they may
/// share cached ones; anything else must not.
public struct ModelIdentity: Hashable, Sendable, CustomStringConvertible {
    /// Bump when the resize/crop/normalize or tokenizer code changes what it produces for the same
    /// input: every cached embedding then misses instead of being served stale.
    public static let preprocessingVersion = 1

    /// How many evenly spaced pieces of the tensor data are hashed, and how big each is (64 KiB
    /// read in all). The safetensors header holds only names, shapes and offsets, identical for
    /// two checkpoints of one architecture (a fine-tune); a sample of the numbers tells them
    /// apart without reading a 1.7 GB file.
    static let weightSampleCount = 16
    static let weightSampleBytes = 4096

    /// SHA-256 over the parts, each length-prefixed.
    public let digest: [UInt8]
    public let precision: String

    public var description: String { "\(hexString(digest.prefix(8)))/\(precision)" }

    /// Reads config.json, preprocessor_config.json and model.safetensors' header (plus its size
    /// and a small sample of its data) from `modelDirectory`. `precision` is the name of the
    /// precision that actually runs (after any fallback), e.g. "fp32".
    public init(modelDirectory: URL, precision: String) throws(ModelError) {
        let config = try Self.read(modelDirectory.appendingPathComponent("config.json"))
        let preprocessor = try Self.read(modelDirectory.appendingPathComponent("preprocessor_config.json"))
        let weights = try Self.weightsFingerprint(modelDirectory.appendingPathComponent("model.safetensors"))
        self.init(
            configJSON: config, weightsFingerprint: weights, preprocessorConfigJSON: preprocessor, precision: precision)
    }

    /// The identity of parts already in hand. `weightsFingerprint` stands for the weights file
    /// (see `init(modelDirectory:precision:)` for what it holds there).
    public init(
        configJSON: [UInt8], weightsFingerprint: [UInt8], preprocessorConfigJSON: [UInt8], precision: String,
        preprocessingVersion: Int = ModelIdentity.preprocessingVersion
    ) {
        var hasher = SHA256()
        func part(_ bytes: [UInt8]) {
            hasher.update([bytes.count])
            hasher.update(bytes)
        }
        part(Array("clipq-model-identity".utf8))
        part(configJSON)
        part(weightsFingerprint)
        part(preprocessorConfigJSON)
        part(Array(precision.utf8))
        hasher.update([preprocessingVersion])
        digest = hasher.finalize()
        self.precision = precision
    }

    private static func read(_ url: URL) throws(ModelError) -> [UInt8] {
        do {
            return Array(try Data(contentsOf: url))
        } catch {
            throw ModelError(.missingFile, "cannot read \(url.lastPathComponent) for the cache's model identity", location: url.path)
        }
    }

    /// The 8-byte header length and the JSON header of a safetensors file, its total size, and
    /// `weightSampleCount` pieces of its data.
    static func weightsFingerprint(_ url: URL) throws(ModelError) -> [UInt8] {
        func bad(_ message: String) -> ModelError { ModelError(.invalidWeights, message, location: url.path) }
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw ModelError(.missingFile, "cannot open model.safetensors for the cache's model identity", location: url.path)
        }
        defer { try? handle.close() }
        do {
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            let lengthBytes = Array(try handle.read(upToCount: 8) ?? Data())
            guard lengthBytes.count == 8 else { throw bad("shorter than its 8-byte header length") }
            let headerLength = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard headerLength <= size - 8 else { throw bad("header length \(headerLength) exceeds the file size \(size)") }
            let header = Array(try handle.read(upToCount: Int(headerLength)) ?? Data())
            guard header.count == Int(headerLength) else { throw bad("header cut short") }

            var fingerprint = lengthBytes + header
            fingerprint += (0..<8).map { UInt8(truncatingIfNeeded: size >> (8 * UInt64($0))) }
            let dataStart = 8 + headerLength
            let dataSize = size - dataStart
            for i in 0..<UInt64(weightSampleCount) where dataSize > 0 {
                let offset = dataStart + dataSize * i / UInt64(weightSampleCount)
                try handle.seek(toOffset: offset)
                fingerprint += Array(try handle.read(upToCount: weightSampleBytes) ?? Data())
            }
            return fingerprint
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(.missingFile, "cannot read model.safetensors: \(error)", location: url.path)
        }
    }
}
