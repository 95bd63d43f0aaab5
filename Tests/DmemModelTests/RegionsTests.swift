import XCTest
@testable import DmemModel

/// Regions.swift: a region that goes while cgroups still hold charges in it.
final class RegionsTests: XCTestCase {
    func p(_ s: String) -> CgroupPath { CgroupPath(parsing: Substring(s))! }

    func testRegionUnregisterKeepsChargedPoolsAlive() {
        var m = Model(profile: .v7_3)
        _ = m.register("vkms/a", size: 64 << 20)
        XCTAssertNil(m.register("vkms/zero", size: 0))
        XCTAssertEqual(m.r("/", "dmem.capacity"), "vkms/a 67108864\n")        // size 0 registers nothing
        _ = m.md("/g")
        _ = m.w("/g", "dmem.max", "vkms/a 1M")
        XCTAssertNil(m.spawn(1, p("/g")))
        XCTAssertNil(m.alloc(1, region: "vkms/a", size: 4096, buffer: 1).0)
        XCTAssertNil(m.unregister("vkms/a"))
        XCTAssertEqual(m.r("/", "dmem.capacity"), "")
        XCTAssertEqual(m.r("/g", "dmem.max"), "")
        XCTAssertEqual(m.w("/g", "dmem.max", "vkms/a 1M"), .error(.EINVAL))
        XCTAssertEqual(m.alloc(1, region: "vkms/a", size: 4096, buffer: 2).0, .ENODEV)
        XCTAssertNil(m.register("vkms/a", size: 1 << 20))                     // same name, new region
        XCTAssertEqual(m.r("/g", "dmem.max"), "vkms/a max\n")
        XCTAssertEqual(m.r("/", "dmem.current"), "vkms/a 0\n")
        XCTAssertEqual(m.rmdir(p("/g")), .EBUSY)                              // task still there
        XCTAssertNil(m.exit(1))                                               // uncharges the old pool
        XCTAssertNil(m.rmdir(p("/g")))
        XCTAssertEqual(try m.dying(.root).get(), 0)
    }
}
