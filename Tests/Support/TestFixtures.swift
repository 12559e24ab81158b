import Foundation

/// Where the repository and its test fixtures are, for every test target: found from this file's
/// place in the checkout, so tests run from any working directory.
public enum TestFixtures {
    /// The repository's root folder.
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Tests/Fixtures.
    public static let root = repository.appendingPathComponent("Tests/Fixtures")

    /// A file or folder under Tests/Fixtures.
    public static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }
}
