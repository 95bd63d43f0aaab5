import XCTest
@testable import DmemModel

/// Failed allocations of dmem objects (`fail N op`, issue 9; Model.faults). Every failure
/// count follows from the kernel's allocation sequence in kernel/cgroup/dmem.c of 7.3:
/// dmemcs_alloc() makes one kzalloc for a css; get_cg_pool_unlocked() finds an inited pool
/// without allocating, or runs get_cg_pool_locked(), which walks up from the cgroup making one
/// GFP_NOWAIT kzalloc per missing pool (alloc_pool_single()) until an inited one (the root's
/// is inited when made); when one of those fails it makes one GFP_KERNEL preallocation and
/// walks again, the first missing pool taking the preallocation. Region vgem/r is 16M.
final class AllocationFailureTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }
    let M: UInt64 = 1 << 20

    func model(_ profile: KernelProfile = .v7_3) -> Model {
        var m = Model(profile: profile)
        _ = m.register("vgem/r", size: 16 * M)
        return m
    }

    /// Runs `body` with `n` failures armed; returns how many it used.
    func failing(_ m: inout Model, _ n: Int, _ body: (inout Model) -> Void) -> Int {
        m.faults = n
        body(&m)
        defer { m.faults = 0 }
        return n - m.faults
    }

    func testMkdirFailsAtTheCssAllocationAndLeavesNothing() {
        var m = model()
        var e: Errno?
        XCTAssertEqual(failing(&m, 3) { e = $0.md("/a") }, 1)   // one kzalloc, then the error
        XCTAssertEqual(e, .ENOMEM)
        XCTAssertFalse(m.isLive(p("/a")))
        XCTAssertEqual(try m.dying(.root).get(), 0)               // released: nothing pinned it
        XCTAssertNil(m.md("/a"))
        // Below a cgroup without dmem in its subtree_control there is no css to allocate.
        XCTAssertEqual(failing(&m, 1) { e = $0.md("/a/x") }, 0)
        XCTAssertNil(e)
    }

    func testOneFailureIsAbsorbedByThePreallocation() {
        var m = model()
        XCTAssertNil(m.md("/a"))
        var r: FileResult?
        // /a and the root miss pools: NOWAIT for /a fails (1), the preallocation succeeds,
        // the second walk gives it to /a and makes the root's with NOWAIT.
        XCTAssertEqual(failing(&m, 1) { r = $0.w("/a", "dmem.max", "vgem/r 1M") }, 1)
        XCTAssertEqual(r, .ok)
        XCTAssertEqual(m.r("/a", "dmem.max"), "vgem/r 1048576\n")
        // Now inited: the fast path allocates nothing.
        XCTAssertEqual(failing(&m, 4) { r = $0.w("/a", "dmem.max", "vgem/r 2M") }, 0)
        XCTAssertEqual(r, .ok)
    }

    func testTwoFailuresFailTheWriteWithNothingChanged() {
        var m = model()
        XCTAssertNil(m.md("/a"))
        var r: FileResult?
        // NOWAIT for /a fails (1), the preallocation fails (2): -ENOMEM. Further failures are
        // not reached; no pool was made, so a later write allocates both again.
        XCTAssertEqual(failing(&m, 4) { r = $0.w("/a", "dmem.max", "vgem/r 1M") }, 2)
        XCTAssertEqual(r, .error(.ENOMEM))
        XCTAssertEqual(m.r("/a", "dmem.max"), "vgem/r max\n")
        XCTAssertEqual(failing(&m, 1) { r = $0.w("/a", "dmem.max", "vgem/r 1M") }, 1)
        XCTAssertEqual(r, .ok)
        // A bad line fails before any pool is looked up.
        XCTAssertEqual(failing(&m, 2) { r = $0.w("/a", "dmem.min", "nosuch 1M") }, 0)
        XCTAssertEqual(r, .error(.EINVAL))
    }

    func testAChargeThatCannotMakeItsPoolIsENOMEMWithoutCharge() {
        var m = model()
        XCTAssertNil(m.md("/a"))
        XCTAssertNil(m.spawn(1, p("/a")))
        var res: (Errno?, [BufferID]) = (nil, [])
        // ttm_resource_try_charge()'s -ENOMEM passes through ttm_bo_alloc_resource() and
        // ttm_bo_validate() unchanged: the ioctl fails and nothing is charged or placed.
        XCTAssertEqual(failing(&m, 2) { res = $0.alloc(1, region: "vgem/r", size: 4096, buffer: 1) }, 2)
        XCTAssertEqual(res.0, .ENOMEM)
        XCTAssertEqual(m.r("/a", "dmem.current"), "vgem/r 0\n")
        XCTAssertEqual(m.r("/", "dmem.current"), "vgem/r 0\n")
        XCTAssertNil(m.alloc(1, region: "vgem/r", size: 4096, buffer: 1).0)
        XCTAssertEqual(m.r("/a", "dmem.current"), "vgem/r 4096\n")
    }

    func testAThreeLevelChainTakesThreeAllocationsAndTheSecondWalkLinksIt() {
        var m = model()
        for d in ["/a", "/a/b"] { XCTAssertNil(m.md(d)) }
        XCTAssertEqual(m.w("/a", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertNil(m.spawn(1, p("/a/b")))
        var res: (Errno?, [BufferID]) = (nil, [])
        // NOWAIT /a/b fails (1); preallocation (ok); second walk: /a/b takes it, /a and the
        // root by NOWAIT: 1 injected, and the charge reaches every level.
        XCTAssertEqual(failing(&m, 1) { res = $0.alloc(1, region: "vgem/r", size: 8192, buffer: 1) }, 1)
        XCTAssertNil(res.0)
        for d in ["/a/b", "/a", "/"] { XCTAssertEqual(m.r(d, "dmem.current"), "vgem/r 8192\n", d) }
    }

    func testEnablingDmemForChildrenFailsAtTheFirstCssWithNoChange() {
        var m = model()
        for d in ["/g", "/g/h", "/g/i"] { XCTAssertNil(m.md(d)) }
        var r: FileResult?
        XCTAssertEqual(failing(&m, 2) { r = $0.w("/g", "cgroup.subtree_control", "+dmem") }, 1)
        XCTAssertEqual(r, .error(.ENOMEM))
        XCTAssertEqual(m.r("/g", "cgroup.subtree_control"), "")
        XCTAssertNil(m.r("/g/h", "dmem.max"))                      // no dmem files below
        // Without children there is nothing to allocate.
        XCTAssertNil(m.md("/k"))
        XCTAssertEqual(failing(&m, 2) { r = $0.w("/k", "cgroup.subtree_control", "+dmem") }, 0)
        XCTAssertEqual(r, .ok)
    }

    /// Runs `body` with only the `nth` allocation failing (`fail nth K`: fail-nth); true when
    /// it was injected (that many allocations were made).
    func failingNth(_ m: inout Model, _ nth: Int, _ body: (inout Model) -> Void) -> Bool {
        m.faultsPassing = nth - 1
        m.faults = 1
        body(&m)
        defer { m.faults = 0; m.faultsPassing = 0 }
        return m.faults == 0
    }

    /// dmem_cgroup_register_region(): kvasprintf() (1), kzalloc_obj() (2, freeing the name
    /// when it fails), nothing more. Either failure registers nothing; a third allocation
    /// does not exist, so `fail nth 3` registers it (kernel: corpora/regress/fault-register.trace).
    func testRegistrationFailsAtTheNameOrTheRegionAndRegistersNothing() {
        var m = Model(profile: .v7_3)
        var e: Errno?
        XCTAssertTrue(failingNth(&m, 1) { e = $0.register("vgem/region0", size: 16 * M) })
        XCTAssertEqual(e, .ENOMEM)
        XCTAssertTrue(failingNth(&m, 2) { e = $0.register("vgem/region0", size: 16 * M) })
        XCTAssertEqual(e, .ENOMEM)
        XCTAssertEqual(m.liveRegionNames, [])
        XCTAssertFalse(failingNth(&m, 3) { e = $0.register("vgem/region0", size: 16 * M) })
        XCTAssertNil(e)
        XCTAssertEqual(m.liveRegionNames, ["vgem/region0"])
        // A size of 0 returns NULL before allocating: nothing to fail.
        XCTAssertFalse(failingNth(&m, 1) { e = $0.register("vkms/z", size: 0) })
    }

    /// `fail nth 2` on a first charge two levels down: NOWAIT /a/b (1) succeeds, NOWAIT /a (2)
    /// fails; the preallocation (3) succeeds and the second walk gives it to /a (/a/b's pool
    /// stays from the first walk), then the root's by NOWAIT (4). One injected, charge made:
    /// what `fail 1` could not show, since it fails the first allocation.
    func testTheSecondPoolOfAChainFailingAloneIsAbsorbed() {
        var m = model()
        for d in ["/a", "/a/b"] { XCTAssertNil(m.md(d)) }
        XCTAssertEqual(m.w("/a", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertNil(m.spawn(1, p("/a/b")))
        var res: (Errno?, [BufferID]) = (nil, [])
        XCTAssertTrue(failingNth(&m, 2) { res = $0.alloc(1, region: "vgem/r", size: 8192, buffer: 1) })
        XCTAssertNil(res.0)
        for d in ["/a/b", "/a", "/"] { XCTAssertEqual(m.r(d, "dmem.current"), "vgem/r 8192\n", d) }
    }

    /// Enabling dmem for two children makes two csses, one dmemcs_alloc() each: `fail nth 2`
    /// fails the second (ENOMEM, no change), `fail nth 3` is never reached.
    func testEnablingDmemForTwoChildrenFailsAtTheSecondCss() {
        var m = model()
        for d in ["/g", "/g/h", "/g/i"] { XCTAssertNil(m.md(d)) }
        var r: FileResult?
        XCTAssertTrue(failingNth(&m, 2) { r = $0.w("/g", "cgroup.subtree_control", "+dmem") })
        XCTAssertEqual(r, .error(.ENOMEM))
        XCTAssertEqual(m.r("/g", "cgroup.subtree_control"), "")
        XCTAssertFalse(failingNth(&m, 3) { r = $0.w("/g", "cgroup.subtree_control", "+dmem") })
        XCTAssertEqual(r, .ok)
        XCTAssertEqual(m.r("/g/i", "dmem.max"), "vgem/r max\n")
    }

    /// 7.2.13 allocates the same way (its dmemcs_alloc, alloc_pool_single, get_cg_pool_locked
    /// and get_cg_pool_unlocked are 7.3.4's, line for line). Its TTM maps -EAGAIN to -ENOSPC in
    /// ttm_resource_alloc() and returns any other error from ttm_bo_alloc_resource(): ENOMEM.
    /// Its limit writes go line by line, so a line whose pool cannot be made ends the write with
    /// the lines before it applied.
    func testOn72AChargeIsENOMEMAndAWriteKeepsItsEarlierLines() {
        var m = model(.v7_2)
        _ = m.register("vkms/k", size: 16 * M)
        XCTAssertNil(m.md("/a"))
        XCTAssertNil(m.spawn(1, p("/a")))
        var res: (Errno?, [BufferID]) = (nil, [])
        XCTAssertEqual(failing(&m, 2) { res = $0.alloc(1, region: "vgem/r", size: 4096, buffer: 1) }, 2)
        XCTAssertEqual(res.0, .ENOMEM)
        XCTAssertEqual(m.r("/a", "dmem.current"), "vgem/r 0\nvkms/k 0\n")
        // The failed charge made no pool; this write makes /a's on vgem/r.
        XCTAssertEqual(m.w("/a", "dmem.max", "vgem/r 1M"), .ok)
        var r: FileResult?
        // Line 1 (vgem/r, inited pool) applies; line 2 (vkms/k: /a and the root miss pools) fails.
        XCTAssertEqual(failing(&m, 2) { r = $0.w("/a", "dmem.max", "vgem/r 2M\nvkms/k 3M") }, 2)
        XCTAssertEqual(r, .error(.ENOMEM))
        XCTAssertEqual(m.r("/a", "dmem.max"), "vgem/r 2097152\nvkms/k max\n")
    }
}
