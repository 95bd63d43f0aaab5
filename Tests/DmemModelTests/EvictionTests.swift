import XCTest
@testable import DmemModel

/// Eviction verdicts: dmem_cgroup_state_evict_valuable and vgem's transliteration of TTM.
/// Region vgem/r is 16M; numbers worked through page_counter_calculate_protection by hand.
final class EvictionTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }
    let M: UInt64 = 1 << 20

    /// /p (min 10M) holds x (6M) and y (2M); /q holds 8M. q allocating 4M more overflows the
    /// region's capacity, so TTM evicts with no limit pool.
    func setup(_ profile: KernelProfile) -> Model {
        var m = Model(profile: profile)
        _ = m.register("vgem/r", size: 16 * M)
        for d in ["/p", "/p/x", "/p/y", "/q"] { XCTAssertNil(m.md(d)) }
        XCTAssertEqual(m.w("/p", "cgroup.subtree_control", "+dmem"), .ok)
        XCTAssertEqual(m.w("/p", "dmem.min", "vgem/r 10M"), .ok)
        XCTAssertNil(m.spawn(1, p("/p/x"))); XCTAssertNil(m.spawn(2, p("/p/y"))); XCTAssertNil(m.spawn(3, p("/q")))
        XCTAssertNil(m.alloc(1, region: "vgem/r", size: 6 * M, buffer: 1).0)
        XCTAssertNil(m.alloc(2, region: "vgem/r", size: 2 * M, buffer: 2).0)
        XCTAssertNil(m.alloc(3, region: "vgem/r", size: 8 * M, buffer: 3).0)
        return m
    }

    func testRecursiveProtectionValues() {
        let m = setup(.v7_3)
        let root = m.findPool(css: 0, region: 0)!
        let x = m.findPool(css: m.cgroups[m.livePaths[p("/p/x")]!].css!, region: 0)!
        let y = m.findPool(css: m.cgroups[m.livePaths[p("/p/y")]!].css!, region: 0)!
        // emin(p) = 10M (child of the root); x: 10M unclaimed * 6M / 8M; y: 10M * 2M / 8M.
        XCTAssertEqual(m.effectiveProtection(limit: root, test: x).emin, 7_864_320)
        XCTAssertEqual(m.effectiveProtection(limit: root, test: y).emin, 2_621_440)
    }

    func testV72CapacityEvictionRespectsProtection() {
        var m = setup(.v7_2)
        // Limit pool NULL -> protection relative to the root: b1 (6M <= 7.5M) and b2 (2M <= 2.5M)
        // are protected; b3 (q, unprotected) goes, then the retry fits.
        let (e, evicted) = m.alloc(3, region: "vgem/r", size: 4 * M, buffer: 4)
        XCTAssertNil(e)
        XCTAssertEqual(evicted, [3])
        XCTAssertEqual(m.r("/q", "dmem.current"), "vgem/r 4194304\n")
    }

    func testV73CapacityEvictionUsesCommonAncestorWhichIsTheRoot() {
        var m = setup(.v7_3)
        // 7.3 computes the limit as the common ancestor of evictor and victim; for /p/x and /q that
        // is the root pool, and evict_valuable() says yes to anything when the limit is the root:
        // the oldest buffer (x's, protected by /p's min) is evicted first.
        let (e, evicted) = m.alloc(3, region: "vgem/r", size: 4 * M, buffer: 4)
        XCTAssertNil(e)
        XCTAssertEqual(evicted, [1])
        XCTAssertEqual(try m.resident(1).get(), false)
        XCTAssertEqual(m.r("/p", "dmem.current"), "vgem/r 2097152\n")
    }

    func testLimitPoolEvictionTwoPassLow() {
        for profile in KernelProfile.allCases {
            var m = Model(profile: profile)
            _ = m.register("vgem/r", size: 64 * M)
            for d in ["/l", "/l/a", "/l/b"] { XCTAssertNil(m.md(d)) }
            XCTAssertEqual(m.w("/l", "cgroup.subtree_control", "+dmem"), .ok)
            XCTAssertEqual(m.w("/l", "dmem.max", "vgem/r 8M"), .ok)
            XCTAssertEqual(m.w("/l/a", "dmem.low", "vgem/r 4M"), .ok)
            XCTAssertEqual(m.w("/l/b", "dmem.min", "vgem/r 4M"), .ok)
            XCTAssertNil(m.spawn(1, p("/l/a"))); XCTAssertNil(m.spawn(2, p("/l/b")))
            XCTAssertNil(m.alloc(1, region: "vgem/r", size: 4 * M, buffer: 1).0)
            XCTAssertNil(m.alloc(2, region: "vgem/r", size: 4 * M, buffer: 2).0)
            // /l is full. Pass 1 (try_low false): b1 is within low -> hit_low; b2 within min.
            // Pass 2 (try_low true): b1 goes; b2 never (min).
            let (e, evicted) = m.alloc(2, region: "vgem/r", size: 4 * M, buffer: 3)
            XCTAssertNil(e, "\(profile)")
            XCTAssertEqual(evicted, [1], "\(profile)")
            // b now uses 8M, over its 4M min: emin(b) = 4M < 8M and elow(b) = 0, so b2 goes at once.
            let (e2, ev2) = m.alloc(1, region: "vgem/r", size: 4 * M, buffer: 4)
            XCTAssertNil(e2, "\(profile)")
            XCTAssertEqual(ev2, [2], "\(profile)")
            // LRU [b3 (b, 4M = its min), b4 (a, 4M = its low)]: pass 1 hits low on b4, pass 2 takes it.
            let (e3, ev3) = m.alloc(2, region: "vgem/r", size: 4 * M, buffer: 5)
            XCTAssertNil(e3, "\(profile)")
            XCTAssertEqual(ev3, [4], "\(profile)")
            // 12M can never fit under 8M: b5 (b over min) is evicted on the way, then ENOSPC.
            let (e4, ev4) = m.alloc(1, region: "vgem/r", size: 12 * M, buffer: 6)
            XCTAssertEqual(e4, .ENOSPC, "\(profile)")
            XCTAssertEqual(ev4, [3], "\(profile)")
        }
    }

    func testEvictValuableCorners() {
        var m = Model(profile: .v7_3)
        _ = m.register("vgem/r", size: 64 * M)
        for d in ["/a", "/b"] { XCTAssertNil(m.md(d)) }
        XCTAssertNil(m.spawn(1, p("/a"))); XCTAssertNil(m.spawn(2, p("/b")))
        XCTAssertNil(m.alloc(1, region: "vgem/r", size: M, buffer: 1).0)
        XCTAssertNil(m.alloc(2, region: "vgem/r", size: M, buffer: 2).0)
        let a = m.findPool(css: m.cgroups[m.livePaths[p("/a")]!].css!, region: 0)!
        let b = m.findPool(css: m.cgroups[m.livePaths[p("/b")]!].css!, region: 0)!
        let root = m.findPool(css: 0, region: 0)!
        var hit = false
        XCTAssertTrue(m.evictValuable(limit: a, test: a, ignoreLow: false, hitLow: &hit))      // own pool
        XCTAssertFalse(m.evictValuable(limit: a, test: b, ignoreLow: false, hitLow: &hit))     // outside subtree
        XCTAssertTrue(m.evictValuable(limit: root, test: b, ignoreLow: false, hitLow: &hit))   // root limit
        _ = m.w("/b", "dmem.low", "vgem/r 1M")
        XCTAssertFalse(m.evictValuable(limit: nil, test: b, ignoreLow: false, hitLow: &hit))
        XCTAssertTrue(hit)
        XCTAssertTrue(m.evictValuable(limit: nil, test: b, ignoreLow: true, hitLow: &hit))
    }
}
