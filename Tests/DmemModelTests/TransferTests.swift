import XCTest
@testable import DmemModel

/// `option charge-transfer`: dmem_cgroup_transfer_charge() of the project's reference patch
/// (vm/patches/7.3/0001-…, the GPU cgroup controller RFC v2's dma_buf_charge_transfer() on dmem
/// pools) behind vgem_dmem_transfer_ioctl(). Region vgem/r is 16M; /p holds /p/a (actor 1, the
/// sender) and /p/b (actor 2, the receiver), so /p is the ancestor both chains share. Every
/// number follows from page_counter_try_charge() on the receiver's chain first (each counter it
/// passes keeps its raised watermark, the failing one and those above it do not), then
/// page_counter_uncharge() on the sender's.
final class TransferTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }
    let M: UInt64 = 1 << 20

    /// b1 (4M) charged to /p/a.
    func setup(options: ModelOptions = [.chargeTransfer]) -> Model {
        var m = Model(profile: .v7_3, options: options)
        _ = m.register("vgem/r", size: 16 * M)
        for d in ["/p", "/p/a", "/p/b"] { XCTAssertNil(m.md(d)) }
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertNil(m.spawn(1, p("/p/a"))); XCTAssertNil(m.spawn(2, p("/p/b")))
        XCTAssertNil(m.alloc(1, region: "vgem/r", size: 4 * M, buffer: 1).0)
        return m
    }

    func testTransferChargesTheReceiverFirstSoTheSharedAncestorPeaksAtTwice() {
        var m = setup()
        XCTAssertNil(m.transfer(1, buffer: 1, to: 2))
        XCTAssertEqual(m.r("/p/a", "dmem.current"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p", "dmem.current"), "vgem/r 4194304\n")
        // /p carried b1 for the sender and the receiver at once: 4M + 4M.
        XCTAssertEqual(m.r("/p", "dmem.peak"), "vgem/r 8388608\n")
        XCTAssertEqual(m.r("/p/a", "dmem.peak"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p/b", "dmem.peak"), "vgem/r 4194304\n")
        // The handle stays in a1's file: a2's exit leaves the charge, a1's free uncharges /p/b.
        XCTAssertEqual(try m.resident(1).get(), true)
        XCTAssertNil(m.exit(2))
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 4194304\n")
        XCTAssertNil(m.free(1))
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/p", "dmem.current"), "vgem/r 0\n")
    }

    func testReceiverLimitExactHeadroomPassesOnePageLessIsENOMEMWithNothingMoved() {
        var m = setup()
        XCTAssertEqual(m.w("/p/b", "dmem.max", "vgem/r 4190208"), .ok)           // 4M - 4096
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 2), .ENOMEM)
        XCTAssertEqual(m.r("/p/a", "dmem.current"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 0\n")
        // /p/b was the failing (first) counter: its watermark never moved, nor did /p's.
        XCTAssertEqual(m.r("/p/b", "dmem.peak"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/p", "dmem.peak"), "vgem/r 4194304\n")
        XCTAssertEqual(m.w("/p/b", "dmem.max", "vgem/r 4194304"), .ok)
        XCTAssertNil(m.transfer(1, buffer: 1, to: 2))
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 4194304\n")
    }

    func testLimitOnTheSharedAncestorCountsTheSizeTwiceAndTheReceiverPeakStays() {
        var m = setup()
        // /p uses 4M; the transfer needs 8M there for a moment. 8M - 4096 fails at /p, after /p/b
        // was charged (watermark 4M) and cancelled.
        XCTAssertEqual(m.w("/p", "dmem.max", "vgem/r 8384512"), .ok)
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 2), .ENOMEM)
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/p/b", "dmem.peak"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p", "dmem.peak"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p/a", "dmem.current"), "vgem/r 4194304\n")
        XCTAssertEqual(m.w("/p", "dmem.max", "vgem/r 8M"), .ok)
        XCTAssertNil(m.transfer(1, buffer: 1, to: 2))
        XCTAssertEqual(m.r("/p", "dmem.peak"), "vgem/r 8388608\n")
        XCTAssertEqual(m.r("/p", "dmem.current"), "vgem/r 4194304\n")
    }

    func testTransferToTheOwnCgroupNeedsTheHeadroomTwice() {
        var m = setup()
        XCTAssertEqual(m.w("/p/a", "dmem.max", "vgem/r 4M"), .ok)
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 1), .ENOMEM)
        XCTAssertEqual(m.r("/p/a", "dmem.peak"), "vgem/r 4194304\n")
        XCTAssertEqual(m.w("/p/a", "dmem.max", "vgem/r 8M"), .ok)
        XCTAssertNil(m.transfer(1, buffer: 1, to: 1))
        XCTAssertEqual(m.r("/p/a", "dmem.current"), "vgem/r 4194304\n")
        XCTAssertEqual(m.r("/p/a", "dmem.peak"), "vgem/r 8388608\n")
    }

    func testErrnosInTheOrderTheIoctlChecks() {
        var m = setup()
        XCTAssertEqual(m.transfer(9, buffer: 1, to: 2), .ESRCH)                   // no such actor
        XCTAssertEqual(m.transfer(2, buffer: 1, to: 2), .ENOENT)                  // not a2's file
        XCTAssertEqual(m.transfer(1, buffer: 7, to: 2), .ENOENT)
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 9), .ESRCH)                   // get_pid_task(pid 0)
        // The RFC's rule: only a task of the charged cgroup may move the charge.
        XCTAssertNil(m.move(1, p("/p/b")))
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 2), .EPERM)
        XCTAssertNil(m.move(1, p("/p/a")))
        // Evicted (lowering /p/a's max reclaims it): system placement has no charge to move.
        XCTAssertEqual(m.w("/p/a", "dmem.max", "vgem/r 0"), .ok)
        XCTAssertEqual(try m.resident(1).get(), false)
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 2), .EINVAL)
        // Charge-only regions have no vgem handle.
        _ = m.register("vkms/k", size: 16 * M)
        XCTAssertNil(m.alloc(1, region: "vkms/k", size: M, buffer: 2).0)
        XCTAssertEqual(m.transfer(1, buffer: 2, to: 2), .ENOENT)
    }

    func testWithoutTheOptionVgemHasNoSuchIoctl() {
        var m = setup(options: [])
        XCTAssertEqual(m.transfer(1, buffer: 1, to: 2), .EINVAL)
        XCTAssertEqual(m.transfer(2, buffer: 1, to: 2), .ENOENT)                  // the agent refuses first
        XCTAssertEqual(m.r("/p/a", "dmem.current"), "vgem/r 4194304\n")
    }

    func testTheReceiversPoolIsWhatEvictionAndReclaimSeeAfterwards() {
        var m = setup()
        XCTAssertNil(m.transfer(1, buffer: 1, to: 2))
        // Reclaim on the sender finds nothing of b1; on the receiver it evicts b1 and uncharges /p/b.
        XCTAssertEqual(m.w("/p/a", "dmem.max", "vgem/r 0"), .ok)
        XCTAssertEqual(try m.resident(1).get(), true)
        XCTAssertEqual(m.w("/p/b", "dmem.max", "vgem/r 0"), .ok)
        XCTAssertEqual(try m.resident(1).get(), false)
        XCTAssertEqual(m.r("/p/b", "dmem.current"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/p", "dmem.current"), "vgem/r 0\n")
    }
}
