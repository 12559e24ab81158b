import XCTest
@testable import ClipImage

final class SourceTests: XCTestCase {
    func decoded(_ text: String) throws -> [UInt8] { try decodeBase64(text[...].utf8) }

    func testBase64PaddingIsOptionalAndLineBreaksAreTolerated() throws {
        XCTAssertEqual(try decoded("aGVsbG8="), Array("hello".utf8))
        XCTAssertEqual(try decoded("aGVsbG8"), Array("hello".utf8))
        XCTAssertEqual(try decoded("aGVs\r\nbG8h"), Array("hello!".utf8))
        XCTAssertEqual(try decoded("aGk="), Array("hi".utf8))
        XCTAssertEqual(try decoded("aGk"), Array("hi".utf8))
        XCTAssertEqual(try decoded("+/+/"), [0xFB, 0xFF, 0xBF])
    }

    func testBase64RejectsEverythingElse() {
        for bad in ["aGVs bG8=", "aGVsbG8=x", "a", "aGVsbG8==", "aGk=\t", "-_-_", "aGk==", "é", "aGk%3D"] {
            XCTAssertThrowsError(try decoded(bad), bad) { XCTAssertEqual(($0 as? ImageError)?.code, .invalidBase64, bad) }
        }
    }

    func testSourcesAreClassified() throws {
        XCTAssertEqual(try ImageSource(parsing: "https://example.com/a.jpg"), .url("https://example.com/a.jpg"))
        XCTAssertEqual(try ImageSource(parsing: "HTTP://example.com/a.jpg"), .url("HTTP://example.com/a.jpg"))
        XCTAssertEqual(try ImageSource(parsing: "data:image/png;base64,aGk="), .bytes(Array("hi".utf8)))
        XCTAssertEqual(try ImageSource(parsing: "DATA:Image/JPEG;BASE64,aGk"), .bytes(Array("hi".utf8)))
        XCTAssertEqual(try ImageSource(parsing: "/9j/4AAQ"), .bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]))
    }

    func testOtherSchemesAreNotAllowed() {
        for url in ["file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x", "javascript:alert(1)", "s3://bucket/key"] {
            XCTAssertThrowsError(try ImageSource(parsing: url), url) { XCTAssertEqual(($0 as? ImageError)?.code, .urlNotAllowed, url) }
        }
    }

    func testDataURIsMustBeBase64Images() {
        for uri in ["data:text/plain;base64,aGk=", "data:image/png,rawbytes", "data:image/png;base64", "data:image/png;base64,a!"] {
            XCTAssertThrowsError(try ImageSource(parsing: uri), uri) { XCTAssertEqual(($0 as? ImageError)?.code, .invalidBase64, uri) }
        }
    }
}

final class AddressPolicyTests: XCTestCase {
    func testPrivateAndReservedAddressesAreNotPublic() throws {
        let refused = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "0.0.0.0",
                       "100.64.0.1", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1",
                       "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
                       "2002:c0a8:0101::1", "2001:db8::1"]
        for text in refused {
            let address = try XCTUnwrap(IPAddress(text), text)
            XCTAssertFalse(address.isPublic, text)
            XCTAssertFalse(AddressPolicy().allows(address), text)
            XCTAssertTrue(AddressPolicy(allowPrivateNetworks: true).allows(address), text)
        }
    }

    func testPublicAddressesAreAllowed() throws {
        for text in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::1"] {
            XCTAssertTrue(try XCTUnwrap(IPAddress(text), text).isPublic, text)
        }
    }

    func testAllowListNamesSingleAddresses() throws {
        let policy = AddressPolicy(allowedAddresses: ["127.0.0.1", "::1"])
        XCTAssertTrue(policy.allows(try XCTUnwrap(IPAddress("127.0.0.1"))))
        XCTAssertTrue(policy.allows(try XCTUnwrap(IPAddress("::1"))))
        XCTAssertFalse(policy.allows(try XCTUnwrap(IPAddress("127.0.0.2"))))
    }
}
