import ClipSchema
import ClipTestSupport
import Foundation

/// Paths into Tests/Fixtures, found from this file so tests run from any directory.
enum Fixtures {
    static let root = TestFixtures.root
    static let repositoryRoot = TestFixtures.repository

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    static func json(_ url: URL) throws -> JSONValue { try JSONParser().parse(try bytes(url)) }

    /// The JSON files of a folder, sorted by name.
    static func files(in folder: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: url(folder), includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
