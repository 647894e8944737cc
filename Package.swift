// swift-tools-version:6.0
import PackageDescription

// One target per layer (see README "Layout"): policy and output logic are plain Swift with
// no kernel calls; everything that touches the kernel goes through the C shim.
let package = Package(
    name: "warden",
    products: [
        .executable(name: "warden", targets: ["warden"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The exposition format (Prometheus) and the small HTTP server that serves it
        // during a run (NIOHTTP1: lighter than a web framework, and static-link friendly).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The C ABI shared with the BPF programs (bpf/include/warden/event.h).
        .target(name: "CWardenABI"),
        // libseccomp, from Debian's libseccomp-dev.
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // Thin syscall wrappers and the fork/exec path: no Swift runs in a forked child.
        .target(
            name: "CWardenShim",
            dependencies: ["CSeccomp"],
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // libbpf, from Debian's libbpf-dev.
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The BPF loader over libbpf, and the objects from prebuilt/ embedded as bytes.
        .target(
            name: "CWardenBPF",
            dependencies: ["CLibbpf"],
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // The BPF layer in Swift: network programs per run cgroup, ring-buffer draining.
        .target(
            name: "WardenBPF",
            dependencies: ["CWardenBPF", "CCrypto", "WardenPolicy", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // Policy model, TOML parsing, validation, merge with provenance. No kernel calls.
        .target(
            name: "WardenPolicy",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]
        ),
        // Event model, JSONL log, metrics snapshot, text/JSON/SARIF/Prometheus reports, the
        // policy learned from a run. No kernel calls.
        .target(
            name: "WardenOutput",
            dependencies: ["WardenPolicy", .product(name: "SystemPackage", package: "swift-system"),
                           .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // cgroup v2, the supervised child, signals: the confinement layer.
        .target(
            name: "WardenSandbox",
            dependencies: ["CWardenShim", "WardenPolicy", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // Glue used by the CLI: resolve the policy, run the child, write the audit trail.
        .target(
            name: "WardenRun",
            dependencies: ["WardenPolicy", "WardenOutput", "WardenSandbox", "WardenBPF",
                           .product(name: "SystemPackage", package: "swift-system"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        .executableTarget(
            name: "warden",
            dependencies: [
                "WardenRun", "WardenPolicy", "WardenSandbox", "WardenOutput",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Tier 1's file_open decision (bpf/include/warden/lsm_decide.h) on a host trie: tests only.
        .target(name: "CWardenLSMHost", path: "Tests/CWardenLSMHost"),
        .testTarget(name: "WardenPolicyTests", dependencies: ["WardenPolicy", "CWardenLSMHost"]),
        .testTarget(name: "WardenOutputTests", dependencies: ["WardenOutput", "WardenPolicy", "CWardenABI"]),
        .testTarget(name: "WardenSandboxTests", dependencies: ["WardenSandbox", "WardenPolicy", "CWardenShim"]),
        .testTarget(name: "WardenRunTests", dependencies: ["WardenRun", "WardenPolicy", "WardenOutput"]),
        .testTarget(
            name: "WardenIntegrationTests",
            dependencies: ["WardenSandbox", "WardenRun", "WardenOutput", "WardenPolicy", "WardenBPF", "CWardenShim", "warden"]
        ),
    ]
)
