import ClipTensor
import Foundation

/// The dimensions of one transformer tower, from config.json's `text_config` or `vision_config`.
public struct TowerConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var activation: Activation
    public var layerNormEps: Float

    public var headDim: Int { hiddenSize / heads }

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, activation: Activation, layerNormEps: Float) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.activation = activation
        self.layerNormEps = layerNormEps
    }
}

public struct TextConfig: Sendable, Equatable {
    public var tower: TowerConfig
    public var vocabSize: Int
    public var maxPositions: Int
    /// The `<|endoftext|>` id whose first position is pooled; configs written before transformers
    /// PR #24773 say 2 and mean "the position of the largest id".
    public var eosTokenID: Int

    public init(tower: TowerConfig, vocabSize: Int, maxPositions: Int, eosTokenID: Int) {
        self.tower = tower
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.eosTokenID = eosTokenID
    }
}

public struct VisionConfig: Sendable, Equatable {
    public var tower: TowerConfig
    public var imageSize: Int
    public var patchSize: Int
    public var channels: Int

    public var gridSize: Int { imageSize / patchSize }
    /// Patches plus the class token.
    public var positions: Int { gridSize * gridSize + 1 }
    public var patchFeatures: Int { channels * patchSize * patchSize }

    public init(tower: TowerConfig, imageSize: Int, patchSize: Int, channels: Int) {
        self.tower = tower
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.channels = channels
    }
}

/// A Hugging Face CLIPConfig. Every dimension the encoders use comes from here; absent keys take
/// transformers' defaults, so older config files load as transformers loads them.
public struct CLIPConfig: Sendable, Equatable {
    public var text: TextConfig
    public var vision: VisionConfig
    public var projectionDim: Int

    public init(text: TextConfig, vision: VisionConfig, projectionDim: Int) {
        self.text = text
        self.vision = vision
        self.projectionDim = projectionDim
    }

    public static func load(from url: URL) throws(ModelError) -> CLIPConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError(.missingFile, "cannot read config.json", location: url.path)
        }
        return try parse(data, location: url.path)
    }

    public static func parse(_ data: Data, location: String = "config.json") throws(ModelError) -> CLIPConfig {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError(.invalidConfig, "config.json is not a JSON object", location: location)
        }
        let reader = Reader(location: location)
        // transformers lets the legacy `*_config_dict` keys replace `*_config` wholesale (with
        // defaults for what they omit); do the same so both load the same model.
        let textDict = (root["text_config_dict"] as? [String: Any]) ?? (root["text_config"] as? [String: Any]) ?? [:]
        let visionDict = (root["vision_config_dict"] as? [String: Any]) ?? (root["vision_config"] as? [String: Any]) ?? [:]

        let textTower = try reader.tower(textDict, "text_config", hidden: 512, intermediate: 2048, layers: 12, heads: 8)
        let visionTower = try reader.tower(visionDict, "vision_config", hidden: 768, intermediate: 3072, layers: 12, heads: 12)
        let config = CLIPConfig(
            text: TextConfig(
                tower: textTower,
                vocabSize: try reader.int(textDict, "vocab_size", 49408, "text_config"),
                maxPositions: try reader.int(textDict, "max_position_embeddings", 77, "text_config"),
                eosTokenID: try reader.int(textDict, "eos_token_id", 49407, "text_config")),
            vision: VisionConfig(
                tower: visionTower,
                imageSize: try reader.int(visionDict, "image_size", 224, "vision_config"),
                patchSize: try reader.int(visionDict, "patch_size", 32, "vision_config"),
                channels: try reader.int(visionDict, "num_channels", 3, "vision_config")),
            projectionDim: try reader.int(root, "projection_dim", 512, ""))
        try config.validate(location: location)
        return config
    }

    func validate(location: String) throws(ModelError) {
        func fail(_ message: String) -> ModelError { ModelError(.invalidConfig, message, location: location) }
        for (name, tower) in [("text_config", text.tower), ("vision_config", vision.tower)] {
            guard tower.hiddenSize % tower.heads == 0 else {
                throw fail("\(name).hidden_size \(tower.hiddenSize) is not a multiple of num_attention_heads \(tower.heads)")
            }
        }
        guard vision.imageSize % vision.patchSize == 0 else {
            throw fail("vision_config.image_size \(vision.imageSize) is not a multiple of patch_size \(vision.patchSize)")
        }
    }

    /// JSON number and string reading with a message that names the offending key.
    private struct Reader {
        let location: String

        func int(_ dict: [String: Any], _ key: String, _ fallback: Int, _ section: String) throws(ModelError) -> Int {
            guard let value = dict[key], !(value is NSNull) else { return fallback }
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int > 0,
                  int < 1 << 31
            else {
                let name = section.isEmpty ? key : "\(section).\(key)"
                throw ModelError(.invalidConfig, "\(name) must be a positive integer, got \(value)", location: location)
            }
            return int
        }

        func tower(_ dict: [String: Any], _ section: String, hidden: Int, intermediate: Int, layers: Int, heads: Int)
            throws(ModelError) -> TowerConfig
        {
            let actName = (dict["hidden_act"] as? String) ?? "quick_gelu"
            guard let activation = Activation(rawValue: actName) else {
                throw ModelError(
                    .invalidConfig,
                    "\(section).hidden_act \"\(actName)\" is not supported (use quick_gelu or gelu)",
                    location: location)
            }
            var eps: Float = 1e-5
            if let value = dict["layer_norm_eps"], !(value is NSNull) {
                guard let number = value as? NSNumber, number.doubleValue > 0 else {
                    throw ModelError(.invalidConfig, "\(section).layer_norm_eps must be a positive number", location: location)
                }
                eps = number.floatValue
            }
            return TowerConfig(
                hiddenSize: try int(dict, "hidden_size", hidden, section),
                intermediateSize: try int(dict, "intermediate_size", intermediate, section),
                layers: try int(dict, "num_hidden_layers", layers, section),
                heads: try int(dict, "num_attention_heads", heads, section),
                activation: activation,
                layerNormEps: eps)
        }
    }
}

