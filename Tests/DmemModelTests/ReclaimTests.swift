import XCTest
@testable import DmemModel

/// Reclaim.swift: 7.3 lowering dmem.max below usage evicts through the region's callback.
final class ReclaimTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }
    let M: UInt64 = 1 << 20

    func testV73LoweringMaxReclaimsUnlessNonblock() {
        var m = Model(profile: .v7_3)
        _ = m.register("vgem/r", size: 64 * M)
        XCTAssertNil(m.md("/g"))
        XCTAssertNil(m.spawn(1, p("/g")))
        for b in 1...3 { XCTAssertNil(m.alloc(1, region: "vgem/r", size: M, buffer: b).0) }
        XCTAssertEqual(m.w("/g", "dmem.max", "vgem/r 2M", nonblock: true), .ok)
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/r 3145728\n")                // no reclaim
        XCTAssertEqual(m.w("/g", "dmem.max", "vgem/r 1M"), .ok)
        XCTAssertEqual(m.r("/g", "dmem.current"), "vgem/r 1048576\n")                // LRU: b1, b2 go
        XCTAssertEqual(m.residentBuffers, [3])
        XCTAssertEqual(m.r("/g", "dmem.max"), "vgem/r 1048576\n")
    }
}
