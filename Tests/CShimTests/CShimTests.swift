// Each shim calls into its real library, so a missing Debian package fails here, loudly.
import CBLAS
import CCurl
import CRabbitMQ
import CSPNG
import CTurboJPEG
import CWebP
import CDNNL
import ClipTestSupport
import Foundation
import XCTest

/// An image of Tests/Fixtures/images/inputs.
private func fixtureImage(_ name: String) throws -> [UInt8] {
    let url = TestFixtures.url("images/inputs/\(name)")
    return [UInt8](try Data(contentsOf: url))
}

final class CShimTests: XCTestCase {
    func testOpenBLASMultipliesMatrices() {
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
        XCTAssertNotNil(openblas_get_corename())
    }

    func testTurboJPEGDecodesATinyJPEG() throws {
        let jpeg = try fixtureImage("tiny_2x3.jpg")
        let decoder = try XCTUnwrap(tjInitDecompress())
        defer { tjDestroy(decoder) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = -1, colorspace: Int32 = -1
        XCTAssertEqual(tjDecompressHeader3(decoder, jpeg, UInt(jpeg.count), &width, &height, &subsampling, &colorspace), 0)
        XCTAssertEqual([width, height], [2, 3])
        XCTAssertEqual(TJCS(rawValue: UInt32(colorspace)), TJCS_YCbCr)
        // Filled with a value the decoder overwrites: every byte of the 2x3 RGB image is written.
        var rgb = [UInt8](repeating: 0xA5, count: 2 * 3 * 3)
        XCTAssertEqual(tjDecompress2(decoder, jpeg, UInt(jpeg.count), &rgb, width, 0, height, TJPF_RGB.rawValue, 0), 0)
        XCTAssertFalse(rgb.allSatisfy { $0 == 0xA5 })
        let notJPEG = Array("not a JPEG".utf8)
        XCTAssertNotEqual(tjDecompressHeader3(decoder, notJPEG, UInt(notJPEG.count), &width, &height, &subsampling, &colorspace), 0,
                          "bytes that are no JPEG are refused")
    }

    func testSPNGDecodesATinyPNG() throws {
        let png = try fixtureImage("tiny_3x2.png")
        let context = try XCTUnwrap(spng_ctx_new(0))
        defer { spng_ctx_free(context) }
        XCTAssertEqual(png.withUnsafeBytes { spng_set_png_buffer(context, $0.baseAddress, $0.count) }, 0)
        var header = spng_ihdr()
        XCTAssertEqual(spng_get_ihdr(context, &header), 0)
        XCTAssertEqual([header.width, header.height], [3, 2])
        var size = 0
        XCTAssertEqual(spng_decoded_image_size(context, Int32(SPNG_FMT_RGB8.rawValue), &size), 0)
        XCTAssertEqual(size, 3 * 2 * 3)
        var rgb = [UInt8](repeating: 0, count: size)
        XCTAssertEqual(spng_decode_image(context, &rgb, size, Int32(SPNG_FMT_RGB8.rawValue), 0), 0)
        // Red rises left to right, green top to bottom, blue stays 25 (the second row is Paeth-filtered).
        XCTAssertEqual(rgb, [0, 0, 25, 127, 0, 25, 255, 0, 25,
                             0, 255, 25, 127, 255, 25, 255, 255, 25])
    }

    func testLibWebPReadsAHeader() {
        XCTAssertGreaterThan(WebPGetDecoderVersion(), 0)
        var width: Int32 = 0, height: Int32 = 0
        XCTAssertEqual(WebPGetInfo([0, 1, 2, 3], 4, &width, &height), 0)  // not a WebP: refused
    }

    func testLibCurlInitialisesWithHTTPS() throws {
        XCTAssertEqual(curl_global_init(Int(CURL_GLOBAL_DEFAULT)), CURLE_OK)
        let info = try XCTUnwrap(curl_version_info(CCurl_VERSION_NOW))
        let protocols = sequence(state: info.pointee.protocols) { cursor -> String? in
            guard let name = cursor?.pointee else { return nil }
            cursor = cursor?.advanced(by: 1)
            return String(cString: name)
        }
        XCTAssertTrue(protocols.contains("https"))
        let handle = curl_easy_init()
        XCTAssertNotNil(handle)
        curl_easy_cleanup(handle)
    }

    func testLibRabbitMQOpensAConnectionState() {
        XCTAssertTrue(String(cString: amqp_version()).hasPrefix("0."))
        let conn = amqp_new_connection()
        XCTAssertNotNil(conn)
        XCTAssertNotNil(amqp_tcp_socket_new(conn))
        XCTAssertEqual(amqp_destroy_connection(conn), Int32(AMQP_STATUS_OK.rawValue))
    }
}

final class CDNNLTests: XCTestCase {
    func testOneDNNCreatesAnEngineAndSizesAMatrix() {
        var engine: dnnl_engine_t?
        XCTAssertEqual(dnnl_engine_create(&engine, dnnl_cpu, 0), dnnl_success)
        XCTAssertEqual(dnnl_engine_destroy(engine), dnnl_success)
        var md = dnnl_memory_desc_t()
        let dims: [dnnl_dim_t] = [3, 5]
        XCTAssertEqual(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_bf16, dnnl_ab), dnnl_success)
        XCTAssertEqual(dnnl_memory_desc_get_size(&md), 3 * 5 * 2)
        XCTAssertEqual(dnnl_version().pointee.major, 2)
        XCTAssertNotEqual(dnnl_get_effective_cpu_isa(), dnnl_cpu_isa_all)
    }
}
