import ClipFixtures
import ClipModel
import Foundation
import XCTest

/// The benchmark's model generator writes what the loader reads, for any configuration and dtype.
final class RandomModelTests: XCTestCase {
    func testRandomModelsLoadInEveryDType() throws {
        var config = CLIPConfig.vitL14At336
        config.vision.tower = TowerConfig(hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2,
                                          activation: .quickGELU, layerNormEps: 1e-5)
        config.vision.imageSize = 28
        config.text.tower = TowerConfig(hiddenSize: 8, intermediateSize: 16, layers: 2, heads: 2,
                                        activation: .gelu, layerNormEps: 1e-5)
        config.text.vocabSize = 500
        config.projectionDim = 4
        for dtype in [DType.f32, .f16, .bf16] {
            let dir = try TemporaryModel(self)
            try writeRandomModel(config, to: dir.url, dtype: dtype)
            let model = try CLIPModel.load(directory: dir.url)
            XCTAssertEqual(model.config, config)
            let images = try model.encodeImages(pixels: Fixture.pixels(count: 2, size: 28), count: 2)
            let texts = try model.encodeTexts(tokenIDs: [[1, 2, 499], [7]])
            for e in images + texts {
                XCTAssertEqual(e.count, 4)
                XCTAssertTrue(e.allSatisfy(\.isFinite), "\(dtype)")
            }
            XCTAssertNotEqual(images[0], images[1])
        }
    }
}
