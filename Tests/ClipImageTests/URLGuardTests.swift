import ClipTestSupport
import ClipSchema
import XCTest
@testable import ClipImage

/// The URL guard against every known spelling of "this host" or "the cloud's metadata service":
/// each is refused before a packet is sent, directly and behind a redirect. Where a spelling can
/// reach the loopback test server, the same URL with the guard lifted does reach it, so each
/// refusal is the guard's doing and not a URL curl failed to parse.
final class URLGuardTests: XCTestCase {
    static let png = (try? Fixtures.bytes("inputs/tiny_1x1.png")) ?? []
    var server: LoopbackServer!
    var port: UInt16 { server.port }

    /// Spellings of 127.0.0.1 (and of addresses that reach it) that curl accepts.
    static let loopbackSpellings = [
        "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "0x7F.0x0.0x0.0x1", "127.1", "127.0.1",
        "017700000001", "localhost", "LocalHost", "images.localhost", "a.b.localhost",
        "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]",
    ]
    /// Private, reserved and metadata addresses that may not answer here at all.
    static let otherForbidden = [
        "0.0.0.0", "0", "[::]", "[::1]", "[0:0:0:0:0:0:0:1]", "[0000:0000:0000:0000:0000:0000:0000:0001]", "[::127.0.0.1]",
        "[64:ff9b::7f00:1]", "[64:ff9b::127.0.0.1]", "[64:ff9b:1::7f00:1]", "[::ffff:0:7f00:1]", "[2002:7f00:1::1]",
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
        "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]", "[fe80::a9fe:a9fe]", "100.100.100.200", "192.168.0.1", "10.0.0.1", "172.16.0.1", "192.0.0.170",
        "[fc00::1]", "[fec0::1]", "224.0.0.1", "255.255.255.255", "[ff02::1]",
    ]

    override func setUpWithError() throws {
        let png = Self.png
        server = try LoopbackServer { request in
            let path = request.path
            if path == "/ok.png" { return .status(200, body: png) }
            // /to/N redirects to the N-th forbidden target, with each redirect status in turn.
            if path.hasPrefix("/to/"), let n = Int(path.dropFirst(4)), n < Self.redirectTargets.count {
                let status = [301, 302, 303, 307, 308][n % 5]
                let port = request.headers["host"]?.split(separator: ":").last.map(String.init) ?? "80"
                return .status(status, headers: ["Location: " + Self.redirectTargets[n].replacingOccurrences(of: "PORT", with: port)])
            }
            if path.hasPrefix("/chain/"), let n = Int(path.dropFirst(7)) { return .status(302, headers: ["Location: /to/\(n)"]) }
            return .status(404)
        }
    }

    override func tearDown() { server.stop() }

    /// Redirect targets: the test server's own address (127.0.0.1) is allowed in these tests, so
    /// the loopback ones spell 127.0.0.2 (and ::1, which is not the same address either).
    static let redirectTargets = [
        "http://127.0.0.2:PORT/ok.png", "http://2130706434:PORT/ok.png", "http://0177.0.0.2:PORT/ok.png",
        "http://0x7f.0.0.2:PORT/ok.png", "http://127.2:PORT/ok.png", "http://[::1]:PORT/ok.png",
        "http://[::ffff:127.0.0.2]:PORT/ok.png", "http://[0:0:0:0:0:0:0:1]:PORT/ok.png", "http://[64:ff9b::7f00:2]:PORT/ok.png",
        "http://0.0.0.0:PORT/ok.png", "http://169.254.169.254/latest/meta-data/iam/", "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "http://10.0.0.1/", "https://192.168.1.1/",
        "file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/stats",
        "data:image/png;base64,iVBORw0KGgo=", "ldap://127.0.0.1/", "//127.0.0.2:PORT/ok.png",
    ]

