import ClipSchema
import XCTest
@testable import ClipImage

/// Bad and hostile bytes: each gets its code, none crashes, none allocates past the cap.
final class DecodeTests: XCTestCase {
    func code(_ bytes: [UInt8], limits: DecodeLimits = DecodeLimits()) -> ErrorCode? {
        do {
            _ = try decodeImage(bytes, limits: limits)
            return nil
        } catch {
            return error.code
        }
    }

    func testOtherFormatsAreUnsupported() {
        XCTAssertEqual(code(Array("GIF89a\u{1}\0\u{1}\0".utf8)), .unsupportedImageFormat)
        XCTAssertEqual(code(Array("BM....".utf8)), .unsupportedImageFormat)
        XCTAssertEqual(code([0x49, 0x49, 0x2A, 0, 8, 0, 0, 0]), .unsupportedImageFormat)
        XCTAssertEqual(code(Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8)), .unsupportedImageFormat)
        XCTAssertEqual(code(Array("RIFF\0\0\0\0WAVEfmt ".utf8)), .unsupportedImageFormat)
        XCTAssertEqual(code([]), .imageDecodeFailed)
    }

    func testTruncatedFilesFailToDecode() throws {
        for name in ["astronaut.jpg", "chelsea_progressive.jpg", "coffee.png", "rgba16_interlaced.png", "astronaut_lossy.webp", "rocket_lossless.webp"] {
            let bytes = try Fixtures.bytes("inputs/\(name)")
            for cut in [bytes.count / 2, bytes.count - 30] {
                XCTAssertEqual(code(Array(bytes[..<cut])), .imageDecodeFailed, "\(name) cut at \(cut)")
            }
            XCTAssertEqual(code(Array(bytes[..<16])), .imageDecodeFailed, "\(name) header only")
        }
    }

    func testCorruptPayloadAfterValidMagicFails() throws {
        var png = try Fixtures.bytes("inputs/coffee.png")
        for i in stride(from: 100, to: png.count - 100, by: 97) { png[i] ^= 0x5A }
        XCTAssertEqual(code(png), .imageDecodeFailed)
        XCTAssertEqual(code([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x11, count: 500)), .imageDecodeFailed)
        XCTAssertEqual(code(Array("RIFF".utf8) + [200, 0, 0, 0] + Array("WEBPVP8 ".utf8) + [UInt8](repeating: 7, count: 200)), .imageDecodeFailed)
    }

    /// Seeded byte flips and cuts of real files in each format: an error value or an image,
    /// never a crash (the decoders' errors are return values, not longjmps).
    func testMutatedFilesNeverCrash() throws {
        var rng = PreprocessTests.SplitMix(state: 7)
        for name in ["tiny_2x3.jpg", "chelsea_ycck.jpg", "palette4_interlaced.png", "rgba16_interlaced.png", "chelsea_alpha.webp"] {
            let original = try Fixtures.bytes("inputs/\(name)")
            for _ in 0..<60 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if Bool.random(using: &rng) { bytes = Array(bytes[..<Int.random(in: 1...bytes.count, using: &rng)]) }
                if let image = try? decodeImage(bytes, limits: DecodeLimits(maxPixels: 4_000_000)) {
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3, name)
                }
            }
        }
    }

    func testPixelCapIsCheckedOnTheHeader() throws {
        let small = DecodeLimits(maxPixels: 100_000)
        XCTAssertEqual(code(try Fixtures.bytes("inputs/coffee_12mp.jpg"), limits: small), .imageTooLarge)
        XCTAssertEqual(code(try Fixtures.bytes("inputs/coffee.png"), limits: small), .imageTooLarge)
        XCTAssertEqual(code(try Fixtures.bytes("inputs/astronaut_lossy.webp"), limits: small), .imageTooLarge)
        // A header claiming 100000 x 100000 with almost no data: refused before any allocation.
        XCTAssertEqual(code(pngHeader(width: 100_000, height: 100_000)), .imageTooLarge)
        XCTAssertEqual(code(jpegHeader(width: 65000, height: 65000)), .imageTooLarge)
    }

    func testZeroDimensionsFail() {
        XCTAssertEqual(code(pngHeader(width: 0, height: 10)), .imageDecodeFailed)
        XCTAssertEqual(code(jpegHeader(width: 0, height: 10)), .imageDecodeFailed)
    }

    /// Signature and IHDR (8-bit RGB) with a correct CRC, then an empty IDAT and IEND.
    func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return be(UInt32(body.count)) + typed + be(crc32(typed))
        }
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
    }

    /// SOI, a baseline SOF0 for a 3-component image and the start of a scan, then EOI: the
    /// header parses, there is nothing to decode.
    func jpegHeader(width: UInt16, height: UInt16) -> [UInt8] {
        [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF),
         0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
         0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00, 0xFF, 0xD9]
    }
}

func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
