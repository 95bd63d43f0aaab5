import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign
import VM

/// The C reproducer on the real kernel: built with gcc -static as `dmemfuzz repro --run` builds
/// it, run in a guest of vm/build-kernel.sh's build. A trace the kernel agrees with must pass
/// (exit 0): before repro.c recorded vgem buffers as resident, it never saw an eviction and
/// failed every trace that evicts.
final class ReproInGuestTests: XCTestCase {
    func testReproducerOfAnEvictingTracePassesOnTheUnmodifiedKernel() throws {
        guard let kb = KernelBuild.existing(version: "7.3") else {
            let msg = "no 7.3 kernel build: run vm/build-kernel.sh"
            if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil { XCTFail(msg); return }
            throw XCTSkip(msg)
        }
        let root = KernelBuild.packageRoot()
        let file = root.appendingPathComponent("corpora/regress/ttm-range-manager-contiguous.trace")
        let trace = try TraceParser(file: file.lastPathComponent).parse(String(contentsOf: file, encoding: .utf8))
        XCTAssertTrue(trace.steps.contains { !($0.expect?.evicted.isEmpty ?? true) }, "the trace must evict")

        let bin = try ReproBinary.build(try Repro.c(trace))

        let vm = VirtualMachine(config: VMConfig(kernel: kb, initramfs: try Initramfs.build(kernel: kb, agent: try Initramfs.agentBinary(root: root))))
        try vm.start()
        defer { vm.poweroff() }
        try vm.agent.put("/tmp/repro", bin)
        let (status, output) = try vm.agent.shell("/tmp/repro", timeout: 300)
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("evicted b2"), output)
        XCTAssertEqual(vm.splats().count, 0, vm.console)
    }
}
