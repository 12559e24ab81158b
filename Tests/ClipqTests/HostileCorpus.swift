import ClipAMQP
import ClipSchema
import ClipTestSupport
import Foundation

/// Hostile requests, made by code: each with the error code a worker must answer. The worker
/// under test runs with the limits in `HostileCorpus.workerArguments` and may reach the
/// loopback server (on 127.0.0.7, its only allowed address) but no other private address.
struct HostileCase {
    var id: String
    var body: [UInt8]
    var code: ErrorCode
    var headers: [String: AMQPFieldValue]? = nil
    /// nil: the collector's queue; "": no reply_to at all.
    var replyTo: String? = nil
}

enum HostileCorpus {
    static let maxBodyBytes = 3_000_000
    static let maxRows = 8
    static let maxPixels = 200_000
    static let fetchMaxBytes = 1_000_000

    static let serverHost = "127.0.0.7"

    static let workerArguments = [
        "--max-rows", "\(maxRows)", "--max-body-bytes", "\(maxBodyBytes)", "--max-image-pixels", "\(maxPixels)",
        "--allow-address", serverHost, "--fetch-timeout-ms", "800", "--fetch-attempts", "2", "--fetch-max-bytes", "\(fetchMaxBytes)",
        "--ingest-threads", "16", "--prefetch", "300",
    ]

    /// The loopback server's routes the URL cases use.
    static func route(_ request: LoopbackServer.Request) -> LoopbackServer.Reply {
        let path = request.path
        switch path {
        case "/404": return .status(404)
        case "/410": return .status(410)
        case "/403": return .status(403)
        case "/500": return .status(500)
        case "/503": return .status(503, headers: ["Retry-After: 1"])
        case "/loop": return .status(302, headers: ["Location: /loop"])
        case "/ping": return .status(301, headers: ["Location: /pong"])
        case "/pong": return .status(301, headers: ["Location: /ping"])
        case "/slow": return .trickle(total: 100_000, chunk: 100, every: 0.2)
        case "/stall": return .trickle(total: 1000, chunk: 1, every: 5)
        case "/endless": return .endless
        case "/huge": return .status(200, body: [UInt8](repeating: 0xFF, count: fetchMaxBytes + 1))
        case "/cut": return .cut(200, body: Array(image("astronaut.jpg").prefix(500)), declaredLength: 53962)
        case "/text": return .status(200, headers: ["Content-Type: image/jpeg"], body: Array("<html>not an image</html>".utf8))
        case "/empty": return .status(200, body: [])
        case "/ok.jpg": return .status(200, body: image("tiny_2x3.jpg"))
        default:
            if path.hasPrefix("/to/"), let n = Int(path.dropFirst(4)), n < redirectTargets.count {
                let port = request.headers["host"]?.split(separator: ":").last.map(String.init) ?? "80"
                return .status([301, 302, 303, 307, 308][n % 5],
                               headers: ["Location: " + redirectTargets[n].replacingOccurrences(of: "PORT", with: port)])
            }
            return .status(404)
        }
    }

    /// Where the /to/N routes send a fetch (PORT: the server's): private, metadata or not http(s).
    static let redirectTargets = [
        "http://127.0.0.1:PORT/x.jpg", "http://2130706433:PORT/x.jpg", "http://0177.0.0.1:PORT/x.jpg", "http://0x7f.0.0.1:PORT/x.jpg",
        "http://127.1:PORT/x.jpg", "http://localhost:PORT/x.jpg", "http://a.localhost:PORT/x.jpg", "http://[::1]:PORT/x.jpg",
        "http://[::ffff:127.0.0.1]:PORT/x.jpg", "http://[0:0:0:0:0:0:0:1]:PORT/x.jpg", "http://[64:ff9b::7f00:1]:PORT/x.jpg",
        "http://127.0.0.8:PORT/x.jpg", "http://0.0.0.0:PORT/x.jpg", "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/", "http://[::ffff:a9fe:a9fe]/latest/", "http://10.0.0.1/x.jpg",
        "https://192.168.1.1/x.jpg", "http://100.100.100.200/latest/meta-data/", "file:///etc/passwd", "ftp://127.0.0.1/x.jpg",
        "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/stats", "data:image/png;base64,iVBORw0KGgo=",
        "//127.0.0.1:PORT/x.jpg",
    ]

