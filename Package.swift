// swift-tools-version:6.1
import PackageDescription

// One settings array for every Swift target (Hummingbird's way), so the language mode and the
// upcoming features are the same everywhere.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "gatehouse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gatehouse", targets: ["gatehouse"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
    ],
    targets: [
        // Layer 0: C libraries from Debian, reached through pkg-config.
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent",
            providers: [.apt(["libevent-dev"])]
        ),
        // TLS termination (libssl, OpenSSL 3); only GatehouseIO imports it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // Outbound HTTPS to identity providers (discovery, JWKS, token endpoint); GatehouseIO/HTTPClient only.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Layer 1: core. GatehouseIO is the only Swift module that imports the C libraries (the C fence): libevent
        // and OpenSSL for the event loop and TLS, and, under Native/, thin wrappers over hiredis, SQLite and
        // libcrypt plus the one way to run blocking work off a loop (BlockingPool). The wrappers live here rather
        // than in a target of their own because hiredis's libevent adapter needs the loop's `event_base`, which
        // never leaves this module; the other modules see Swift types only (RedisClient, SQLiteDatabase, Crypt).
        .target(
            name: "GatehouseIO",
            dependencies: [
                "CLibevent", "COpenSSL", "CHiredis", "CSQLite", "CCrypt", "CCurl",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "GatehouseHTTP", swiftSettings: swiftSettings),
        .target(
            name: "GatehouseConfig",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // Layer 2: credentials and policy.
        .target(
            name: "GatehouseAuth",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // Layer 2: who is signed in. Users, password checks, the session store (one protocol; the embedded
        // SQLite backend and the Redis backend here), the gateway's own token signer, the revocation list. Pure
        // Swift: SQLite, libcrypt and hiredis are reached through GatehouseIO's Native/ wrappers, never imported.
        .target(
            name: "GatehouseSessions",
            dependencies: [
                "GatehouseIO", "GatehouseAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Layer 3: the data path.
        .target(
            name: "GatehouseProxy",
            dependencies: [
                "GatehouseIO", "GatehouseHTTP", "GatehouseAuth", "GatehouseSessions",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Layer 4: composition (config -> runtime snapshot, workers, echo upstream).
        .target(
            name: "GatehouseServer",
            dependencies: [
                "GatehouseIO", "GatehouseHTTP", "GatehouseConfig", "GatehouseAuth", "GatehouseProxy",
                "GatehouseSessions",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Layer 5: the binary.
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehouseServer", "GatehouseSessions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Test support: only Tests/ imports it.
        .target(
            name: "GatehouseTestSupport",
            dependencies: [
                "GatehouseServer", "GatehouseIO", "GatehouseHTTP", "GatehouseConfig",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatehouseIOTests",
            dependencies: ["GatehouseIO", "GatehouseTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "GatehouseHTTPTests", dependencies: ["GatehouseHTTP"], swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseAuthTests",
            dependencies: [
                "GatehouseAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "GatehouseConfigTests", dependencies: ["GatehouseConfig"], swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseSessionsTests",
            dependencies: ["GatehouseSessions", "GatehouseAuth", "GatehouseIO", "GatehouseTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatehouseProxyTests",
            dependencies: [
                "GatehouseProxy", "GatehouseHTTP", "GatehouseIO", "GatehouseSessions", "GatehouseAuth",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatehouseIntegrationTests",
            dependencies: ["GatehouseTestSupport", "GatehouseServer", "GatehouseConfig"],
            swiftSettings: swiftSettings
        ),
    ]
)