    func settings(_ policy: AddressPolicy) -> FetchSettings {
        var s = FetchSettings()
        s.addressPolicy = policy
        s.maxAttempts = 1
        s.connectTimeout = .seconds(2)
        s.totalTimeout = .seconds(3)
        return s
    }

    func fetchError(_ url: String, _ policy: AddressPolicy = AddressPolicy()) -> ImageError? {
        do {
            _ = try fetchImageBytes(url, settings: settings(policy))
            return nil
        } catch {
            return error
        }
    }

    func testTheClassifierOnEveryEmbeddingAndRange() {
        let forbidden = [
            "127.0.0.1", "127.255.255.254", "0.0.0.0", "10.1.2.3", "100.64.0.1", "169.254.169.254", "172.31.255.255",
            "192.168.1.1", "192.0.0.170", "198.18.0.1", "224.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1",
            "::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::8.8.8.8", "2002:7f00:1::",
            "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "fd00:ec2::254", "fc00::1", "fe80::1", "fec0::1",
            "ff02::1", "2001:db8::1", "100::1",
        ]
        for text in forbidden {
            let address = IPAddress(text)
            XCTAssertNotNil(address, text)
            XCTAssertEqual(address?.isPublic, false, "\(text) must not count as public")
        }
        // The guard blocks ranges, not the Internet: these stay reachable.
        for text in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
                     "2002:808:808::1", "2a00:1450:4001:80b::200e"] {
            XCTAssertEqual(IPAddress(text)?.isPublic, true, "\(text) is public")
        }
    }

    func testEverySpellingOfLoopbackIsRefusedAndWouldOtherwiseArrive() throws {
        for host in Self.loopbackSpellings {
            let url = "http://\(host):\(port)/ok.png"
            XCTAssertEqual(fetchError(url)?.code, .urlNotAllowed, url)
            XCTAssertEqual(server.hits("/ok.png"), 0, "\(url): no request may reach the server")
        }
        // The control: the same URLs with the guard lifted reach the server.
        for host in Self.loopbackSpellings {
            let url = "http://\(host):\(port)/ok.png"
            XCTAssertNil(fetchError(url, AddressPolicy(allowPrivateNetworks: true)), "\(url) should reach the test server")
        }
        XCTAssertEqual(server.hits("/ok.png"), Self.loopbackSpellings.count)
    }

    func testPrivateReservedAndMetadataAddressesAreRefusedBeforeConnecting() {
        for host in Self.otherForbidden {
            let url = "http://\(host):\(port)/latest/meta-data/"
            let clock = ContinuousClock.now
            let error = fetchError(url)
            XCTAssertEqual(error?.code, .urlNotAllowed, "\(url): \(String(describing: error))")
            XCTAssertLessThan(ContinuousClock.now - clock, .seconds(1), "\(url): refused at once, not after a connect timeout")
        }
        XCTAssertEqual(server.hits("/latest/meta-data/"), 0)
    }

    func testRedirectsToAnyOfThemAreRefused() {
        let policy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        XCTAssertNil(fetchError(server.url("/ok.png"), policy), "the allowed test server itself is reachable")
        for (n, target) in Self.redirectTargets.enumerated() {
            for path in ["/to/\(n)", "/chain/\(n)"] {
                let error = fetchError(server.url(path), policy)
                XCTAssertEqual(error?.code, .urlNotAllowed, "\(path) -> \(target): \(String(describing: error))")
            }
        }
        XCTAssertEqual(server.hits("/ok.png"), 1, "only the direct request arrived")
    }

    /// libcurl refuses URLs over 8 MB as a bad setup call; that must not read as the worker's fault.
    func testAnOverlongURLIsRefusedAsAURLNotAsAFault() {
        let long = "http://example.com/" + String(repeating: "a", count: 9_000_000)
        XCTAssertEqual(fetchError(long)?.code, .urlNotAllowed)
        XCTAssertEqual(fetchError("http://example.com/" + String(repeating: "a", count: 70_000))?.code, .urlNotAllowed)
    }
}
