import XCTest
@testable import DmemModel

/// `fork` and `fdinfo`: drm_show_fdinfo() with the test drivers' show_fdinfo, which is
/// drm_show_memory_stats() (drivers/gpu/drm/drm_file.c). Region vgem/region0 is 1M (256 pages),
/// vgem/region1 1M on the same card, vkms/default 64M; /g holds actor 1.
final class FdinfoTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }
    let M: UInt64 = 1 << 20

    func setup() -> Model {
        var m = Model(profile: .v7_3)
        _ = m.register("vgem/region0", size: M)
        _ = m.register("vgem/region1", size: M)
        _ = m.register("vkms/default", size: 64 * M)
        XCTAssertNil(m.md("/g"))
        XCTAssertNil(m.spawn(1, p("/g")))
        return m
    }

    func fdinfo(_ m: inout Model, _ a: ActorID, _ r: String) -> String? {
        (try? m.fdinfo(a, region: r).get()).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A fresh file: both sums 0, and no status line, since no object said RESIDENT.
    func testAnEmptyFileShowsTotalAndSharedZero() {
        var m = setup()
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t0\ndrm-shared-memory:\t0\n")
        XCTAssertEqual(fdinfo(&m, 1, "vkms/default"), "drm-driver:\tvkms\ndrm-total-memory:\t0\ndrm-shared-memory:\t0\n")
    }

    /// drm_fdinfo_print_size(): divide by 1024 while it divides exactly, at most twice.
    func testSizesAreInTheLargestUnitThatDividesThem() {
        XCTAssertEqual(Model.fdinfoSize("total", 0), "drm-total-memory:\t0\n")
        XCTAssertEqual(Model.fdinfoSize("total", 4096), "drm-total-memory:\t4 KiB\n")
        XCTAssertEqual(Model.fdinfoSize("total", 1 << 20), "drm-total-memory:\t1 MiB\n")
        XCTAssertEqual(Model.fdinfoSize("total", 3 << 19), "drm-total-memory:\t1536 KiB\n")   // 1.5M
        XCTAssertEqual(Model.fdinfoSize("total", 1 << 30), "drm-total-memory:\t1024 MiB\n")   // no GiB
        XCTAssertEqual(Model.fdinfoSize("total", 1536), "drm-total-memory:\t1536\n")
    }

    /// vgem's regions share a card: one file counts both regions' buffers; vkms's has its own.
    /// An evicted vgem object still has its handle (total) but is not resident.
    func testTheVgemFileCountsEveryVgemRegionAndResidentOnlyWhilePlaced() {
        var m = setup()
        XCTAssertNil(m.alloc(1, region: "vgem/region0", size: 512 * 1024, buffer: 1).0)
        XCTAssertNil(m.alloc(1, region: "vgem/region1", size: 8192, buffer: 2).0)
        XCTAssertNil(m.alloc(1, region: "vkms/default", size: 3 * 4096, buffer: 3).0)
        // 512K + 8K = 520K; vkms dumb buffers have no status callback: no resident line.
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region1"), "drm-driver:\tvgem\ndrm-total-memory:\t520 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t520 KiB\n")
        XCTAssertEqual(fdinfo(&m, 1, "vkms/default"), "drm-driver:\tvkms\ndrm-total-memory:\t12 KiB\ndrm-shared-memory:\t0\n")
        // A 768K allocation by actor 2 in the root does not fit next to b1 (512K of 1M): it evicts b1.
        XCTAssertNil(m.spawn(2, .root))
        let (e, evicted) = m.alloc(2, region: "vgem/region0", size: 768 * 1024, buffer: 4)
        XCTAssertNil(e); XCTAssertEqual(evicted, [1])
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t520 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t8 KiB\n")
        XCTAssertNil(m.free(2))
        // Only the evicted b1 left: no object says RESIDENT, so the line goes.
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t512 KiB\ndrm-shared-memory:\t0\n")
        XCTAssertEqual(fdinfo(&m, 2, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t768 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t768 KiB\n")
    }

    /// The GEM tracking RFC's review question: after a fork both processes show the same file, and
    /// the parent's exit frees nothing: the child holds the file, the charge stays with /g, and
    /// /g cannot be removed while the child is in it.
    func testAForkSharesTheFileAndKeepsItsBuffersChargedAfterTheParentExits() {
        var m = setup()
        XCTAssertNil(m.alloc(1, region: "vgem/region0", size: 8192, buffer: 1).0)
        XCTAssertNil(m.fork(1, child: 2))
        XCTAssertEqual(m.fork(1, child: 2), .EEXIST)
        XCTAssertEqual(m.fork(9, child: 3), .ESRCH)
        let both = "drm-driver:\tvgem\ndrm-total-memory:\t8 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t8 KiB\n"
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region0"), both)
        XCTAssertEqual(fdinfo(&m, 2, "vgem/region0"), both)
        // The child allocates on the shared file: the parent sees it too (one drm_file).
        XCTAssertNil(m.alloc(2, region: "vgem/region0", size: 4096, buffer: 2).0)
        XCTAssertEqual(fdinfo(&m, 1, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t12 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t12 KiB\n")
        XCTAssertNil(m.exit(1))
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/region0 12288\nvgem/region1 0\nvkms/default 0\n")
        XCTAssertEqual(m.rmdir(p("/g")), .EBUSY)
        XCTAssertNil(m.free(1))
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/region0 4096\nvgem/region1 0\nvkms/default 0\n")
        // The last holder's exit closes the file: drm_gem_release() frees b2.
        XCTAssertNil(m.exit(2))
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/region0 0\nvgem/region1 0\nvkms/default 0\n")
        XCTAssertEqual(try? m.resident(2).get(), nil)
        XCTAssertNil(m.rmdir(p("/g")))
    }

    /// A fork shares the files open at that moment: a card the parent opens afterwards is its
    /// own (the first generated campaign with fdinfo found this on 7.3.4: `spawn a1 /; fork a1 a2;
    /// alloc a1 vkms/default 4096 b1; fdinfo a2 vkms/default` shows 0 in the child). The child's
    /// fdinfo opens a file of its own, empty; the parent's exit frees b1.
    func testACardOpenedAfterTheForkIsNotShared() {
        var m = setup()
        XCTAssertNil(m.fork(1, child: 2))
        XCTAssertNil(m.alloc(1, region: "vkms/default", size: 4096, buffer: 1).0)
        XCTAssertEqual(fdinfo(&m, 2, "vkms/default"), "drm-driver:\tvkms\ndrm-total-memory:\t0\ndrm-shared-memory:\t0\n")
        XCTAssertEqual(fdinfo(&m, 1, "vkms/default"), "drm-driver:\tvkms\ndrm-total-memory:\t4 KiB\ndrm-shared-memory:\t0\n")
        XCTAssertNil(m.exit(1))
        XCTAssertEqual(try? m.resident(1).get(), nil)
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/region0 0\nvgem/region1 0\nvkms/default 0\n")
        // A vgem allocation that fails (EINVAL: not whole pages) still opened the card first, as
        // the actor opens it before the ioctl; the fork after it shares that file.
        XCTAssertEqual(m.alloc(2, region: "vgem/region0", size: 100, buffer: 2).0, .EINVAL)
        XCTAssertNil(m.fork(2, child: 3))
        XCTAssertNil(m.alloc(3, region: "vgem/region0", size: 4096, buffer: 3).0)
        XCTAssertEqual(fdinfo(&m, 2, "vgem/region0"), "drm-driver:\tvgem\ndrm-total-memory:\t4 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t4 KiB\n")
    }

    func testNoActorIsESRCHAndARegionWithoutACardIsENODEV() {
        var m = setup()
        XCTAssertEqual(m.fdinfo(7, region: "vgem/region0"), .failure(.ESRCH))
        XCTAssertEqual(m.fdinfo(1, region: "vkms/gone"), .failure(.ENODEV))
        _ = m.register(Model.selftestRegion, size: M)
        XCTAssertEqual(m.fdinfo(1, region: Model.selftestRegion), .failure(.ENODEV))
    }
}
