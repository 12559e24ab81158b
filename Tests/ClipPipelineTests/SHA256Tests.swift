import Foundation
import XCTest

@testable import ClipPipeline

final class SHA256Tests: XCTestCase {
    /// FIPS 180-4's examples (and the classic "one million a").
    func testTheStandardVectors() {
        let vectors: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ]
        for (message, digest) in vectors {
            var hasher = SHA256()
            hasher.update(Array(message.utf8))
            XCTAssertEqual(hasher.finalizeHex(), digest, message)
        }
        var hasher = SHA256()
        let thousand = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(thousand) }
        XCTAssertEqual(hasher.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Random messages of every length around the block and padding boundaries, and a larger
    /// one, fed in random pieces, against Python's hashlib.
    func testRandomMessagesInRandomPiecesMatchPythonHashlib() throws {
        var generator = SplitMix64(seed: 0x5eed)
        let lengths = Array(0...130) + [183, 4095, 4096, 100_003]
        let messages = lengths.map { n in (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-sha256-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for (i, message) in messages.enumerated() {
            let path = directory.appendingPathComponent("\(i)").path
            try Data(message).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let expected = try python(
            "import hashlib, sys\nfor p in sys.argv[1:]: print(hashlib.sha256(open(p, 'rb').read()).hexdigest())", paths)
        XCTAssertEqual(expected.count, messages.count)

        for (message, digest) in zip(messages, expected) {
            XCTAssertEqual(SHA256.hash(message).count, 32)
            XCTAssertEqual(hexString(SHA256.hash(message)), digest, "\(message.count) bytes in one piece")
            var hasher = SHA256()
            var rest = message[...]
            while !rest.isEmpty {
                let piece = Int.random(in: 1...97, using: &generator)
                hasher.update(rest.prefix(piece))  // an ArraySlice: contiguous, not an Array
                rest = rest.dropFirst(piece)
            }
            XCTAssertEqual(hasher.finalizeHex(), digest, "\(message.count) bytes in pieces")
            var fromSequence = SHA256()
            fromSequence.update(AnyCollection(message))  // no contiguous storage: the copying path
            XCTAssertEqual(fromSequence.finalizeHex(), digest)
        }
    }

    func testFloatsAndIntegersAreHashedAsLittleEndianBytes() throws {
        let ints = [1, -2, 49406, Int(Int32.max) + 1]
        let floats: [Float] = [1.5, -0.0, .infinity, 3.1415927]
        let expected = try python(
            """
            import hashlib, struct
            print(hashlib.sha256(struct.pack('<4q', 1, -2, 49406, 2**31)).hexdigest())
            print(hashlib.sha256(struct.pack('<4f', 1.5, -0.0, float('inf'), 3.1415927)).hexdigest())
            """, [])
        var intHasher = SHA256()
        intHasher.update(ints)
        var floatHasher = SHA256()
        floatHasher.update(floats)
        XCTAssertEqual([intHasher.finalizeHex(), floatHasher.finalizeHex()], expected)
    }

    func testFinalizeLeavesTheHasherUsable() {
        var hasher = SHA256()
        hasher.update(Array("ab".utf8))
        _ = hasher.finalize()
        hasher.update(Array("c".utf8))
        XCTAssertEqual(hasher.finalizeHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Runs a Python program and returns its output lines.
    private func python(_ program: String, _ arguments: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", program] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// A small seeded generator, so a failing random input can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
