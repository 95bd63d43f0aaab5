import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign
import Kernel
import VM

/// The C reproducer on the real kernel: built with gcc -static as `dmemfuzz repro --run` builds
/// it, run in a guest of vm/build-kernel.sh's build.
final class ReproInGuestTests: XCTestCase {
    /// Corpus traces that between them alloc, free, write, read, move, transfer and evict
    /// (ReproOutputTests checks that on the host).
    static let traces = [
        "regress/ttm-range-manager-contiguous", "regress/transfer-errnos-7.3", "regress/teardown-live-charges",
        "regress/delegation", "regress/reclaim-7.3", "regress/fault-pools", "regress/fault-register", "regress/fdinfo-fork",
    ]

    static func corpus(_ name: String) -> URL {
        KernelBuild.packageRoot().appendingPathComponent("corpora/\(name).trace")
    }

    static func config() async throws -> QemuConfig {
        guard let kb = KernelBuild.existing(version: "7.3") else {
            let msg = "no 7.3 kernel build: run vm/build-kernel.sh"
            if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil { XCTFail(msg) }
            throw XCTSkip(msg)
        }
        return try await QemuConfig(kernel: kb, initramfs: try await Initramfs.build(kernel: kb, agent: try await Initramfs.agentBinary(root: KernelBuild.packageRoot()))).prepared()
    }

    static func parse(_ file: URL) throws -> Trace {
        try TraceParser(file: file.lastPathComponent).parse(String(contentsOf: file, encoding: .utf8))
    }

    /// Runs the reproducer of `trace` in a freshly booted guest of `config`.
    static func runRepro(_ trace: Trace, config: QemuConfig) async throws -> (status: Int, output: String, splats: Int, console: String) {
        let bin = try await ReproBinary.build(try Repro.c(trace))
        let vm = QemuMachine(config: config)
        try vm.start()
        defer { vm.poweroff() }
        try vm.agent.put("/tmp/repro", bin)
        let (status, output) = try vm.agent.shell("/tmp/repro", timeout: 300)
        return (status, output, vm.splats().count, vm.console)
    }

    /// A trace the kernel agrees with must pass (exit 0): before repro.c recorded vgem buffers as
    /// resident, it never saw an eviction and failed every trace that evicts.
    func testReproducerOfAnEvictingTracePassesOnTheUnmodifiedKernel() async throws {
        let config = try await Self.config()
        let trace = try Self.parse(Self.corpus("regress/ttm-range-manager-contiguous"))
        XCTAssertTrue(trace.steps.contains { !($0.expect?.evicted.isEmpty ?? true) }, "the trace must evict")
        let r = try await Self.runRepro(trace, config: config)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("evicted b2"), r.output)
        XCTAssertEqual(r.splats, 0, r.console)
    }

    /// Issue 12: a reproducer runs racing groups in threads behind a barrier and accepts every
    /// order the model allows; with DMEMFUZZ_REPRO_LOOP it runs the whole trace again and again,
    /// removing what each run made. The race traces pass three runs in a row on 7.3.4.
    func testRacingGroupsRunInThreadsAndLoop() async throws {
        let config = try await Self.config()
        for name in ["regress/race-groups", "regress/race-first-charges"] {
            let bin = try await ReproBinary.build(try Repro.c(try Self.parse(Self.corpus(name))))
            let vm = QemuMachine(config: config)
            try vm.start()
            defer { vm.poweroff() }
            try vm.agent.put("/tmp/repro", bin)
            let (status, output) = try vm.agent.shell("DMEMFUZZ_REPRO_LOOP=3 /tmp/repro", timeout: 300)
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.contains("# no mismatch in 3 runs"), output)
            XCTAssertEqual(output.components(separatedBy: "par { ").count - 1, 3 * (name.hasSuffix("groups") ? 7 : 2), output)
            XCTAssertEqual(vm.splats().count, 0, vm.console)
        }
    }

    /// Issue 13: the reproducer prints, line for line, what the lockstep run of the same trace
    /// saw the kernel do: the trace run in lockstep in one guest, its reproducer in a fresh guest
    /// of the same configuration, the outputs compared by `ReproOutput.compare`.
    func testReproducerOutputIsTheLockstepRunsOutcomes() async throws {
        let config = try await Self.config()
        for name in Self.traces {
            let trace = try Self.parse(Self.corpus(name))
            let vm = QemuMachine(config: config)
            try vm.start()
            let session = try Session(machine: vm, kcov: false)
            let result: ReplayResult
            do { result = try await session.replay(trace) } catch { session.stop(); throw error }
            let splats = vm.splats().count, console = vm.console
            session.stop()
            XCTAssertNil(result.divergence, "\(name): \(result.divergence.map { "\($0)" } ?? "")")
            XCTAssertEqual(splats, 0, "\(name): \(console)")

            let r = try await Self.runRepro(trace, config: config)
            let mismatches = ReproOutput.compare(output: r.output, lockstep: result.executed)
            XCTAssertEqual(mismatches, [], "\(name):\n" + mismatches.map(\.description).joined(separator: "\n") + "\n--- repro output:\n" + r.output)
            XCTAssertEqual(r.status, result.passed ? 0 : 1, "\(name): \(r.output)")
            XCTAssertEqual(r.splats, 0, "\(name): \(r.console)")
        }
    }
}
