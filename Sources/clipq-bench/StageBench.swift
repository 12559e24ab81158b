import ClipClient
import ClipImage
import ClipSchema
import ClipText
import Foundation

/// The stages of a request around the encoders, each timed on one thread as one ingest thread of
/// a worker runs it: fetch (when a URL is given), decode, resize (resize, crop, normalize),
/// tokenize, and the JSON at both ends (request parse + schema validation, reply write + check).
struct StageBench {
    /// A typical web photo (512x512 JPEG) and a 12 MP camera JPEG, among the fixtures' images.
    static let images = ["astronaut.jpg", "coffee_12mp.jpg"]

    let fixtures: FixtureOptions
    let preprocessor: PreprocessorConfig
    let tokenizer: CLIPTokenizer
    let fetchURL: String?
    let allowPrivateNetworks: Bool
    let runs: Int

    /// Milliseconds per stage of a one-image request (the typical photo), for the breakdown.
    struct OneImage {
        var fetch: Double?
        var decode = 0.0, resize = 0.0, requestJSON = 0.0, replyJSON = 0.0
    }

    func measure(into report: BenchReport) throws -> OneImage {
        var oneImage = OneImage()
        if let fetchURL {
            var settings = FetchSettings()
            settings.addressPolicy.allowPrivateNetworks = allowPrivateNetworks
            var size = 0
            let seconds = try medianSeconds(runs: runs) { size = try fetchImageBytes(fetchURL, settings: settings).count }
            oneImage.fetch = seconds * 1000
            report.record("stage", "fetch", String(format: "%.2f ms (%d KB over %@)", seconds * 1000, size / 1024, fetchURL),
                          [("stage", .string("fetch")), ("bytes", .number(Double(size))), ("ms", number(seconds * 1000))])
        }

        for (index, name) in Self.images.enumerated() {
            let bytes = [UInt8](try fixtures.read(fixtures.images.appendingPathComponent(name)))
            var image: RGBImage?
            let decode = try medianSeconds(runs: runs) { image = try decodeImage(bytes) }
            guard let image else { continue }
            let resize = medianSeconds(runs: runs) { _ = preprocess(image, config: preprocessor) }
            let input = "\(name) \(image.width)x\(image.height)"
            for (stage, seconds) in [("decode", decode), ("resize", resize)] {
                report.record("stage", "\(stage) \(input)", String(format: "%.2f ms", seconds * 1000),
                              [("stage", .string(stage)), ("input", .string(input)), ("ms", number(seconds * 1000))])
            }
            if index == 0 { (oneImage.decode, oneImage.resize) = (decode * 1000, resize * 1000) }
        }

        let captions = Self.captions(2000)
        var tokens = 0
        let tokenize = medianSeconds(runs: runs) { tokens = captions.reduce(0) { $0 + tokenizer.encode($1).count } }
        report.record("stage", "tokenize \(captions.count) captions",
                      String(format: "%.1f µs per caption (%.2f M tokens/s)", tokenize * 1e6 / Double(captions.count),
                             Double(tokens) / tokenize / 1e6),
                      [("stage", .string("tokenize")), ("us_per_text", number(tokenize * 1e6 / Double(captions.count))),
                       ("tokens_per_s", number(Double(tokens) / tokenize))])

        let decoder = try RequestDecoder(), encoder = try ReplyEncoder()
        let photo = try fixtures.read(fixtures.images.appendingPathComponent(Self.images[0])).base64EncodedString()
        let features = (0..<768).map { Float(sin(Double($0))) }
        let cases: [(String, [UInt8], [ReplyRow])] = [
            ("one image (\(photo.count / 1024) KB base64)", RequestEncoder.encode(images: [photo], texts: []),
             [ReplyRow(imageFeatures: features, textFeatures: nil)]),
            ("64 captions", RequestEncoder.encode(images: [], texts: Array(captions.prefix(64))),
             Array(repeating: ReplyRow(imageFeatures: nil, textFeatures: features), count: 64)),
        ]
        for (index, (name, body, rows)) in cases.enumerated() {
            let parse = try medianSeconds(runs: runs) { _ = try decoder.decode(body) }
            let write = try medianSeconds(runs: runs) { _ = try encoder.encode(rows) }
            report.record("stage", "request JSON, \(name)", String(format: "%.3f ms parse + validate", parse * 1000),
                          [("stage", .string("request_json")), ("input", .string(name)), ("ms", number(parse * 1000))])
            report.record("stage", "reply JSON, \(rows.count) x 768 floats", String(format: "%.3f ms write + check", write * 1000),
                          [("stage", .string("reply_json")), ("rows", .number(Double(rows.count))), ("ms", number(write * 1000))])
            if index == 0 { (oneImage.requestJSON, oneImage.replyJSON) = (parse * 1000, write * 1000) }
        }
        return oneImage
    }

    /// Short captions as real traffic has them: a few words, some repeated across captions.
    static func captions(_ count: Int) -> [String] {
        let subjects = ["dog", "cat", "red car", "old man", "child", "bowl of soup", "mountain lake", "city street",
                        "wooden chair", "bird", "bicycle", "plate of pasta", "woman in a hat", "train station"]
        let scenes = ["on a sunny day", "in the snow", "at night", "on a table", "next to a window",
                      "in a park", "under a bridge", "at the beach", "in black and white", "seen from above"]
        return (0..<count).map { i in
            "a photo of a \(subjects[i % subjects.count]) \(scenes[(i / subjects.count) % scenes.count]) \(i)"
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
