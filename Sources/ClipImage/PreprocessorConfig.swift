import Foundation

/// The parts of a Hugging Face `preprocessor_config.json` that CLIPImageProcessor uses.
/// Both spellings are read: the old `"size": 336` / `"crop_size": 336` and the dictionaries.
public struct PreprocessorConfig: Equatable, Sendable {
    var doResize = true
    public var shortestEdge = 336
    var doCenterCrop = true
    public var cropHeight = 336
    public var cropWidth = 336
    public var doRescale = true
    public var rescaleFactor = 1.0 / 255.0
    public var doNormalize = true
    public var mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public var std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// OpenAI CLIP ViT-L/14@336's values.
    public init() {}

    public init(contentsOfFile path: String) throws(ImageError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError(.internal, "cannot read \(path)")
        }
        try self.init(json: data)
    }

    public init(json: Data) throws(ImageError) {
        guard let object = try? JSONSerialization.jsonObject(with: json), let dict = object as? [String: Any] else {
            throw ImageError(.internal, "preprocessor_config.json is not a JSON object")
        }
        func fail(_ why: String) -> ImageError { ImageError(.internal, "preprocessor_config.json: \(why)") }
        func bool(_ key: String, _ fallback: Bool) -> Bool { dict[key] as? Bool ?? fallback }
        func floats(_ key: String) throws(ImageError) -> [Float]? {
            guard let value = dict[key] else { return nil }
            guard let numbers = value as? [NSNumber], numbers.count == 3 else { throw fail("\(key) must be 3 numbers") }
            return numbers.map { $0.floatValue }
        }
        doResize = bool("do_resize", doResize)
        doCenterCrop = bool("do_center_crop", doCenterCrop)
        doRescale = bool("do_rescale", doRescale)
        doNormalize = bool("do_normalize", doNormalize)
        if let resample = dict["resample"] as? Int, resample != 3 {
            throw fail("resample \(resample) is not BICUBIC (3), the only filter implemented")
        }
        switch dict["size"] {
        case nil: break
        case let n as Int: shortestEdge = n
        case let d as [String: Any]:
            guard let n = d["shortest_edge"] as? Int else { throw fail("size must give shortest_edge") }
            shortestEdge = n
        default: throw fail("size must be a number or {\"shortest_edge\": n}")
        }
        switch dict["crop_size"] {
        case nil: break
        case let n as Int: (cropHeight, cropWidth) = (n, n)
        case let d as [String: Any]:
            guard let h = d["height"] as? Int, let w = d["width"] as? Int else { throw fail("crop_size needs height and width") }
            (cropHeight, cropWidth) = (h, w)
        default: throw fail("crop_size must be a number or {\"height\", \"width\"}")
        }
        if let factor = dict["rescale_factor"] as? NSNumber { rescaleFactor = factor.doubleValue }
        mean = try floats("image_mean") ?? mean
        std = try floats("image_std") ?? std
        // Without both, tensors would take each image's shape: not what a CLIP encoder takes.
        guard doResize, doCenterCrop else { throw fail("only do_resize + do_center_crop (CLIP's pipeline) is implemented") }
        guard shortestEdge > 0, cropHeight > 0, cropWidth > 0, std.allSatisfy({ $0 != 0 }) else {
            throw fail("sizes must be positive and std non-zero")
        }
    }
}
