import XCTest
@testable import ClipImage

/// clipq's bicubic resize follows Pillow 12 and earlier (horizontal pass, then vertical), as the
/// hosted endpoint does. Pillow 13 runs the vertical pass first when the height shrinks much more
/// than the width, and rounds differently for shapes like this 343x999 one: the reference here
/// (made by Tests/Fixtures/images/pillow12/make_fixture.py under Pillow 12.3) differs from
/// Pillow 13's in a quarter of its values. Every value must match, not only most.
final class PillowVersionTests: XCTestCase {
    func testA343x999ImageMatchesPillow12Exactly() throws {
        let ingest = ImageIngest(config: try Fixtures.config())
        let table = try Fixtures.normalizationTable()
        let tensor = try ingest.tensor(from: Fixtures.bytes("pillow12/input_343x999.png"))
        let reference = try decodeImage(Fixtures.bytes("pillow12/expected_343x999.png"))
        XCTAssertEqual([tensor.height, tensor.width, reference.width, reference.height], [336, 336, 336, 336])
        let plane = 336 * 336
        guard tensor.values.count == 3 * plane, reference.pixels.count == plane * 3 else {
            return XCTFail("unexpected sizes: \(tensor.values.count) values, \(reference.pixels.count) reference bytes")
        }
        var differing = 0
        var firstDifference: String?
        for c in 0..<3 {
            for i in 0..<plane {
                let want = table[c][Int(reference.pixels[3 * i + c])]
                let got = tensor.values[c * plane + i]
                if got != want {
                    differing += 1
                    if firstDifference == nil { firstDifference = "channel \(c) row \(i / 336) column \(i % 336): \(got) != \(want)" }
                }
            }
        }
        XCTAssertEqual(differing, 0, "\(differing) of \(3 * plane) values differ from Pillow 12; first at \(firstDifference ?? "-")")
    }
}
