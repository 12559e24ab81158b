import ClipTestSupport
import ClipSchema
import Foundation
import XCTest
@testable import ClipImage

/// Fetching over a real loopback socket: each failure mode gets its contract code.
final class FetchTests: XCTestCase {
    static let jpeg = (try? Fixtures.bytes("inputs/astronaut.jpg")) ?? []
    var server: LoopbackServer!

    override func setUpWithError() throws {
        let jpeg = Self.jpeg
        server = try LoopbackServer { path, n in
            switch path {
            case "/astronaut.jpg": return .status(200, headers: ["Content-Type: text/plain"], body: jpeg)
            case "/404": return .status(404)
            case "/500": return .status(500)
            case "/flaky": return n == 1 ? .status(503) : .status(200, body: jpeg)
            case "/loop": return .status(302, headers: ["Location: /loop"])
            case "/hop": return .status(301, headers: ["Location: /astronaut.jpg"])
            case "/to-private": return .status(302, headers: ["Location: http://127.0.0.2:1/secret"])
            case "/to-metadata": return .status(302, headers: ["Location: http://169.254.169.254/latest/meta-data/"])
            case "/to-file": return .status(302, headers: ["Location: file:///etc/passwd"])
            case "/to-ftp": return .status(302, headers: ["Location: ftp://127.0.0.1/x.jpg"])
            case "/slow": return .trickle(total: 4000, chunk: 100, every: 0.1)
            case "/huge": return .status(200, headers: [], body: [UInt8](repeating: 0, count: 3_000_000))
            case "/endless": return .endless
            default: return .status(404)
            }
        }
    }

    override func tearDown() { server.stop() }

    /// The test server is on loopback: let exactly 127.0.0.1 through, nothing else private.
    func settings(_ change: (inout FetchSettings) -> Void = { _ in }) -> FetchSettings {
        var s = FetchSettings()
        s.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        s.backoff = .milliseconds(10)
        s.totalTimeout = .seconds(5)
        change(&s)
        return s
    }

    func code(_ path: String, _ s: FetchSettings? = nil, deadline: ContinuousClock.Instant? = nil) -> ErrorCode? {
        do {
            _ = try fetchImageBytes(server.url(path), settings: s ?? settings(), deadline: deadline)
            return nil
        } catch {
            return error.code
        }
    }

    func testFetchesTheBytesWhateverTheContentType() throws {
        XCTAssertEqual(try fetchImageBytes(server.url("/astronaut.jpg"), settings: settings()), Self.jpeg)
        XCTAssertEqual(try fetchImageBytes(server.url("/hop"), settings: settings()), Self.jpeg)
    }

    func testHTTPErrors() {
        XCTAssertEqual(code("/404"), .imageFetchFailed)
        XCTAssertEqual(server.hits("/404"), 1, "4xx is not retried")
        XCTAssertEqual(code("/500"), .imageFetchFailed)
        XCTAssertEqual(server.hits("/500"), 3, "5xx is retried up to maxAttempts")
    }

    func testTransientFailureIsRetried() throws {
        XCTAssertEqual(try fetchImageBytes(server.url("/flaky"), settings: settings()), Self.jpeg)
        XCTAssertEqual(server.hits("/flaky"), 2)
    }

    func testRedirectLoopStopsAtTheLimit() {
        XCTAssertEqual(code("/loop"), .imageFetchFailed)
        XCTAssertEqual(server.hits("/loop"), 6, "the first request and 5 redirects")
    }

    func testRedirectsToPrivateAddressesOrOtherSchemesAreRefused() {
        XCTAssertEqual(code("/to-private"), .urlNotAllowed)
        XCTAssertEqual(code("/to-metadata"), .urlNotAllowed)
        XCTAssertEqual(code("/to-file"), .urlNotAllowed)
        XCTAssertEqual(code("/to-ftp"), .urlNotAllowed)
    }

    func testLoopbackIsRefusedByDefaultBeforeAnyPacketIsSent() {
        XCTAssertEqual(code("/astronaut.jpg", settings { $0.addressPolicy = AddressPolicy() }), .urlNotAllowed)
        XCTAssertEqual(server.hits("/astronaut.jpg"), 0)
        XCTAssertNoThrow(try fetchImageBytes(server.url("/astronaut.jpg"),
                                             settings: settings { $0.addressPolicy = AddressPolicy(allowPrivateNetworks: true) }))
    }

    /// A public-looking name whose DNS answer is private (rebinding) is caught on the address.
    func testNameResolvingToAPrivateAddressIsRefused() throws {
        let url = "http://images.example.com:\(server.port)/astronaut.jpg"
        let pinned = settings { $0.pinnedHosts = ["images.example.com:\(server.port):127.0.0.1"] }
        var refused = pinned
        refused.addressPolicy = AddressPolicy()
        XCTAssertThrowsError(try fetchImageBytes(url, settings: refused)) { XCTAssertEqual(($0 as? ImageError)?.code, .urlNotAllowed) }
        XCTAssertEqual(server.hits("/astronaut.jpg"), 0)
        XCTAssertEqual(try fetchImageBytes(url, settings: pinned), Self.jpeg)
    }

    func testSlowBodyTimesOutAndDeadlineWins() {
        XCTAssertEqual(code("/slow", settings { $0.totalTimeout = .milliseconds(300); $0.maxAttempts = 2 }), .imageFetchFailed)
        XCTAssertEqual(server.hits("/slow"), 2, "a timeout is transient")
        XCTAssertEqual(code("/slow", deadline: .now + .milliseconds(300)), .deadlineExceeded)
        XCTAssertEqual(code("/astronaut.jpg", deadline: .now - .seconds(1)), .deadlineExceeded)
    }

    func testOversizedBodiesAreCutOff() {
        // Content-Length announces too much: refused before the body is read.
        XCTAssertEqual(code("/huge", settings { $0.maxBytes = 1_000_000 }), .imageTooLarge)
        // No length: stopped while streaming, with at most the cap in memory.
        XCTAssertEqual(code("/endless", settings { $0.maxBytes = 1_000_000 }), .imageTooLarge)
        XCTAssertEqual(server.hits("/endless"), 1, "too large is final")
    }

    func testUnreachableAndUnresolvable() {
        let s = settings { $0.maxAttempts = 1; $0.addressPolicy.allowedAddresses.insert("127.0.0.3") }
        XCTAssertThrowsError(try fetchImageBytes("http://127.0.0.3:1/x.jpg", settings: s)) {
            XCTAssertEqual(($0 as? ImageError)?.code, .imageFetchFailed)
        }
        XCTAssertThrowsError(try fetchImageBytes("http://no-such-host.invalid/x.jpg", settings: s)) {
            XCTAssertEqual(($0 as? ImageError)?.code, .imageFetchFailed)
        }
    }

    func testIngestFromURLsOnSeveralThreadsAtOnce() throws {
        var s = IngestSettings()
        s.fetch = settings()
        let ingest = ImageIngest(config: try Fixtures.config(), settings: s)
        let expected = try ingest.tensor(from: Self.jpeg)
        let url = server.url("/astronaut.jpg")
        let results = LockedArray<Result<ImageTensor, ImageError>>()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in results.append(ingest.ingest(url)) }
        XCTAssertEqual(results.values.count, 8)
        for result in results.values { XCTAssertEqual(try result.get(), expected) }
    }
}

final class LockedArray<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T] = []
    func append(_ value: T) { lock.withLock { storage.append(value) } }
    var values: [T] { lock.withLock { storage } }
}
