// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "DICOMTap",
    platforms: [.macOS(.v14)],
    // The CLI and the libraries a user would import: the codecs, the observer's model, capture analysis and
    // the client/server engine. The other targets are the CLI's parts (tests depend on targets, not products).
    products: [
        .executable(name: "dicomtap", targets: ["dicomtap"]),
        .library(name: "DICOMCore", targets: ["DICOMCore"]),
        .library(name: "DICOMUL", targets: ["DICOMUL"]),
        .library(name: "DIMSE", targets: ["DIMSE"]),
        .library(name: "DICOMInspect", targets: ["DICOMInspect"]),
        .library(name: "DICOMCapture", targets: ["DICOMCapture"]),
        .library(name: "DICOMNetwork", targets: ["DICOMNetwork"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "DICOMCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .target(
            name: "DICOMUL",
            dependencies: ["DICOMCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "DIMSE",
            dependencies: ["DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "DICOMInspect",
            dependencies: ["DIMSE", "DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .target(
            name: "DICOMCapture",
            dependencies: ["CPcap", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]
        ),
        .target(
            name: "DICOMRewrite",
            dependencies: [
                "DICOMSQLite", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The PostgreSQL mapping store (issue 21), apart so DICOMRewrite does not link postgres-nio.
        .target(
            name: "DICOMMappingPostgres",
            dependencies: [
                "DICOMRewrite", "DICOMCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DICOMProxy",
            dependencies: [
                "DICOMNetwork", "DICOMMetrics", "DICOMRewrite", "DICOMInspect", "DICOMUL", "DIMSE", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DICOMNetwork",
            dependencies: [
                "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The SQLite file both stores open (mode 0600) and the words their errors use.
        .target(
            name: "DICOMSQLite",
            dependencies: ["DICOMCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "DICOMStore",
            dependencies: [
                "DICOMSQLite", "DIMSE", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "DICOMServices",
            dependencies: [
                "DICOMNetwork", "DICOMStore", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DICOMMetrics",
            dependencies: [
                "DICOMNetwork", "DICOMInspect", "DIMSE", "DICOMUL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "DICOMDemo",
            dependencies: [
                "DICOMServices", "DICOMProxy", "DICOMNetwork", "DICOMStore", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DICOMReplay",
            dependencies: [
                "DICOMNetwork", "DICOMCapture", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "dicomtap",
            dependencies: [
                "DICOMCore", "DICOMUL", "DIMSE", "DICOMInspect", "DICOMCapture", "DICOMProxy",
                "DICOMRewrite", "DICOMMappingPostgres", "DICOMNetwork", "DICOMStore", "DICOMServices", "DICOMReplay", "DICOMDemo",
                "DICOMMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // proxy --config FILE (ProxyConfigFile).
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "dicomtap-bench",
            dependencies: ["DICOMCore", "DICOMNetwork", "DICOMServices", "DICOMStore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMCoreTests",
            dependencies: ["DICOMPeerSupport", "DICOMCore", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "DICOMULTests",
            dependencies: ["DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOTestUtils", package: "swift-nio")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "DIMSETests",
            dependencies: ["DICOMPeerSupport", "DIMSE", "DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMInspectTests",
            dependencies: ["DICOMPeerSupport", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMNetworkTests",
            dependencies: ["DICOMPeerSupport", "DICOMTestSupport", "DICOMNetwork", "DICOMInspect", "DICOMUL", "DIMSE", "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMMetricsTests",
            dependencies: ["DICOMPeerSupport", "DICOMTestSupport", "DICOMMetrics", "DICOMInspect", "DICOMUL", "DIMSE", "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMCaptureTests",
            dependencies: ["DICOMPeerSupport", "DICOMCapture", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Fixtures"]
        ),
        .target(
            name: "DICOMPeerSupport",
            dependencies: ["DICOMCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/DICOMPeerSupport"
        ),
        .target(
            name: "DICOMTestSupport",
            dependencies: ["DICOMPeerSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Tests/DICOMTestSupport"
        ),
        .target(
            name: "DICOMProxyTestSupport",
            dependencies: ["DICOMTestSupport", "DICOMProxy", "DICOMNetwork", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/DICOMProxyTestSupport"
        ),
        .testTarget(
            name: "DICOMProxyTests",
            dependencies: ["DICOMProxyTestSupport", "DICOMProxy", "DICOMRewrite", "DICOMCapture", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                           "DICOMMetrics", "DICOMNetwork",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            exclude: ["Peers"]
        ),
        .testTarget(
            name: "DICOMRewriteTests",
            dependencies: ["DICOMProxyTestSupport", "DICOMTestSupport", "DICOMRewrite", "DICOMProxy", "DICOMNetwork", "DICOMCapture",
                           "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            exclude: ["Peers"]
        ),
        .testTarget(
            name: "DICOMMappingPostgresTests",
            dependencies: ["DICOMPeerSupport", "DICOMProxyTestSupport", "DICOMTestSupport", "DICOMMappingPostgres", "DICOMRewrite",
                           "DICOMProxy", "DICOMNetwork", "DICOMServices", "DICOMInspect", "DIMSE", "DICOMUL", "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "DICOMStoreTests",
            dependencies: ["DICOMPeerSupport", "DICOMStore", "DICOMCore", "DIMSE", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "DICOMServicesTests",
            dependencies: ["DICOMTestSupport", "DICOMServices", "DICOMNetwork", "DICOMStore", "DICOMInspect", "DIMSE", "DICOMUL",
                           "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            exclude: ["Peers"]
        ),
        .testTarget(
            name: "DICOMDemoTests",
            dependencies: ["DICOMPeerSupport", "DICOMDemo", "DICOMServices", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "DICOMReplayTests",
            dependencies: ["DICOMPeerSupport", "DICOMReplay", "DICOMNetwork", "DICOMProxy", "DICOMCapture", "DICOMInspect", "DIMSE", "DICOMUL",
                           "DICOMCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            exclude: ["Peers"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzzing (issue 20, `tools/fuzz.sh`): declared only with DICOMTAP_FUZZ=1, so the normal build and
// `swift test` never see it. Our own targets get libFuzzer's coverage and AddressSanitizer
// (dependencies are built as usual); `Fuzz/Sources` is one libFuzzer executable, the harness picked at
// run time by DICOMTAP_FUZZ_HARNESS; `dicomtap_fuzz_main` runs libFuzzer's driver.
if Context.environment["DICOMTAP_FUZZ"] == "1" {
    // Optimised (-O overrides the debug configuration's -Onone): NIO's inlinable ByteBuffer code is
    // then specialised into our modules instead of running unoptimised, which is many times faster.
    let sanitizers = ["-sanitize=fuzzer,address", "-O"]
    let fuzzed: Set<String> = ["DICOMCore", "DICOMUL", "DIMSE", "DICOMInspect", "DICOMCapture", "DICOMRewrite"]
    for target in package.targets where fuzzed.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(sanitizers)]
    }
    package.products.append(.executable(name: "dicomtap-fuzz", targets: ["dicomtap-fuzz"]))
    package.targets.append(.executableTarget(
        name: "dicomtap-fuzz",
        dependencies: ["DICOMCore", "DICOMUL", "DIMSE", "DICOMInspect", "DICOMCapture", "DICOMRewrite",
                       .product(name: "NIOCore", package: "swift-nio")],
        path: "Fuzz/Sources",
        swiftSettings: [.unsafeFlags(sanitizers + ["-parse-as-library"]), .enableExperimentalFeature("Extern")],
        linkerSettings: [.unsafeFlags(sanitizers + ["-use-ld=lld"])]
    ))
}
