// swift-tools-version: 6.0
// The Patchbay SDK: the C ABI header as a Swift module, and the Swift face over
// it for connector authors. It depends on no package at all, on purpose.
import PackageDescription

/// The compiler marks what leaks into the API (`public import`), asks for every import a file relies on,
/// and spells existentials `any`.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "PatchbaySDK",
    products: [
        .library(name: "PatchbayABI", targets: ["PatchbayABI"]),
        .library(name: "PatchbaySDK", targets: ["PatchbaySDK"]),
        // A fake host for a connector's unit tests: in-memory tables, the header's rules kept.
        .library(name: "PatchbaySDKTesting", targets: ["PatchbaySDKTesting"]),
    ],
    targets: [
        // Header-only: include/module.modulemap maps include/patchbay/connector.h.
        .systemLibrary(name: "PatchbayABI", path: "include"),
        .target(name: "PatchbaySDK", dependencies: ["PatchbayABI"], path: "Sources/PatchbaySDK", swiftSettings: strict),
        .target(name: "PatchbaySDKTesting", dependencies: ["PatchbaySDK", "PatchbayABI"], path: "Sources/PatchbaySDKTesting",
                swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
