import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign
import Kernel
import VM

/// `Session.reset` on the real kernel: after a trace that leaves actors, buffers, a dynamic
/// region, limits and a nested tree behind, the teardown brings the guest back to exactly the
/// state it booted in (the agent's dump of every cgroup's dmem files), and a trace that needs a
/// clean guest replays clean in it.
final class ResetTests: XCTestCase {
    func testResetReturnsTheGuestToItsBootState() async throws {
        guard let kb = KernelBuild.existing(version: "7.3") else {
            let msg = "no 7.3 kernel build: run vm/build-kernel.sh"
            if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil { XCTFail(msg); return }
            throw XCTSkip(msg)
        }
        let root = KernelBuild.packageRoot()
        let vm = QemuMachine(config: try await QemuConfig(kernel: kb, initramfs: try await Initramfs.build(kernel: kb, agent: try await Initramfs.agentBinary(root: root))).prepared())
        try vm.start()
        let s = try Session(machine: vm)
        defer { s.stop() }
        let boot = try vm.agent.state()

        let messy = try TraceParser(file: "messy.trace").parse("""
            profile 7.3
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /p = ok
            write /p cgroup.subtree_control "+dmem" = ok
            mkdir /p/q = ok
            write /p dmem.max "vgem/region0 64M" = ok
            write /p/q dmem.low "vgem/region0 8M" = ok
            mkdir /r = ok
            spawn a1 /p/q = ok
            spawn a2 /r = ok
            alloc a1 vgem/region0 4194304 b1 = ok
            alloc a2 vgem/region0 8388608 b2 = ok
            register vkms/dev1 67108864 = ok
            alloc a2 vkms/dev1 4096 b3 = ok

            """)
        let r = try await s.replay(messy)
        XCTAssertNil(r.divergence, "\(r.divergence.map(String.init(describing:)) ?? "")")
        XCTAssertNotEqual(try vm.agent.state(), boot, "the trace changed the tree")

        let outcome = await s.reset(from: r.model, splatsSeen: vm.splats().count)
        guard case .clean = outcome else { return XCTFail("reset: \(outcome)") }
        XCTAssertEqual(try vm.agent.state(), boot, "every cgroup's dmem files as at boot")
        // The same names are free again: the trace replays clean a second time.
        let again = try await s.replay(messy)
        XCTAssertNil(again.divergence, "\(again.divergence.map(String.init(describing:)) ?? "")")
        XCTAssertNil(again.expectationMismatch)
    }
}
