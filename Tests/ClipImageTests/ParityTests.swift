import XCTest
@testable import ClipImage

/// Every fixture image against CLIPImageProcessorPil's output for it (made by make_fixtures.py).
final class ParityTests: XCTestCase {
    func testNormalizationMatchesTransformersForEveryByte() throws {
        let expected = try Fixtures.normalizationTable()
        let table = normalizationTable(try Fixtures.config())
        for c in 0..<3 {
            XCTAssertEqual(Array(table[c * 256..<(c + 1) * 256]), expected[c], "channel \(c)")
        }
    }

    func testEveryFixtureMatchesThePillowReference() throws {
        let ingest = ImageIngest(config: try Fixtures.config())
        let table = try Fixtures.normalizationTable()
        let names = try Fixtures.inputNames()
        XCTAssertGreaterThanOrEqual(names.count, 30)
        for name in names {
            let tensor = try ingest.tensor(from: Fixtures.bytes("inputs/\(name)"))
            let stem = (name as NSString).deletingPathExtension
            let reference = try decodeImage(Fixtures.bytes("expected/\(stem).png"))
            XCTAssertEqual([tensor.height, tensor.width, reference.width, reference.height], [336, 336, 336, 336], name)
            guard tensor.values.count == 3 * 336 * 336, reference.pixels.count == 336 * 336 * 3 else { continue }
            var exact = 0, worst = 0
            for c in 0..<3 {
                let step = table[c][1] - table[c][0]
                for i in 0..<(336 * 336) {
                    let want = table[c][Int(reference.pixels[3 * i + c])]
                    let got = tensor.values[c * 336 * 336 + i]
                    if got == want { exact += 1 }
                    worst = max(worst, Int(((abs(got - want) / step)).rounded()))
                }
            }
            let share = Double(exact) / Double(3 * 336 * 336)
            XCTAssertLessThanOrEqual(worst, 1, "\(name): differs by \(worst) 8-bit steps somewhere")
            XCTAssertGreaterThanOrEqual(share, 0.99, "\(name): only \(share * 100)% exact")
            if share < 1 { print("parity \(name): \(share * 100)% exact, worst \(worst) step") }
        }
    }
}
