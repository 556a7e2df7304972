// swift-tools-version: 6.0
import PackageDescription

/// The runner starts once per task, so it and every module it links leave out
/// Foundation and the implicitly imported Concurrency/StringProcessing modules
/// (~0.9 ms of startup, measured).
let lean: [SwiftSetting] = [
    .unsafeFlags([
        "-Xfrontend", "-disable-implicit-string-processing-module-import",
        "-Xfrontend", "-disable-implicit-concurrency-module-import",
    ]),
]

/// Every target: the compiler marks what leaks into a module's API (`public import`), asks for the
/// imports a file relies on, and spells existentials `any`, as Hummingbird does.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Patchbay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "patchbay", targets: ["patchbay"]),
        .executable(name: "patchbay-runner", targets: ["patchbay-runner"]),
        .executable(name: "patchbay-bench", targets: ["patchbay-bench"]),
        .executable(name: "patchbay-demo-api", targets: ["patchbay-demo-api"]),
        // First-party Swift connectors: each one shared library.
        .library(name: "PatchbayTableDiff", type: .dynamic, targets: ["PatchbayTableDiff"]),
    ],
    dependencies: [
        .package(path: "SDK"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        // System calls Swift cannot make directly (variadic prctl/syscall, posix_spawn with setsid).
        .target(name: "CPatchbaySys", path: "Sources/CPatchbaySys"),
        // The one vocabulary (pattern, failure class, log level, descriptor, table file, outcome), numbers
        // from the ABI header. No Foundation: the runner links it.
        .target(name: "PatchbayCore", dependencies: [.product(name: "PatchbayABI", package: "SDK")],
                path: "Sources/PatchbayCore", swiftSettings: lean + strict),
        // The runner wire protocol: frames and messages. No Foundation: the runner links it.
        .target(name: "PatchbayWire", dependencies: ["PatchbayCore"], path: "Sources/PatchbayWire", swiftSettings: lean + strict),
        // The runner process: loads one connector and serves the host callback table.
        .executableTarget(
            name: "patchbay-runner",
            dependencies: [
                "PatchbayCore", "PatchbayWire", "CPatchbaySys",
                .product(name: "PatchbayABI", package: "SDK"),
            ],
            path: "Sources/patchbay-runner",
            swiftSettings: lean + strict,
            // One runner process per task: a statically linked Swift runtime spares the dynamic loader
            // ~0.5 ms of symbol binding per start (measured). The runtime's symbols are not exported
            // (--exclude-libs ALL), so a Swift connector loads its own libswiftCore without interposition.
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))]
        ),
        // Host side of isolation: spawning, limits, supervision, exit classification.
        .target(name: "PatchbayRunner", dependencies: ["PatchbayCore", "PatchbayWire", "CPatchbaySys", .product(name: "Logging", package: "swift-log")],
                path: "Sources/PatchbayRunner"),
        // Plugin directories, probing, catalog, quarantine, hot-add.
        .target(
            name: "PatchbayRegistry",
            dependencies: ["PatchbayRunner", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            path: "Sources/PatchbayRegistry"
        ),
        // Flows: the model, YAML and Keboola JSON parsing, validation with locations. No processes, no SQL.
        .target(name: "PatchbayModel", dependencies: ["PatchbayCore", "PatchbaySchedule", "Yams"], path: "Sources/PatchbayModel"),
        // Cron expressions, time zones' transitions from the system's tzdata, and when a schedule fires. Pure: no
        // store, no runs, no clock of its own.
        .target(name: "PatchbaySchedule", dependencies: ["PatchbayCore"], path: "Sources/PatchbaySchedule"),
        // Secrets: master key, connector-bound AES-GCM values, token hashes and scopes, masking. No SQL, no processes.
        .target(name: "PatchbaySecurity", dependencies: ["PatchbayModel", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/PatchbaySecurity"),
        // SQLite: schema, migrations, queries. Knows no connectors and no processes.
        .target(
            name: "PatchbayStore",
            dependencies: ["PatchbayCore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/PatchbayStore"
        ),
        // The phase runner: runs, jobs, states, locks, retries, output hand-off, pattern semantics.
        .target(
            name: "PatchbayEngine",
            dependencies: ["PatchbayCore", "PatchbayModel", "PatchbaySchedule", "PatchbayStore", "PatchbayRegistry", "PatchbayRunner", "PatchbayWire",
                           "PatchbaySecurity", .product(name: "Logging", package: "swift-log")],
            path: "Sources/PatchbayEngine"
        ),
        // The JSON shapes of runs, jobs, logs and plugins: one representation for `--output json` and the HTTP API.
        .target(name: "PatchbayViews", dependencies: ["PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayRegistry", "PatchbaySchedule"],
                path: "Sources/PatchbayViews"),
        // `patchbay serve`: the HTTP API (Hummingbird 2), the scheduler and trigger loop, the runs it executes and their
        // drain on SIGTERM, Prometheus metrics. Reaches the project only through the Engine.
        .target(
            name: "PatchbayServer",
            dependencies: ["PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayRegistry", "PatchbaySchedule", "PatchbaySecurity", "PatchbayViews",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/PatchbayServer",
            resources: [.copy("openapi.json")]
        ),
        .target(
            name: "PatchbayWeb",
            dependencies: ["PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayRegistry", "PatchbaySchedule", "PatchbaySecurity", "PatchbayServer", "PatchbayViews",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Mustache", package: "swift-mustache"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/PatchbayWeb",
            resources: [.copy("Templates"), .copy("Static")]
        ),
        .executableTarget(
            name: "patchbay",
            dependencies: [
                "PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayRegistry", "PatchbayRunner", "PatchbaySchedule", "PatchbaySecurity",
                "PatchbayServer", "PatchbayViews", "PatchbayWeb", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/patchbay"
        ),
        // The demo service the tests, the quickstart and the HTTP benchmark talk to (a connector's counterpart,
        // never part of the host): paginated JSON of every kind, OAuth2, an asynchronous export, faults.
        .executableTarget(
            name: "patchbay-demo-api",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTLS", package: "hummingbird"),
                           .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/Fixtures/services/demo-api"
        ),
        .executableTarget(
            name: "patchbay-bench",
            dependencies: ["PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayRegistry", "PatchbayRunner", "PatchbaySchedule"],
            path: "Sources/patchbay-bench"
        ),
        .target(
            name: "PatchbayTableDiff",
            dependencies: [.product(name: "PatchbaySDK", package: "SDK")],
            path: "Plugins/table-diff",
            exclude: ["README.md"]
        ),
        // Unit tests, one target per module (the end-to-end suite through real processes is PatchbayTests).
        .testTarget(name: "PatchbayCoreTests", dependencies: ["PatchbayCore", "PatchbayRunner", "PatchbayWire"], path: "Tests/PatchbayCoreTests"),
        .testTarget(name: "PatchbayScheduleTests", dependencies: ["PatchbaySchedule"], path: "Tests/PatchbayScheduleTests"),
        .testTarget(name: "PatchbayServerTests", dependencies: ["PatchbayServer"], path: "Tests/PatchbayServerTests"),
        .testTarget(name: "PatchbayModelTests", dependencies: ["PatchbayModel", "PatchbayCore"], path: "Tests/PatchbayModelTests"),
        .testTarget(name: "PatchbaySecurityTests", dependencies: ["PatchbaySecurity", "PatchbayModel"], path: "Tests/PatchbaySecurityTests"),
        .testTarget(name: "PatchbayStoreTests", dependencies: ["PatchbayStore", "PatchbayCore", .product(name: "GRDB", package: "GRDB.swift")],
                    path: "Tests/PatchbayStoreTests"),
        .testTarget(name: "PatchbaySDKTests", dependencies: [.product(name: "PatchbaySDK", package: "SDK"),
                                                          .product(name: "PatchbaySDKTesting", package: "SDK"), "PatchbayTableDiff"],
                    path: "Tests/PatchbaySDKTests"),
        .testTarget(
            name: "PatchbayTests",
            dependencies: ["PatchbayCore", "PatchbayEngine", "PatchbayModel", "PatchbayStore", "PatchbayRegistry", "PatchbayRunner", "PatchbayWire",
                           "PatchbaySecurity", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/PatchbayTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Targets that name no settings of their own get the strict ones too.
for target in package.targets where target.swiftSettings == nil && target.name != "CPatchbaySys" {
    target.swiftSettings = strict
}
