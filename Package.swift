// swift-tools-version:6.1
import PackageDescription

// Layers, bottom to top (docs/architecture.md): TsunaguCore and TsunaguRealtime (pure: Foundation
// and each other only) → TsunaguCrypto / TsunaguWebSocket → TsunaguStore → TsunaguNode →
// executables. Only executables read flags, files and environment.
let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1: Target.Dependency = .product(name: "NIOHTTP1", package: "swift-nio")
let nioWebSocket: Target.Dependency = .product(name: "NIOWebSocket", package: "swift-nio")
let nioSSL: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "tsunagu",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tsunagu", targets: ["tsunagu"]),
        .executable(name: "tsunagu-load", targets: ["tsunagu-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The operator's configuration: --config FILE (YAML) < TSUNAGU_* < flags (docs/operations.md).
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Pure domain: ids, roles and permission rules, events, wire messages. No I/O.
        .target(name: "TsunaguCore"),

        // The pure realtime core: the session and feed state machines, and the interfaces they need
        // from outside (event log, session authority, node registry, clock) with in-memory twins.
        .target(name: "TsunaguRealtime", dependencies: ["TsunaguCore"]),

        // At-rest cryptography on the system's OpenSSL 3 libcrypto.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .target(name: "TsunaguCrypto", dependencies: ["COpenSSL"]),

        // The WebSocket stack, server and client roles: framing, messages, permessage-deflate on
        // system zlib; SHA-1 for the handshake straight from system libcrypto.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "TsunaguWebSocket", dependencies: ["CZlib", "COpenSSL", nio, nioPosix, nioHTTP1, nioWebSocket]),

        // The shared store: encrypted records, one copy of the SQL logic run on GRDB/SQLite or on
        // PostgreSQL through postgres-nio (docs/storage.md, "Two backends").
        .target(name: "TsunaguStore", dependencies: [
            "TsunaguCore", "TsunaguCrypto", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"), nio, nioPosix, nioSSL, logging,
        ]),

        // The realtime node: HTTP API, /v1/ws, subscription hub, and the web client's files
        // (plain HTML, CSS and JavaScript modules: no build step; docs/web-client.md).
        .target(name: "TsunaguNode", dependencies: [
            "TsunaguCore", "TsunaguRealtime", "TsunaguCrypto", "TsunaguStore", "TsunaguWebSocket", "TsunaguMail", "CZlib",
            nio, nioPosix, nioHTTP1, nioWebSocket, nioSSL,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOTLS", package: "swift-nio"), logging,
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [.copy("Web/Assets")]),

        // Outgoing mail: the outbox delivery worker and its transports (SMTP client on SwiftNIO, .eml files).
        .target(name: "TsunaguMail", dependencies: [
            nio, nioPosix, .product(name: "NIOTLS", package: "swift-nio"), nioSSL, logging,
        ]),

        // The round-robin L4 balancer: follows the membership registry, splices TCP to live nodes.
        .target(name: "TsunaguBalancer", dependencies: ["TsunaguCore", nio, nioPosix, nioHTTP1, logging]),

        // A client speaking the Tsunagu protocol over TsunaguWebSocket's client, and a small HTTP
        // client for the JSON API: used by tests and tsunagu-load.
        .target(name: "TsunaguClient", dependencies: [
            "TsunaguCore", "TsunaguWebSocket", nio, nioPosix, nioHTTP1, nioWebSocket,
        ]),

        .executableTarget(name: "tsunagu", dependencies: [
            "TsunaguCore", "TsunaguCrypto", "TsunaguStore", "TsunaguNode", "TsunaguBalancer", "TsunaguMail", logging,
            nioPosix, nioSSL, .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "SystemPackage", package: "swift-system"),
        ], plugins: ["BuildInfoPlugin"]),
        // Bakes the commit and the build day into `tsunagu version` (works on a clean clone; no
        // git: "unknown").
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .executableTarget(name: "tsunagu-load", dependencies: [
            "TsunaguClient", "TsunaguWebSocket", "TsunaguCore", nio, nioPosix,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "LoadTests/tsunagu-load"),

        // For the test targets only: a throwaway PostgreSQL server per test process.
        .target(name: "TsunaguTestSupport", dependencies: ["TsunaguStore"]),

        .testTarget(name: "TsunaguCoreTests", dependencies: ["TsunaguCore"]),
        .testTarget(name: "TsunaguRealtimeTests", dependencies: ["TsunaguRealtime", "TsunaguCore"]),
        .testTarget(name: "TsunaguCryptoTests", dependencies: ["TsunaguCrypto"]),
        .testTarget(name: "TsunaguWebSocketTests", dependencies: [
            "TsunaguWebSocket", nio, nioPosix, nioHTTP1, nioWebSocket, .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "TsunaguBalancerTests", dependencies: [
            "TsunaguBalancer", "TsunaguCore", nio, nioPosix, nioHTTP1, .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "TsunaguMailTests", dependencies: ["TsunaguMail", nio, nioPosix, logging]),
        .testTarget(name: "TsunaguStoreTests", dependencies: [
            "TsunaguStore", "TsunaguCore", "TsunaguCrypto", "TsunaguTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "TsunaguNodeTests", dependencies: [
            "TsunaguNode", "TsunaguClient", "TsunaguWebSocket", "TsunaguStore", "TsunaguCore", "TsunaguCrypto",
            "TsunaguBalancer", "TsunaguTestSupport", nio,
            nioPosix, nioHTTP1, nioWebSocket, nioSSL,
        ]),
    ]
)
