import XCTest
@testable import DmemModel

/// Delegation and dropped privileges: generic_permission() on cgroupfs nodes owned by whoever made
/// them appear, and cgroup_procs_write_permission()'s common-ancestor rule
/// (Documentation/admin-guide/cgroup-v2.rst "Model of Delegation", "Delegation Containment").
final class PermissionTests: XCTestCase {
    let user = Creds(uid: 1000, caps: false)
    let capless = Creds(uid: 0, caps: false)
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }

    /// /d delegated to 1000 with dmem enabled for its children; a1 (uid 1000) in /d/leaf.
    func delegated(_ profile: KernelProfile = .v7_3) -> Model {
        var m = Model(profile: profile)
        _ = m.register("vgem/region0", size: 256 << 20)
        XCTAssertNil(m.mkdir(p("/d")))
        XCTAssertNil(m.mkdir(p("/o")))
        XCTAssertEqual(m.write(p("/d"), "cgroup.subtree_control", Array("+dmem".utf8)), .ok)
        XCTAssertNil(m.delegate(p("/d"), to: 1000))
        XCTAssertNil(m.mkdir(p("/d/leaf")))
        XCTAssertNil(m.spawn(1, p("/d/leaf")))
        XCTAssertNil(m.spawn(2, p("/o")))
        XCTAssertNil(m.setuid(1, 1000))
        return m
    }

    func testDelegateeControlsWhatItCreatesButNotWhatItWasGiven() {
        var m = delegated()
        XCTAssertEqual(m.write(p("/d"), "dmem.max", Array("vgem/region0 1M".utf8), by: user), .error(.EACCES))
        XCTAssertEqual(m.mkdir(p("/o/x"), by: user), .EACCES)
        XCTAssertNil(m.mkdir(p("/d/x"), by: user))
        XCTAssertEqual(m.write(p("/d/x"), "dmem.max", Array("vgem/region0 1M".utf8), by: user), .ok)
        // 0444 files refuse their owner; root with CAP_DAC_OVERRIDE gets as far as the handler.
        XCTAssertEqual(m.write(p("/d/x"), "dmem.current", Array("x".utf8), by: user), .error(.EACCES))
        XCTAssertEqual(m.write(p("/d/x"), "dmem.current", Array("x".utf8)), .error(.EINVAL))
        XCTAssertEqual(m.write(p("/d/leaf"), "dmem.max", Array("vgem/region0 1M".utf8), by: user), .error(.EACCES))
        XCTAssertEqual(m.rmdir(p("/d"), by: user), .EACCES)
        // EEXIST and ENOENT come from the path walk, before any permission check.
        XCTAssertEqual(m.mkdir(p("/o"), by: user), .EEXIST)
        XCTAssertEqual(m.rmdir(p("/nosuch"), by: user), .ENOENT)
        // The mount root: EACCES on /sys/fs for a user, EBUSY for root even without capabilities.
        XCTAssertEqual(m.rmdir(.root, by: user), .EACCES)
        XCTAssertEqual(m.rmdir(.root, by: capless), .EBUSY)
    }

    func testControllerFilesBelongToWhoeverEnabledTheController() {
        var m = delegated()
        XCTAssertNil(m.mkdir(p("/d/y"), by: user))
        XCTAssertNil(m.mkdir(p("/d/y/z"), by: user))
        // /d/y/z has no dmem files until /d/y enables dmem; the writer's fsuid owns them.
        XCTAssertEqual(m.write(p("/d/y/z"), "dmem.max", Array("vgem/region0 1M".utf8), by: user), .error(.ENOENT))
        XCTAssertEqual(m.write(p("/d/y"), "cgroup.subtree_control", Array("+dmem".utf8), by: user), .ok)
        XCTAssertEqual(m.write(p("/d/y/z"), "dmem.max", Array("vgem/region0 1M".utf8), by: user), .ok)
        XCTAssertEqual(m.write(p("/d/y"), "cgroup.subtree_control", Array("-dmem".utf8)), .ok)
        XCTAssertEqual(m.write(p("/d/y"), "cgroup.subtree_control", Array("+dmem".utf8)), .ok)
        XCTAssertEqual(m.write(p("/d/y/z"), "dmem.max", Array("vgem/region0 2M".utf8), by: user), .error(.EACCES))
    }

    func testMigrationNeedsTheCommonAncestorsProcsFile() {
        var m = delegated()
        XCTAssertNil(m.mkdir(p("/d/x"), by: user))
        XCTAssertNil(m.move(1, p("/d/x"), by: user))                 // common ancestor /d: chowned
        XCTAssertEqual(m.move(1, p("/o"), by: user), .EACCES)         // /o/cgroup.procs is root's
        XCTAssertEqual(m.move(2, p("/d/x"), by: user), .EACCES)       // common ancestor is the root
        XCTAssertEqual(m.move(9, p("/d/x"), by: user), .ESRCH)
        XCTAssertEqual(m.move(2, p("/d/x"), by: capless), .EACCES)    // /d/x/cgroup.procs is 1000's
        XCTAssertNil(m.move(2, p("/d/leaf"), by: capless))            // root's files: owner access
        XCTAssertNil(m.move(2, p("/d/x")))
    }

    func testCapabilityAndUidTransitions() {
        var m = delegated()
        XCTAssertEqual(m.setuid(1, 0), .EPERM)                        // root was left for good
        XCTAssertNil(m.setuid(1, 1000))
        XCTAssertNil(m.dropCaps(2))
        XCTAssertEqual(m.creds(of: 2), capless)
        XCTAssertNil(m.setuid(2, 0))                                  // no CAP_SETUID, same uid
        XCTAssertEqual(m.setuid(2, 1000), .EPERM)
        XCTAssertEqual(m.dropCaps(7), .ESRCH)
        // Without CAP_DAC_OVERRIDE root is just the owner of root's nodes.
        XCTAssertEqual(m.write(p("/o"), "dmem.max", Array("vgem/region0 1M".utf8), by: capless), .ok)
        XCTAssertEqual(m.write(p("/o"), "dmem.current", Array("x".utf8), by: capless), .error(.EACCES))
        XCTAssertEqual(m.mkdir(p("/d/w"), by: capless), .EACCES)
        XCTAssertNil(m.mkdir(p("/o/w"), by: capless))
        // The hierarchy's root directory is 0555: its owner cannot create or remove entries.
        XCTAssertEqual(m.mkdir(p("/w"), by: capless), .EACCES)
        XCTAssertEqual(m.rmdir(p("/o"), by: capless), .EACCES)
        XCTAssertEqual(m.rmdir(p("/o/w"), by: capless), nil)
        // A fresh actor is root with every capability.
        XCTAssertNil(m.spawn(3, .root))
        XCTAssertEqual(m.creds(of: 3), .root)
    }
}
