// swift-tools-version: 6.2
import PackageDescription

// Layering (syzkaller-style): DmemModel and Trace are pure and Foundation-free so the guest agent
// can link them into a small static binary; only the host side (Fuzz drivers, CLI, VM, Kernel)
// uses Foundation and subprocesses.
let package = Package(
    name: "dmemfuzz",
    products: [
        .executable(name: "dmemfuzz", targets: ["DmemfuzzCLI"]),
        .executable(name: "dmemfuzz-agent", targets: ["GuestAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // The reference model of kernel/cgroup/dmem.c + mm/page_counter.c + TTM eviction. No I/O.
        .target(name: "DmemModel"),
        // Ops, outcomes, the text format (parse / print). No I/O, no Foundation.
        .target(name: "Trace", dependencies: ["DmemModel"]),
        // Executor protocol, model executor, generator, shrinker, lockstep driver.
        .target(name: "Fuzz", dependencies: ["DmemModel", "Trace"]),
        // The host <-> agent line protocol: typed requests and replies, the hex codec. No Foundation
        // (the agent links it).
        .target(name: "AgentProtocol", dependencies: ["DmemModel", "Trace"]),
        .testTarget(name: "AgentProtocolTests", dependencies: ["AgentProtocol", "Trace", "DmemModel"]),
        // --- kernel side (issue 3) targets go below this line ---
        // libkmod / libcap (+ raw ioctl/syscall shims) for the guest agent.
        .systemLibrary(name: "CKmod", path: "Sources/CKmod", pkgConfig: "libkmod",
                       providers: [.apt(["libkmod-dev"])]),
        .systemLibrary(name: "CCap", path: "Sources/CCap", pkgConfig: "libcap",
                       providers: [.apt(["libcap-dev"])]),
        // The guest agent's request handling, boot setup, op executor and actors: Glibc only,
        // never Foundation (the agent is a static binary; AgentCoreTests checks the imports).
        .target(name: "AgentCore", dependencies: ["CKmod", "CCap", "AgentProtocol", "Trace", "DmemModel"]),
        .testTarget(name: "AgentCoreTests", dependencies: ["AgentCore", "AgentProtocol", "Trace", "DmemModel"]),
        // PID 1 of the guest initramfs: AgentCore's entry point (static binary size: no Foundation).
        .executableTarget(name: "GuestAgent", dependencies: ["AgentCore"]),
        // Host side: child processes (Shell), the splat parser (Splat), the guest kernel and its
        // initramfs (Kernel), guests behind the Machine protocol with QEMU as the one machine (VM).
        // (QEMU outlives any one call, so it is a Foundation.Process; every other child runs through
        // swift-subprocess in Shell, awaited, before any guest starts: see Shell.swift.)
        // Every message dmemfuzz prints on stderr, through swift-log with one handler of its own.
        .target(name: "Log", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "LogTests", dependencies: ["Log", .product(name: "Logging", package: "swift-log")]),
        // Child processes that run to completion (gcc, strip, readelf, swift build, the kernel build).
        .target(name: "Shell", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]),
        .testTarget(name: "ShellTests", dependencies: ["Shell"]),
        // The console splat parser: a guest's console text in, syzbot-style reports out. No I/O, no
        // Foundation; tested against real consoles (Tests/SplatTests/testdata/).
        .target(name: "Splat"),
        .testTarget(name: "SplatTests", dependencies: ["Splat"], exclude: ["testdata"]),
        // The guest kernel: building it (vm/build-kernel.sh), its manifest, its KCOV ranges, the
        // initramfs around the agent.
        .target(name: "Kernel", dependencies: ["Shell", "Log", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "Shell"]),
        // Guests: the Machine/MachinePool protocol, QEMU behind it, the agent client, snapshots.
        .target(name: "VM", dependencies: ["AgentProtocol", "Trace", "DmemModel", "Kernel", "Shell", "Splat", "Log",
                                           .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "VMTests", dependencies: ["VM", "Kernel", "Splat", "AgentProtocol", "Trace", "DmemModel"], exclude: ["testdata"]),

        // Host side of a campaign: the kernel executor, findings, reports, corpora.
        // repro/repro.h: the reproducer's fixed C, a real file gcc and the tests read; compiled in.
        .target(name: "Campaign", dependencies: ["DmemModel", "Trace", "Fuzz", "VM", "Kernel", "Splat", "Shell", "AgentProtocol"],
                resources: [.embedInCode("repro/repro.h")]),
        .testTarget(name: "CampaignTests", dependencies: ["Campaign", "Fuzz", "Trace", "DmemModel", "AgentProtocol", "VM", "Kernel", "Splat"]),

        // --- end kernel side ---
        .executableTarget(
            name: "DmemfuzzCLI",
            dependencies: [
                "DmemModel", "Trace", "Fuzz", "VM", "Kernel", "Splat", "Campaign", "AgentProtocol", "Log",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DmemModelTests", dependencies: ["DmemModel"]),
        .testTarget(name: "TraceTests", dependencies: ["Trace", "DmemModel"]),
        .testTarget(name: "FuzzTests", dependencies: ["Fuzz", "Trace", "DmemModel", "Campaign"]),
        // The built dmemfuzz binary and the vm/ scripts over malformed input (BadInput/): exit
        // codes and first lines. No dependencies: it runs the products, not the library.
        .testTarget(name: "CLITests", exclude: ["BadInput"]),
    ]
)
