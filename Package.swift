// swift-tools-version:6.0
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Pushgate",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WebPush", targets: ["WebPush"]),
        .library(name: "WebPushClient", targets: ["WebPushClient"]),
        .library(name: "MQTTBridge", targets: ["MQTTBridge"]),
        .executable(name: "pushgate", targets: ["pushgate"]),
        .executable(name: "pushgate-mqtt-bench", targets: ["MQTTBridgeBenchmark"]),
        .executable(name: "pushgate-example-device", targets: ["ExampleDevice"]),
        .executable(name: "pushgate-example-sender", targets: ["ExampleSender"]),
        .executable(name: "pushgate-fuzz", targets: ["PushgateFuzz"]),
        .executable(name: "pushgate-allocations", targets: ["PushgateAllocations"]),
        .executable(name: "pushgate-http-floor", targets: ["PushgateHTTPFloor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Counts heap allocations for Benchmarks/Allocations (preloaded; never in the server).
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.6.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "WebPush",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "WebPushClient",
            dependencies: [
                "WebPush",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "MQTTBridge",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Pushgate",
            dependencies: [
                "WebPush",
                "MQTTBridge",
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "pushgate",
            dependencies: [
                "Pushgate",
                "WebPush",
                "WebPushClient",
                "MQTTBridge",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebPushTests",
            dependencies: ["WebPush", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Vectors"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "MQTTBridgeBenchmark",
            dependencies: [
                "MQTTBridge", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/MQTTBridgeBenchmark",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "PushgateHTTPFloor",
            dependencies: [
                "Pushgate",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/HTTPFloor",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ExampleDevice",
            dependencies: ["WebPush", "WebPushClient", "MQTTBridge", .product(name: "Logging", package: "swift-log")],
            path: "Examples/Swift/Device",
            swiftSettings: strictSettings
        ),
        // libFuzzer targets for the parsers of untrusted bytes (scripts/fuzz.sh); without
        // -DFUZZING a replayer of saved inputs.
        .executableTarget(
            name: "PushgateFuzz",
            dependencies: [
                "Pushgate", "WebPush", "MQTTBridge",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Fuzz/PushgateFuzz",
            swiftSettings: strictSettings
        ),
        // Allocations per operation of the hot units, checked against limits in make test
        // (scripts/allocations.sh preloads the interposer).
        .executableTarget(
            name: "PushgateAllocations",
            dependencies: [
                "Pushgate", "PushgateTestSupport", "WebPush", "MQTTBridge",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            path: "Benchmarks/Allocations",
            exclude: ["limits.json"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ExampleSender",
            dependencies: ["WebPush", "WebPushClient"],
            path: "Examples/Swift/Sender",
            swiftSettings: strictSettings
        ),
        // Fakes shared by the test targets (a store in memory, a recording broker connection).
        .target(
            name: "PushgateTestSupport",
            dependencies: ["Pushgate", "WebPush", "MQTTBridge", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/PushgateTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MQTTBridgeTests",
            dependencies: [
                "MQTTBridge", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PushgateTests",
            dependencies: [
                "Pushgate", "PushgateTestSupport", "WebPush", "MQTTBridge",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
