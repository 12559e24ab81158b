// swift-tools-version: 6.0
// clipq: CLIP embeddings over RabbitMQ. Module layout: ../shared/DESIGN.md §5.
// Dependencies point down: C shims -> ClipSchema/ClipImage/ClipText/ClipTensor -> ClipModel
// -> ClipBatch/ClipAMQP/ClipPipeline -> ClipClient/ClipWorker/ClipJobs -> clipq.
import PackageDescription

/// A system library shim: a module map and one header over a Debian package, no logic.
func shim(_ name: String, pkgConfig: String? = nil, apt: String) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt([apt])])
}

let package = Package(
    name: "clipq",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "clipq", targets: ["clipq"]),
        .executable(name: "clipq-bench", targets: ["clipq-bench"]),
        .library(name: "ClipSchema", targets: ["ClipSchema"]),
        .library(name: "ClipText", targets: ["ClipText"]),
        .library(name: "ClipClient", targets: ["ClipClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        shim("CBLAS", pkgConfig: "openblas", apt: "libopenblas-dev"),
        shim("CWebP", pkgConfig: "libwebp", apt: "libwebp-dev"),
        shim("CCurl", pkgConfig: "libcurl", apt: "libcurl4-openssl-dev"),
        shim("CRabbitMQ", pkgConfig: "librabbitmq", apt: "librabbitmq-dev"),
        shim("CTurboJPEG", pkgConfig: "libturbojpeg", apt: "libturbojpeg0-dev"),
        shim("CSPNG", pkgConfig: "spng", apt: "libspng-dev"),
        shim("CDNNL", apt: "libdnnl-dev"),

        .target(
            name: "ClipSchema",
            exclude: ["Schemas/openapi.json"],
            resources: [
                .embedInCode("Schemas/request.schema.json"),
                .embedInCode("Schemas/reply.schema.json"),
                .embedInCode("Schemas/error.schema.json"),
                .embedInCode("Schemas/dead-letter.schema.json"),
            ]
        ),

        .target(name: "ClipText"),
        .target(name: "ClipImage", dependencies: ["ClipSchema", "CCurl", "CTurboJPEG", "CSPNG", "CWebP"]),
        .target(name: "ClipBatch"),
        .target(name: "ClipAMQP", dependencies: ["CRabbitMQ"]),

        .target(name: "ClipClient", dependencies: ["ClipAMQP", "ClipSchema"]),
        // Rows to embeddings in process: ingest, tokenizer, the encoder seam (worker and jobs share it).
        .target(name: "ClipPipeline", dependencies: ["ClipSchema", "ClipImage", "ClipText", "ClipModel"]),
        .target(
            name: "ClipWorker",
            dependencies: [
                "ClipSchema", "ClipImage", "ClipPipeline", "ClipBatch", "ClipAMQP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // HTTP routes onto the queue: /score (the hosted endpoint) and /v1/embeddings (OpenAI).
        .target(
            name: "ClipGateway",
            dependencies: [
                "ClipSchema", "ClipAMQP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("openapi.json")]),
        .target(name: "ClipJobs", dependencies: ["ClipPipeline", "ClipClient", "ClipSchema", "ClipAMQP", "ClipTensor"]),

        // The kernels are hot loops over SIMD types, which run ~100x slower unoptimized: keep them
        // optimized in debug builds too, so that the tests (which run a real model) stay fast.
        .target(name: "ClipTensor", dependencies: ["CBLAS", "CDNNL"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "ClipModel", dependencies: ["ClipTensor"]),
        // What benchmarks and tests make or measure and the product never does: checkpoints with
        // random weights, a safetensors writer, a process's resident memory.
        .target(name: "ClipFixtures", dependencies: ["ClipModel"]),
        // The flags and environment settings clipq and clipq-bench share (broker, model, precision).
        .target(
            name: "ClipCommandLine",
            dependencies: [
                "ClipAMQP", "ClipImage", "ClipModel", "ClipPipeline", "ClipSchema", "ClipTensor", "ClipText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "clipq",
            dependencies: [
                "ClipSchema",
                "ClipText",
                "ClipImage",
                "ClipAMQP",
                "ClipWorker",
                "ClipGateway",
                "ClipJobs",
                "ClipClient",
                "ClipTensor",
                "ClipModel",
                "ClipCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The benchmarks: measure clipq, never shipped with it.
        .executableTarget(
            name: "clipq-bench",
            dependencies: [
                "ClipSchema", "ClipText", "ClipImage", "ClipAMQP", "ClipPipeline", "ClipWorker", "ClipClient", "ClipTensor",
                "ClipModel", "ClipCommandLine", "ClipFixtures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Real peers for tests: a private RabbitMQ broker, a private Redis, an HTTP server on loopback, the tiny model.
        .target(name: "ClipTestSupport", path: "Tests/Support"),
        .target(name: "ClipModelTestSupport", dependencies: ["ClipPipeline", "ClipTestSupport"], path: "Tests/ModelSupport"),

        .testTarget(name: "CShimTests", dependencies: ["CBLAS", "CDNNL", "CTurboJPEG", "CSPNG", "CWebP", "CCurl", "CRabbitMQ", "ClipTestSupport"]),
        .testTarget(name: "ClipSchemaTests", dependencies: ["ClipSchema", "ClipTestSupport"]),
        .testTarget(name: "ClipTextTests", dependencies: ["ClipText", "ClipTestSupport"]),
        .testTarget(name: "ClipBatchTests", dependencies: ["ClipBatch"]),
        .testTarget(name: "ClipPipelineTests", dependencies: ["ClipPipeline", "ClipModel", "ClipModelTestSupport", "ClipTestSupport"]),
        .testTarget(
            name: "ClipWorkerTests",
            dependencies: ["ClipWorker", "ClipTestSupport", "ClipModelTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ClipGatewayTests", dependencies: ["ClipGateway", "ClipSchema"]),
        .testTarget(name: "ClipJobsTests", dependencies: ["ClipJobs", "ClipTestSupport"]),
        .testTarget(name: "ClipAMQPTests", dependencies: ["ClipAMQP", "ClipTestSupport"]),
        // Runs the built executables (the dependencies make `swift test` build them first).
        .testTarget(name: "ClipqTests", dependencies: ["clipq", "clipq-bench", "ClipFixtures", "ClipModel", "ClipTensor", "ClipTestSupport", "ClipModelTestSupport", "ClipAMQP", "ClipSchema", "ClipWorker", "ClipClient", "ClipJobs", "ClipImage"]),
        .testTarget(name: "ClipImageTests", dependencies: ["ClipImage", "ClipTestSupport"]),
        .testTarget(name: "ClipTensorTests", dependencies: ["ClipTensor"]),
        .testTarget(name: "ClipModelTests", dependencies: ["ClipModel", "ClipTensor", "ClipFixtures", "ClipTestSupport"]),
    ]
)
