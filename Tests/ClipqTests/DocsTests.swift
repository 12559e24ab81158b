import ClipTestSupport
import Foundation
import XCTest

/// The documentation against the code: the generated pages are what the generator writes from
/// the built `clipq` now, and every relative link in the docs reaches a file of the repository.
final class DocsTests: XCTestCase {
    static let root = TestFixtures.repository

    func testGeneratedDocsMatchTheCode() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-docs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.root.appendingPathComponent("scripts/gen-docs.sh").path, CLI.executable.path, out.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: stderr, as: UTF8.self))

        for name in ["configuration.md", "contract.md"] {
            let generated = try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)
            let committed = try String(contentsOf: Self.root.appendingPathComponent("docs/\(name)"), encoding: .utf8)
            XCTAssertFalse(generated.isEmpty, name)
            if generated != committed {
                let firstDifference = zip(generated.split(separator: "\n", omittingEmptySubsequences: false),
                                          committed.split(separator: "\n", omittingEmptySubsequences: false))
                    .enumerated().first { $0.element.0 != $0.element.1 }
                let at = firstDifference.map { "line \($0.offset + 1): generated \"\($0.element.0)\", committed \"\($0.element.1)\"" }
                    ?? "one is a prefix of the other"
                XCTFail("docs/\(name) differs from the code (\(at)): run scripts/gen-docs.sh .build/debug/clipq")
            }
        }
    }

    func testEveryRelativeLinkResolves() throws {
        let docs = Self.root.appendingPathComponent("docs")
        let pages = ["README.md", "CONTRIBUTING.md"].map { Self.root.appendingPathComponent($0) }
            + (try FileManager.default.contentsOfDirectory(at: docs, includingPropertiesForKeys: nil))
                .filter { $0.pathExtension == "md" }.sorted { $0.path < $1.path }
        XCTAssertGreaterThan(pages.count, 8, "README, CONTRIBUTING and the pages of docs/")
        var checked = 0
        for page in pages {
            let text = try String(contentsOf: page, encoding: .utf8)
            for (line, target) in Self.links(in: text) {
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let path = String(target.prefix { $0 != "#" && $0 != "?" })
                let fragment = target.firstIndex(of: "#").map { String(target[target.index(after: $0)...]) }
                let resolved = path.isEmpty ? page
                    : page.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
                let at = "\(page.lastPathComponent):\(line): \(target)"
                XCTAssertTrue(resolved.path.hasPrefix(Self.root.standardizedFileURL.path + "/"), "\(at) leaves the repository")
                XCTAssertTrue(FileManager.default.fileExists(atPath: resolved.path), "\(at) does not exist")
                if let fragment, resolved.pathExtension == "md", let linked = try? String(contentsOf: resolved, encoding: .utf8) {
                    XCTAssertTrue(Self.anchors(in: linked).contains(fragment), "\(at): no heading with the anchor #\(fragment)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20, "the link parser finds the docs' links")
    }

    func testTheLinkParserSkipsCodeAndFindsEveryForm() {
        let text = """
            See [a](docs/a.md) and [b `c`](../b.md#part "title").
            `[not](inline-code.md)` and [ok](c.md)
            ```
            [not](fenced.md)
            ```
                [not](indented-code.md)
            [x](https://example.com) [y](#anchor)
            """
        XCTAssertEqual(Self.links(in: text).map(\.target),
                       ["docs/a.md", "../b.md#part", "c.md", "https://example.com", "#anchor"])
    }

    func testHeadingAnchorsAreGitHubs() {
        XCTAssertEqual(Self.anchors(in: "# A\n## Texts and images (Zen 4, 2026-11-29)\n### `clipq batch`\n```\n# not\n```\n## A\n"),
                       ["a", "texts-and-images-zen-4-2026-11-29", "clipq-batch", "a-1"])
    }

    /// The anchors GitHub gives the headings of a page: lowercased, punctuation dropped, spaces as
    /// hyphens, a repeated heading numbered from 1.
    static func anchors(in markdown: String) -> Set<String> {
        var seen: [String: Int] = [:]
        var anchors = Set<String>()
        var fenced = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") { fenced.toggle(); continue }
            guard !fenced, line.hasPrefix("#") else { continue }
            let title = line.drop { $0 == "#" }
            guard title.first == " " else { continue }
            let slug = String(title.trimmingCharacters(in: .whitespaces).lowercased().compactMap { character -> Character? in
                if character == " " { return "-" }
                return character.isLetter || character.isNumber || character == "-" || character == "_" ? character : nil
            })
            let count = seen[slug, default: 0]
            anchors.insert(count == 0 ? slug : "\(slug)-\(count)")
            seen[slug] = count + 1
        }
        return anchors
    }

    /// Markdown inline links `[text](target)` with their line numbers, outside fenced code blocks,
    /// indented code blocks and inline code spans.
    static func links(in markdown: String) -> [(line: Int, target: String)] {
        var found: [(Int, String)] = []
        var fenced = false
        for (number, rawLine) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if rawLine.trimmingCharacters(in: .whitespaces).hasPrefix("```") { fenced.toggle(); continue }
            if fenced || rawLine.hasPrefix("    ") && !rawLine.trimmingCharacters(in: .whitespaces).hasPrefix("-") { continue }
            let line = rawLine.replacing(/`[^`]*`/, with: "")
            for match in line.matches(of: /\]\(([^)\s]+)(?:\s+"[^"]*")?\)/) {
                found.append((number + 1, String(match.1)))
            }
        }
        return found
    }
}
