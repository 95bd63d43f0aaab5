import XCTest
@testable import AgentCore

/// The text range failslab's stack filter gets: from /proc/kallsyms, the function's address up to
/// the next symbol's (lines as the 7.3.4 guest prints them, around get_cg_pool_unlocked).
final class FaultInjectorTests: XCTestCase {
    let kallsyms = """
    ffffffff8129d121 T dmem_cgroup_state_evict_valuable
    ffffffff8129d36c t dmemcs_alloc
    ffffffff8129d42a t get_cg_pool_unlocked
    ffffffff8129d42a t get_cg_pool_unlocked_alias
    ffffffff8129dd9b T dmem_cgroup_try_charge
    ffffffff8129e570 t dmemcg_limit_write.constprop.0
    ffffffff8129e8ee t dmem_cgroup_region_min_write
    ffffffffc0001000 t vgem_dmem_create_ioctl\t[vgem]
    """

    func testTheRangeEndsAtTheNextHigherSymbol() {
        XCTAssertEqual(FaultInjector.range(of: "dmemcs_alloc", kallsyms: kallsyms).map { [$0.0, $0.1] }, [0xffffffff8129d36c, 0xffffffff8129d42a])
        // An alias at the same address does not end it.
        XCTAssertEqual(FaultInjector.range(of: "get_cg_pool_unlocked", kallsyms: kallsyms).map { [$0.0, $0.1] }, [0xffffffff8129d42a, 0xffffffff8129dd9b])
        // gcc's clones count as the function.
        XCTAssertEqual(FaultInjector.range(of: "dmemcg_limit_write", kallsyms: kallsyms).map(\.0), 0xffffffff8129e570)
        XCTAssertNil(FaultInjector.range(of: "alloc_pool_single", kallsyms: kallsyms))   // inlined: not there
        XCTAssertNil(FaultInjector.range(of: "dmem_cgroup", kallsyms: kallsyms))         // a prefix is not a name
    }
}
