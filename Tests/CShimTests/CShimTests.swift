// Each shim calls into its real library, so a missing Debian package fails here, loudly.
import CBLAS
import CCurl
import CJPEG
import CPNG
import CRabbitMQ
import CWebP
import CDNNL
import XCTest

final class CShimTests: XCTestCase {
    func testOpenBLASMultipliesMatrices() {
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
        XCTAssertNotNil(openblas_get_corename())
    }

    func testLibJPEGCreatesADecompressor() {
        var info = jpeg_decompress_struct()
        var err = jpeg_error_mgr()
        info.err = jpeg_std_error(&err)
        jpeg_CreateDecompress(&info, JPEG_LIB_VERSION, MemoryLayout<jpeg_decompress_struct>.size)
        XCTAssertEqual(info.global_state, 200)  // DSTATE_START: the library accepted the struct size.
        jpeg_destroy_decompress(&info)
    }

    func testLibPNGRecognisesItsSignature() {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        XCTAssertEqual(png_sig_cmp(signature, 0, 8), 0)
        XCTAssertNotEqual(png_sig_cmp([0xFF, 0xD8, 0xFF, 0, 0, 0, 0, 0], 0, 8), 0)
        XCTAssertEqual(String(cString: png_get_libpng_ver(nil)).prefix(4), "1.6.")
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