    /// Direct URLs on hosts the worker may not reach: loopback however spelled, metadata, private.
    static let forbiddenHosts = [
        "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "127.0.1", "017700000001", "localhost",
        "images.localhost", "[::1]", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]", "[::ffff:7f00:1]", "[::127.0.0.1]",
        "[64:ff9b::7f00:1]", "[64:ff9b:1::7f00:1]", "[::ffff:0:7f00:1]", "[2002:7f00:1::1]", "0.0.0.0", "0", "[::]",
        "169.254.169.254", "2852039166", "0251.0376.0251.0376", "[fd00:ec2::254]", "[fe80::a9fe:a9fe]", "100.100.100.200",
        "192.168.0.1", "10.0.0.1", "172.16.0.1", "[fc00::1]", "224.0.0.1", "255.255.255.255",
    ]

    static func image(_ name: String) -> [UInt8] {
        (try? Array(Data(contentsOf: CLI.fixtures.appendingPathComponent("images/inputs/\(name)")))) ?? []
    }

    static func imageRequest(_ bytes: [UInt8]) -> [UInt8] { requestBody([(Data(bytes).base64EncodedString(), "")]) }
    static func urlRequest(_ url: String) -> [UInt8] { requestBody([(url, "")]) }

    static func cases(serverPort port: UInt16) -> [HostileCase] {
        var all: [HostileCase] = []
        func add(_ prefix: String, _ code: ErrorCode, _ bodies: [[UInt8]]) {
            for (i, body) in bodies.enumerated() { all.append(HostileCase(id: "\(prefix).\(i)", body: body, code: code)) }
        }
        func json(_ texts: String...) -> [[UInt8]] { texts.map { Array($0.utf8) } }
        let good = requestBody([("", "a photo of a cat")])
        let server = "http://\(serverHost):\(port)"

        // invalid_json: empty, not UTF-8, not JSON, cut short, duplicate keys, nested too deep.
        add("json.empty", .invalidJSON, [[], Array("   \n\t ".utf8)])
        add("json.utf8", .invalidJSON, [
            [0xFF, 0xFE, 0x7B, 0x7D], [0xC3, 0x28], [0xC0, 0xAF], Array("{\"a\":\"caf".utf8) + [0xE9] + Array("\"}".utf8),
            Array("[\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"]".utf8), Array("[\"".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array("\"]".utf8),
            Array("[\"".utf8) + [0xE2, 0x82] + Array("\"]".utf8), [0xEF, 0xBB, 0xBF] + good, Array(good.dropLast()) + [0x80],
            Array(String(decoding: good, as: UTF8.self).utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }),
        ])
        add("json.syntax", .invalidJSON, json(
            "{", "}", "[", "nul", "tru", "{\"input_data\": }", "{'input_data': 1}", "{input_data: 1}", "{\"a\": NaN}",
            "{\"a\": Infinity}", "{\"a\": -Infinity}", "{\"a\": 01}", "{\"a\": 1.}", "{\"a\": .5}", "{\"a\": +1}", "{\"a\": 0x10}",
            "{\"a\": 1e}", "{\"a\": \"\\x41\"}", "{\"a\": \"\\u12\"}", "{\"a\": \"tab\tinside\"}", "{\"a\": \"new\nline\"}",
            "{\"a\": 1,}", "[1,]", "[,1]", "{,}", "{\"a\" 1}", "{\"a\":: 1}", "{} {}", "{}x", "// c\n{}", "/* c */ {}",
            "\"unterminated", "{\"a\": [1, 2}", "{\"a\": {\"b\": 1]}", "\u{0}", "[\"\\ud800\"]", "[\"\\udc00\\ud800\"]"))
        let text = String(decoding: good, as: UTF8.self)
        add("json.cut", .invalidJSON, stride(from: 1, to: good.count, by: max(1, good.count / 16)).map { Array(good.prefix($0)) })
        add("json.duplicate", .invalidJSON, json(
            "{\"input_data\": {}, \"input_data\": {}}",
            text.replacingOccurrences(of: "\"columns\"", with: "\"columns\": [\"image\", \"text\"], \"columns\""),
            text.replacingOccurrences(of: "\"index\"", with: "\"data\": [], \"index\""),
            "{\"a\": {\"b\": 1, \"b\": 2}}", "[{\"x\": 1, \"y\": 2, \"x\": 1}]", "{\"\\u0061\": 1, \"a\": 2}"))
        add("json.deep", .invalidJSON, [
            Array(repeating: UInt8(ascii: "["), count: 300_000), Array((String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)).utf8),
            Array(String(repeating: "{\"a\":", count: 150_000).utf8) + Array("1".utf8) + Array(repeating: UInt8(ascii: "}"), count: 150_000),
            Array(String(repeating: "[{\"a\":", count: 100_000).utf8), Array(String(repeating: "[", count: 65).utf8) + Array(String(repeating: "]", count: 65).utf8),
            Array("{\"input_data\": {\"columns\": ".utf8) + Array(repeating: UInt8(ascii: "["), count: 100_000),
        ])

        // schema_violation: JSON, but not a request.
        add("schema", .schemaViolation, json(
            "{}", "[]", "null", "1", "\"input_data\"", "true", "{\"input_data\": null}", "{\"input_data\": []}",
            "{\"input_data\": {}}", "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0]}}",
            "{\"input_data\": {\"columns\": [\"text\", \"image\"], \"index\": [0], \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\"], \"index\": [0], \"data\": [[\"\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\", \"x\"], \"index\": [0], \"data\": [[\"\", \"a\", \"\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[\"\", \"\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[\"\", \"a\", \"b\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[\"\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[1, \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[null, \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [[\"\", {\"t\": \"a\"}]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": [\"a\"]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": \"a\"}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": []}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0, 1], \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [], \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [[0]], \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": 0, \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"data\": [[\"\", \"a\"]]}}",
            "{\"input_data\": {\"index\": [0], \"data\": [[\"\", \"a\"]]}}"))
        // A huge index beside one row: far under the body limit, refused by the index rule.
        all.append(HostileCase(id: "schema.index", body: Array((
            "{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [" + Array(repeating: "0", count: 500_000).joined(separator: ",")
            + "], \"data\": [[\"\", \"a\"]]}}").utf8), code: .schemaViolation))

        // too_many_rows: over the limit, however cheap or huge each row.
        add("rows", .tooManyRows, [
            requestBody((0...maxRows).map { ("", "row \($0)") }), requestBody(Array(repeating: ("", "x"), count: 1000)),
            Array(("{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [0], \"data\": ["
                   + Array(repeating: "1", count: 1_000_000).joined(separator: ",") + "]}}").utf8),
            requestBody(Array(repeating: ("", ""), count: 100)),
        ])

        // message_too_large: a huge string, huge base64, huge whitespace; refused before parsing.
        add("large", .messageTooLarge, [
            requestBody([("", String(repeating: "x", count: maxBodyBytes))]),
            requestBody([(String(repeating: "QUJD", count: maxBodyBytes / 4 + 1), "")]),
            [UInt8](repeating: 0x20, count: maxBodyBytes + 1), [UInt8](repeating: 0xFF, count: maxBodyBytes + 1),
            Array(repeating: UInt8(ascii: "["), count: maxBodyBytes + 1),
        ])

        // missing_reply_to: nowhere to answer; only the dead letter says why.
        for i in 0..<3 { all.append(HostileCase(id: "noreply.\(i)", body: good, code: .missingReplyTo, replyTo: "")) }

        // deadline_exceeded: the x-deadline passed before (or while) the work was done.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (i, deadline) in [now - 1, now - 60_000, 1, 0].enumerated() {
            all.append(HostileCase(id: "late.\(i)", body: good, code: .deadlineExceeded, headers: ["x-deadline": .int(deadline)]))
        }
        // Shorter than one fetch attempt: the deadline, not the fetch timeout, ends it.
        all.append(HostileCase(id: "late.slow", body: urlRequest(server + "/stall"), code: .deadlineExceeded,
                               headers: ["x-deadline": .int(now + 500)]))

        // invalid_base64: neither a URL nor base64, or a data URI that is not an image's.
        add("base64", .invalidBase64, [
            "not base64!", "QUJD*", "QUJD RA==", "QUJDRA==QQ==", "Q", "QUJDR", "-_-_", "QUJD\tRA==", "====", "QUJDRA===",
            "data:text/plain;base64,aGVsbG8=", "data:image/png,iVBORw0KGgo=", "data:image/png;base64", "data:;base64,aGVsbG8=",
            "data:application/octet-stream;base64,iVBORw0KGgo=", "data:image/png;base64,***", "ＱＵＪＤ",
            String(repeating: "!", count: 500_000), String(repeating: "QUJD", count: 200_000) + "Q",
        ].map { requestBody([($0, "")]) })

        // url_not_allowed: other schemes, loopback and metadata however spelled, redirects to
        // them, and a URL too long to be one.
        add("scheme", .urlNotAllowed, [
            "file:///etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/shadow", "ftp://example.com/a.jpg",
            "ftps://example.com/a.jpg", "gopher://127.0.0.1:6379/_SET%20a%201", "dict://127.0.0.1:11211/stats",
            "ldap://127.0.0.1/", "sftp://example.com/a.jpg", "scp://example.com/a.jpg", "tftp://127.0.0.1/a.jpg",
            "telnet://127.0.0.1:23", "smb://server/share/a.jpg", "ws://example.com/a.jpg", "jar:file:///a.jar!/a.jpg",
            "javascript:alert(1)", "mailto:a@example.com", "netdoc:///etc/passwd", "view-source:http://example.com",
            "http://exa mple.com/a.jpg",
        ].map(urlRequest))
        add("host", .urlNotAllowed, forbiddenHosts.map { urlRequest("http://\($0)/x.jpg") })
        add("redirect", .urlNotAllowed, redirectTargets.indices.map { urlRequest(server + "/to/\($0)") })
        add("longurl", .urlNotAllowed, [urlRequest("http://example.com/" + String(repeating: "a", count: 70_000))])

        // image_fetch_failed: HTTP errors, redirect loops, a slow or cut body, nothing listening.
        let failing = ["/404", "/410", "/403", "/500", "/503", "/loop", "/ping", "/slow", "/cut", "/missing.jpg"].map { server + $0 }
        add("fetch", .imageFetchFailed, (failing + ["http://\(serverHost):1/x.jpg", "http://no-such-host.invalid/x.jpg"]).map(urlRequest))

        // unsupported_image_format: bytes that are not JPEG, PNG or WebP.
        let notImages: [[UInt8]] = [
            Array("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8), Array("BM".utf8) + [UInt8](repeating: 0, count: 60), [0x49, 0x49, 0x2A, 0, 8, 0, 0, 0],
            [0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8], Array("%PDF-1.7\n".utf8), Array("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8),
            Array("hello".utf8), [0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20], Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8),
            [0x00, 0x00, 0x01, 0x00], [0xFF, 0xD8], [0x89, 0x50, 0x4E, 0x47], (0..<64).map { UInt8(($0 * 37) & 0xFF) },
        ]
        add("format", .unsupportedImageFormat, notImages.map(imageRequest) + [urlRequest(server + "/text")])
        // The same through a data URI.
        all.append(HostileCase(id: "format.datauri", body: requestBody([("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "")]),
                               code: .unsupportedImageFormat))

        // image_decode_failed: empty, truncated and zero-sized images of every format.
        let originals = ["rocket_420.jpg", "chelsea_progressive.jpg", "tiny_2x3.jpg", "tiny_3x2.png", "palette4_interlaced.png",
                         "rgba16_interlaced.png", "chelsea_alpha.webp", "rocket_lossless.webp", "astronaut_lossy.webp"]
        var truncated: [[UInt8]] = []
        for name in originals {
            let bytes = image(name)
            for fraction in [0.1, 0.3, 0.5, 0.7] { truncated.append(Array(bytes.prefix(Int(Double(bytes.count) * fraction)))) }
        }
        add("cut", .imageDecodeFailed, truncated.map(imageRequest) + [urlRequest(server + "/empty"), urlRequest("data:image/png;base64,")])
        add("zero", .imageDecodeFailed, [
            jpegWithSize(image("tiny_2x3.jpg"), width: 0, height: 0), jpegWithSize(image("tiny_2x3.jpg"), width: 5, height: 0),
            pngWithSize(image("tiny_3x2.png"), width: 0, height: 0), pngWithSize(image("tiny_3x2.png"), width: 0, height: 3),
            corruptCRC(image("tiny_3x2.png")),
        ].map(imageRequest))

        // image_too_large: headers that promise huge images, real images over the pixel cap,
        // bodies over the fetch cap.
        add("pixels", .imageTooLarge, [
            pngWithSize(image("tiny_3x2.png"), width: 100_000, height: 100_000), pngWithSize(image("tiny_3x2.png"), width: 1, height: 2_000_000),
            jpegWithSize(image("tiny_2x3.jpg"), width: 65_500, height: 65_500), jpegWithSize(image("rocket_420.jpg"), width: 60_000, height: 60_000),
            webpLosslessWithSize(image("rocket_lossless.webp"), width: 16_384, height: 16_384), image("astronaut.jpg"), image("keepwidth_336x700.png"),
            image("coffee_12mp.jpg"),
        ].map(imageRequest) + [urlRequest(server + "/huge"), urlRequest(server + "/endless")])
        return all
    }

    // MARK: header surgery

    /// The JPEG with its frame header (SOFn) claiming `width` x `height`.
    static func jpegWithSize(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        var bytes = jpeg
        var i = 2
        while i + 9 < bytes.count, bytes[i] == 0xFF {
            let marker = bytes[i + 1], length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                bytes[i + 5] = UInt8(height >> 8); bytes[i + 6] = UInt8(height & 0xFF)
                bytes[i + 7] = UInt8(width >> 8); bytes[i + 8] = UInt8(width & 0xFF)
                return bytes
            }
            i += 2 + length
        }
        return bytes
    }

    /// The PNG with its IHDR claiming `width` x `height`, checksum fixed so only the size is wrong.
    static func pngWithSize(_ png: [UInt8], width: Int, height: Int) -> [UInt8] {
        var bytes = png
        for (offset, value) in [(16, width), (20, height)] {
            for k in 0..<4 { bytes[offset + k] = UInt8((value >> (24 - 8 * k)) & 0xFF) }
        }
        let crc = crc32(bytes[12..<29])
        for k in 0..<4 { bytes[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xFF) }
        return bytes
    }

    /// The PNG with its IHDR checksum off by one.
    static func corruptCRC(_ png: [UInt8]) -> [UInt8] {
        var bytes = png
        bytes[32] ^= 0x01
        return bytes
    }

    /// A lossless WebP (simple VP8L layout) whose bitstream header claims `width` x `height`.
    static func webpLosslessWithSize(_ webp: [UInt8], width: Int, height: Int) -> [UInt8] {
        var bytes = webp
        guard bytes.count > 25, Array(bytes[12..<16]) == Array("VP8L".utf8) else { return bytes }
        let old = UInt32(bytes[21]) | UInt32(bytes[22]) << 8 | UInt32(bytes[23]) << 16 | UInt32(bytes[24]) << 24
        let bits = old & 0xF000_0000 | UInt32(height - 1) << 14 | UInt32(width - 1)
        for k in 0..<4 { bytes[21 + k] = UInt8((bits >> (8 * UInt32(k))) & 0xFF) }
        return bytes
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
