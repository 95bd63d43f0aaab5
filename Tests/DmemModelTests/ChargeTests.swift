import XCTest
@testable import DmemModel

/// Charges, hierarchy, teardown and pool lifetime (dmem.c try_charge/uncharge, css offline/free,
/// cgroup.c rmdir and nr_dying_descendants; region unregister is RegionsTests).
final class ChargeTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }

    func testChargeFailsAtFirstLimitingAncestorAndPeakKeepsTransientUsage() {
        var m = Model(profile: .v7_3)
        _ = m.register("vkms/a", size: 64 << 20)
        _ = m.md("/p"); _ = m.md("/p/c")
        _ = m.w("/", "cgroup.subtree_control", "+dmem")
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertEqual(m.w("/p", "dmem.max", "vkms/a 8192"), .ok)
        XCTAssertNil(m.spawn(1, p("/p/c")))
        XCTAssertEqual(m.alloc(1, region: "vkms/a", size: 12288, buffer: 1).0, .ENOSPC)
        XCTAssertEqual(m.r("/p/c", "dmem.current"), "vkms/a 0\n")
        XCTAssertEqual(m.r("/p/c", "dmem.peak"), "vkms/a 12288\n")      // charged, then cancelled
        XCTAssertEqual(m.r("/p", "dmem.peak"), "vkms/a 0\n")            // the failing counter is untouched
        XCTAssertNil(m.alloc(1, region: "vkms/a", size: 8192, buffer: 2).0)
        XCTAssertEqual(m.r("/", "dmem.current"), "vkms/a 8192\n")
    }

    func testUnchargeGoesToThePoolThatWasChargedAfterMoveAndRmdir() {
        var m = Model(profile: .v7_2)
        _ = m.register("vkms/a", size: 64 << 20)
        _ = m.md("/x"); _ = m.md("/y")
        XCTAssertNil(m.spawn(1, p("/x")))
        XCTAssertNil(m.alloc(1, region: "vkms/a", size: 4096, buffer: 1).0)
        XCTAssertNil(m.move(1, p("/y")))
        XCTAssertEqual(m.w("/x", "dmem.max", "vkms/a 0"), .ok)          // 7.2: below usage, ignored
        XCTAssertEqual(m.r("/x", "dmem.max"), "vkms/a max\n")
        XCTAssertNil(m.rmdir(p("/x")))                                  // no tasks, no children: allowed
        XCTAssertEqual(try m.dying(.root).get(), 1)                     // pinned by the charge
        XCTAssertEqual(m.r("/", "dmem.current"), "vkms/a 4096\n")
        XCTAssertNil(m.free(1))
        XCTAssertEqual(try m.dying(.root).get(), 0)
        XCTAssertEqual(m.r("/", "dmem.current"), "vkms/a 0\n")
        XCTAssertEqual(m.r("/y", "dmem.current"), "vkms/a 0\n")
    }

    func testRmdirRulesAndRecreatedCgroupIsFresh() {
        var m = Model(profile: .v7_3)
        _ = m.register("vkms/a", size: 64 << 20)
        _ = m.md("/x"); _ = m.md("/x/y")
        XCTAssertEqual(m.rmdir(p("/x")), .EBUSY)                        // live child
        XCTAssertNil(m.spawn(1, p("/x/y")))
        XCTAssertEqual(m.rmdir(p("/x/y")), .EBUSY)                      // task
        XCTAssertNil(m.exit(1))
        XCTAssertEqual(m.w("/x", "dmem.max", "vkms/a 4096"), .ok)
        XCTAssertNil(m.rmdir(p("/x/y"))); XCTAssertNil(m.rmdir(p("/x")))
        XCTAssertNil(m.md("/x"))
        XCTAssertEqual(m.r("/x", "dmem.max"), "vkms/a max\n")
        XCTAssertEqual(m.md("/x"), .EEXIST)
        XCTAssertEqual(m.md("/q/r"), .ENOENT)
    }

    func testOfflineResetsLimitsWhileUsageStays() {
        var m = Model(profile: .v7_3)
        _ = m.register("vkms/a", size: 64 << 20)
        _ = m.md("/p"); _ = m.md("/p/c")
        _ = m.w("/p", "cgroup.subtree_control", "+dmem")
        _ = m.w("/p/c", "dmem.max", "vkms/a 8192")
        XCTAssertNil(m.spawn(1, p("/p/c")))
        XCTAssertNil(m.alloc(1, region: "vkms/a", size: 8192, buffer: 1).0)
        // -dmem on the parent kills /p/c's css: its task now charges /p, its old pool keeps usage.
        XCTAssertNil(m.move(1, p("/p/c")))
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "-dmem"), .ok)
        XCTAssertNil(m.alloc(1, region: "vkms/a", size: 8192, buffer: 2).0)   // no 8K limit any more
        XCTAssertEqual(m.r("/p", "dmem.current"), "vkms/a 16384\n")
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertEqual(m.r("/p/c", "dmem.current"), "vkms/a 0\n")             // a new css, new pool
        XCTAssertEqual(m.r("/p/c", "dmem.max"), "vkms/a max\n")
    }

    func testMaxBelowUsagePerProfileAndOption() {
        for (profile, options, result, shown) in [
            (KernelProfile.v7_2, ModelOptions(), FileResult.ok, "vkms/a max\n"),
            (.v7_3, [], .ok, "vkms/a 4096\n"),                                   // applied at once
            (.v7_3, [.maxBelowUsageEBUSY], .error(.EBUSY), "vkms/a max\n"),
        ] {
            var m = Model(profile: profile, options: options)
            _ = m.register("vkms/a", size: 64 << 20)
            _ = m.md("/g")
            XCTAssertNil(m.spawn(1, p("/g")))
            XCTAssertNil(m.alloc(1, region: "vkms/a", size: 8192, buffer: 1).0)
            XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 4096"), result, "\(profile)")
            XCTAssertEqual(m.r("/g", "dmem.max"), shown, "\(profile)")
            XCTAssertEqual(m.r("/g", "dmem.current"), "vkms/a 8192\n")           // no reclaim for vkms
        }
    }

    func testSpawnRespectsNoInternalProcessRule() {
        var m = Model(profile: .v7_3)
        _ = m.md("/p"); _ = m.md("/p/c")
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertEqual(m.spawn(1, p("/p")), .EBUSY)
        XCTAssertNil(m.spawn(1, p("/p/c")))
        XCTAssertEqual(m.w("/p/c", "cgroup.subtree_control", "+dmem"), .error(.EBUSY))  // has a task
        XCTAssertNil(m.spawn(2, .root))                                                 // root is mixable
        XCTAssertEqual(m.spawn(3, p("/nosuch")), .ENOENT)
    }
}