extension CLIPConfig {
    /// openai/clip-vit-large-patch14-336.
    public static let vitL14At336 = CLIPConfig(
        text: TextConfig(
            tower: TowerConfig(hiddenSize: 768, intermediateSize: 3072, layers: 12, heads: 12,
                               activation: .quickGELU, layerNormEps: 1e-5),
            vocabSize: 49408, maxPositions: 77, eosTokenID: 49407),
        vision: VisionConfig(
            tower: TowerConfig(hiddenSize: 1024, intermediateSize: 4096, layers: 24, heads: 16,
                               activation: .quickGELU, layerNormEps: 1e-5),
            imageSize: 336, patchSize: 14, channels: 3),
        projectionDim: 768)

    /// config.json as transformers writes it (the keys this package reads).
    public func json() -> Data {
        func tower(_ t: TowerConfig) -> [String: Any] {
            ["hidden_size": t.hiddenSize, "intermediate_size": t.intermediateSize, "num_hidden_layers": t.layers,
             "num_attention_heads": t.heads, "hidden_act": t.activation.rawValue, "layer_norm_eps": t.layerNormEps]
        }
        var textDict = tower(text.tower)
        textDict["vocab_size"] = text.vocabSize
        textDict["max_position_embeddings"] = text.maxPositions
        textDict["eos_token_id"] = text.eosTokenID
        textDict["bos_token_id"] = 49406
        var visionDict = tower(vision.tower)
        visionDict["image_size"] = vision.imageSize
        visionDict["patch_size"] = vision.patchSize
        visionDict["num_channels"] = vision.channels
        let root: [String: Any] = [
            "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": projectionDim,
            "text_config": textDict, "vision_config": visionDict,
        ]
        return (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }

    /// Every tensor a CLIPModel checkpoint of this configuration holds (that this package reads).
    public func tensorShapes() -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        func encoder(_ prefix: String, _ t: TowerConfig) {
            let D = t.hiddenSize, I = t.intermediateSize
            for i in 0..<t.layers {
                let p = "\(prefix).layers.\(i)"
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    out += [("\(p).self_attn.\(proj).weight", [D, D]), ("\(p).self_attn.\(proj).bias", [D])]
                }
                out += [("\(p).layer_norm1.weight", [D]), ("\(p).layer_norm1.bias", [D]),
                        ("\(p).layer_norm2.weight", [D]), ("\(p).layer_norm2.bias", [D]),
                        ("\(p).mlp.fc1.weight", [I, D]), ("\(p).mlp.fc1.bias", [I]),
                        ("\(p).mlp.fc2.weight", [D, I]), ("\(p).mlp.fc2.bias", [D])]
            }
        }
        let Dv = vision.tower.hiddenSize, Dt = text.tower.hiddenSize
        out += [("vision_model.embeddings.class_embedding", [Dv]),
                ("vision_model.embeddings.patch_embedding.weight", [Dv, vision.channels, vision.patchSize, vision.patchSize]),
                ("vision_model.embeddings.position_embedding.weight", [vision.positions, Dv]),
                ("vision_model.pre_layrnorm.weight", [Dv]), ("vision_model.pre_layrnorm.bias", [Dv])]
        encoder("vision_model.encoder", vision.tower)
        out += [("vision_model.post_layernorm.weight", [Dv]), ("vision_model.post_layernorm.bias", [Dv]),
                ("visual_projection.weight", [projectionDim, Dv]),
                ("text_model.embeddings.token_embedding.weight", [text.vocabSize, Dt]),
                ("text_model.embeddings.position_embedding.weight", [text.maxPositions, Dt])]
        encoder("text_model.encoder", text.tower)
        out += [("text_model.final_layer_norm.weight", [Dt]), ("text_model.final_layer_norm.bias", [Dt]),
                ("text_projection.weight", [projectionDim, Dt])]
        return out
    }
}
