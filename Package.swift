// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "strongroom",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StrongroomJSON", targets: ["StrongroomJSON"]),
        .library(name: "StrongroomCrypto", targets: ["StrongroomCrypto"]),
        .library(name: "StrongroomKeys", targets: ["StrongroomKeys"]),
        .library(name: "StrongroomSchema", targets: ["StrongroomSchema"]),
        .library(name: "StrongroomPolicy", targets: ["StrongroomPolicy"]),
        .library(name: "StrongroomAudit", targets: ["StrongroomAudit"]),
        .library(name: "StrongroomLog", targets: ["StrongroomLog"]),
        .library(name: "StrongroomKafka", targets: ["StrongroomKafka"]),
        .library(name: "Strongroom", targets: ["Strongroom"]),
        .executable(name: "strongroom", targets: ["strongroom"]),
    ],
    traits: [
        .trait(
            name: "OpenSSL",
            description: "Field AES-256-GCM through OpenSSL 3's EVP API (libcrypto) instead of swift-crypto."
        ),
        .trait(
            name: "Kafka",
            description: "The event log on Apache Kafka through librdkafka (Debian's librdkafka-dev)."
        ),
        .trait(
            name: "PKCS11",
            description: "KEKs in a PKCS#11 HSM: the module is loaded with dlopen; p11-kit's header (libp11-kit-dev)."
        ),
        .trait(
            name: "KMS",
            description: "KEKs in AWS KMS (and KMS-compatible endpoints) over HTTPS through async-http-client."
        ),
        .trait(
            name: "Gateway",
            description: "`strongroom serve`: the HTTPS gateway (Hummingbird, TLS 1.3, mTLS, OIDC bearer JWTs)."
        ),
        .default(enabledTraits: ["OpenSSL", "PKCS11"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .target(name: "StrongroomJSON", swiftSettings: swiftSettings),
        .target(name: "StrongroomFiles", swiftSettings: swiftSettings),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "StrongroomCrypto",
            dependencies: [
                "StrongroomJSON",
                .target(name: "CLibCrypto", condition: .when(traits: ["OpenSSL"])),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(name: "CPKCS11", providers: [.apt(["libp11-kit-dev"])]),
        .target(
            name: "StrongroomKeys",
            dependencies: [
                .target(name: "CPKCS11", condition: .when(traits: ["PKCS11"])),
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["KMS"])),
                "StrongroomFiles",
                "StrongroomJSON",
                "StrongroomCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomSchema",
            dependencies: [
                "StrongroomFiles",
                "StrongroomJSON",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomPolicy",
            dependencies: [
                "StrongroomJSON",
                "StrongroomCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomAudit",
            dependencies: [
                "StrongroomFiles",
                "StrongroomJSON",
                "StrongroomCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomLog",
            dependencies: [
                "StrongroomFiles", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "StrongroomKafka",
            dependencies: [
                "StrongroomLog", "StrongroomKeys", .target(name: "CRdKafka", condition: .when(traits: ["Kafka"])),
                .product(
                    name: "ServiceLifecycle",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["Kafka"])
                ),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomLogTestSupport",
            dependencies: ["StrongroomLog"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Strongroom",
            dependencies: [
                "StrongroomFiles", "StrongroomCrypto", "StrongroomKeys", "StrongroomSchema", "StrongroomPolicy",
                "StrongroomAudit",
                "StrongroomLog", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomGateway",
            dependencies: [
                "Strongroom", "StrongroomFiles", "StrongroomJSON", "StrongroomKafka", "StrongroomKeys", "StrongroomLog",
                "StrongroomPolicy",
                "StrongroomSchema", "StrongroomAudit",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Gateway"])),
                .product(name: "HummingbirdTLS", package: "hummingbird", condition: .when(traits: ["Gateway"])),
                .product(name: "HummingbirdCore", package: "hummingbird", condition: .when(traits: ["Gateway"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Gateway"])),
                .product(name: "SwiftASN1", package: "swift-asn1", condition: .when(traits: ["Gateway"])),
                .product(name: "JWTKit", package: "jwt-kit", condition: .when(traits: ["Gateway"])),
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["Gateway"])),
                .product(name: "X509", package: "swift-certificates", condition: .when(traits: ["Gateway"])),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Gateway"])),
                .product(name: "Yams", package: "Yams", condition: .when(traits: ["Gateway"])),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["Gateway"])),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StrongroomTestSupport",
            dependencies: ["StrongroomCrypto"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "strongroom",
            dependencies: [
                "Strongroom", "StrongroomFiles", "StrongroomKafka", "StrongroomGateway",
                .product(
                    name: "ServiceLifecycle",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["Kafka", "Gateway"])
                ),
                .product(
                    name: "UnixSignals",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["Kafka", "Gateway"])
                ),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["Gateway"])),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomJSONTests",
            dependencies: ["StrongroomJSON", "StrongroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomCryptoTests",
            dependencies: [
                "StrongroomCrypto",
                "StrongroomTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomKeysTests",
            dependencies: [
                "StrongroomKeys", "StrongroomTestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomSchemaTests",
            dependencies: ["StrongroomSchema", "StrongroomJSON", "StrongroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomPolicyTests",
            dependencies: [
                "StrongroomPolicy", "StrongroomTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomAuditTests",
            dependencies: [
                "StrongroomAudit", "StrongroomTestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomLogTests",
            dependencies: [
                "StrongroomLog", "StrongroomLogTestSupport", "StrongroomTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomKafkaTests",
            dependencies: [
                "StrongroomKafka", "StrongroomLog", "StrongroomLogTestSupport", "StrongroomTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomTests",
            dependencies: [
                "Strongroom", "strongroom", "StrongroomTestSupport", "StrongroomJSON", "StrongroomLog",
                "StrongroomFiles",
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrongroomGatewayTests",
            dependencies: [
                "StrongroomGateway", "Strongroom", "StrongroomTestSupport", "StrongroomKeys", "StrongroomLog",
                "StrongroomSchema", "StrongroomAudit", "StrongroomPolicy", "StrongroomJSON", "StrongroomFiles",
                "StrongroomKafka",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Gateway"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["Gateway"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Gateway"])),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Gateway"])),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Gateway"])),
                .product(name: "HummingbirdTesting", package: "hummingbird", condition: .when(traits: ["Gateway"])),
                .product(name: "JWTKit", package: "jwt-kit", condition: .when(traits: ["Gateway"])),
                .product(name: "X509", package: "swift-certificates", condition: .when(traits: ["Gateway"])),
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["Gateway"])),
                .product(
                    name: "ServiceLifecycle",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["Gateway"])
                ),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
