import ClipModel
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    func testMissingKeysTakeTransformersDefaults() throws {
        let config = try CLIPConfig.parse(Data("{}".utf8))
        XCTAssertEqual(config.projectionDim, 512)
        XCTAssertEqual(config.text.tower.hiddenSize, 512)
        XCTAssertEqual(config.text.eosTokenID, 49407)
        XCTAssertEqual(config.text.vocabSize, 49408)
        XCTAssertEqual(config.text.maxPositions, 77)
        XCTAssertEqual(config.vision.tower.hiddenSize, 768)
        XCTAssertEqual(config.vision.patchSize, 32)
        XCTAssertEqual(config.vision.tower.activation, .quickGELU)
    }

    func testViTL14At336() throws {
        // The dimensions of openai/clip-vit-large-patch14-336, in the legacy layout that checkpoint
        // uses: `*_config_dict` wins over `*_config`, as in transformers.
        let json = """
        {"projection_dim": 768,
         "text_config": {"hidden_size": 512, "eos_token_id": 2},
         "text_config_dict": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                              "num_hidden_layers": 12, "projection_dim": 768},
         "vision_config_dict": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
                                "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14,
                                "projection_dim": 768}}
        """
        let config = try CLIPConfig.parse(Data(json.utf8))
        XCTAssertEqual(config.text.tower.hiddenSize, 768)
        XCTAssertEqual(config.text.eosTokenID, 49407, "text_config_dict's defaults replace text_config")
        XCTAssertEqual(config.vision.positions, 577)
        XCTAssertEqual(config.vision.tower.headDim, 64)
        XCTAssertEqual(config.vision.patchFeatures, 588)
        XCTAssertEqual(config, .vitL14At336)
    }
}
