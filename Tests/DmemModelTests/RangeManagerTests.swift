import XCTest
@testable import DmemModel

/// drm_mm in DRM_MM_INSERT_BEST mode, as ttm_range_man_alloc() uses it; page numbers worked out
/// by hand from drm_mm.c (best_hole(), insert_hole_size(), drm_mm_remove_node()).
final class RangeManagerTests: XCTestCase {
    func testBestFitTakesTheSmallestHoleAndItsStart() {
        var mm = RangeManager(pages: 16)
        // [a 0-3][b 4-7][c 8-11][d 12-15]; free a (hole 0-3, 4 pages) and c (hole 8-11, 4 pages),
        // then d, which merges with c's hole into 8-15 (8 pages).
        XCTAssertEqual([4, 4, 4, 4].map { mm.alloc(pages: $0) }, [0, 4, 8, 12])
        XCTAssertNil(mm.alloc(pages: 1))
        mm.free(start: 0); mm.free(start: 8); mm.free(start: 12)
        XCTAssertEqual(mm.largestHole, 8)  // 8-15; the hole at 0-3 is smaller
        // 2 pages: the 4-page hole at 0 is the smallest that fits, not the first-in-address 8-15.
        XCTAssertEqual(mm.alloc(pages: 2), 0)
        // 5 pages: only the 8-page hole fits; the node goes at its start.
        XCTAssertEqual(mm.alloc(pages: 5), 8)
        // Left: 2-3 (2 pages) and 13-15 (3 pages). 3 pages go to 13, not to a split of anything.
        XCTAssertEqual(mm.alloc(pages: 3), 13)
        XCTAssertEqual(mm.usedPages, 14)
    }

    func testEnoughFreePagesInTotalButNoHoleFails() {
        var mm = RangeManager(pages: 12)
        XCTAssertEqual([4, 4, 4].map { mm.alloc(pages: $0) }, [0, 4, 8])
        mm.free(start: 0); mm.free(start: 8)
        // 8 pages free, in two holes of 4: TTM's range manager says -ENOSPC.
        XCTAssertNil(mm.alloc(pages: 8))
        XCTAssertEqual(mm.alloc(pages: 4), 8)
    }

    func testEqualHolesGoToTheOneAddedLast() {
        var mm = RangeManager(pages: 20)
        // [a 0-3][b 4-7][c 8-11][d 12-15][e 16-19]
        XCTAssertEqual([4, 4, 4, 4, 4].map { mm.alloc(pages: $0) }, [0, 4, 8, 12, 16])
        // Free d (hole 12-15, added first), then b (hole 4-7, added second): equal sizes, so the
        // rbtree's rightmost fitting hole, b's, wins although d's is as small.
        mm.free(start: 12); mm.free(start: 4)
        XCTAssertEqual(mm.alloc(pages: 4), 4)
        mm.free(start: 4)
        // Now b's hole was added again, after d's: it still wins.
        XCTAssertEqual(mm.alloc(pages: 2), 4)
        // Left: 6-7 (2 pages, the new node's hole, newest) and 12-15 (4). 2 pages: 6.
        XCTAssertEqual(mm.alloc(pages: 2), 6)
        XCTAssertEqual(mm.alloc(pages: 2), 12)
    }

    func testFreeingTheFirstNodeGivesTheHeadNodeItsHole() {
        var mm = RangeManager(pages: 8)
        XCTAssertEqual(mm.alloc(pages: 8), 0)
        mm.free(start: 0)
        XCTAssertEqual(mm.alloc(pages: 8), 0)
        XCTAssertNil(mm.alloc(pages: 0))
        var small = RangeManager(pages: 4)
        XCTAssertNil(small.alloc(pages: 5))
    }
}
