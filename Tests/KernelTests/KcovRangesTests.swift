import XCTest
@testable import Kernel

/// Which functions count for KCOV: dmem.c's locals (grouped after its STT_FILE symbol) and the
/// globals dmem.c defines, never another file's symbols.
final class KcovRangesTests: XCTestCase {
    let readelf = """
    Symbol table '.symtab' contains 6 entries:
       Num:    Value          Size Type    Bind   Vis      Ndx Name
      10503: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS cgroup.c
      10504: ffffffff81100000    64 FUNC    LOCAL  DEFAULT    1 css_put
      10505: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS dmem.c
      10506: ffffffff81200000   128 FUNC    LOCAL  DEFAULT    1 get_resource_low
      10507: ffffffff81200100     0 FUNC    LOCAL  DEFAULT    1 zero_sized
      10508: ffffffff81300000     8 OBJECT  LOCAL  DEFAULT    4 dmemcg_lock
      10509: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS other.c
      10510: ffffffff81400000    32 FUNC    LOCAL  DEFAULT    1 get_resource_low
      90000: ffffffff81250000   512 FUNC    GLOBAL DEFAULT    1 dmem_cgroup_try_charge
      90001: ffffffff81500000   512 FUNC    GLOBAL DEFAULT    1 css_tryget_online_from_dir
    """

    func testLocalsOfTheFileAndItsGlobalDefinitions() {
        let defs = KcovRanges.definitions(in: """
        int dmem_cgroup_try_charge(struct dmem_cgroup_region *region, u64 size,
        \t\t\t   struct dmem_cgroup_pool_state **ret_pool)
        {
        EXPORT_SYMBOL_GPL(dmem_cgroup_try_charge);
        static void dmemcs_offline(struct cgroup_subsys_state *css)
        extern int declared_only(void);
        """)
        XCTAssertEqual(defs, ["dmem_cgroup_try_charge", "dmemcs_offline"])
        let r = KcovRanges.ranges(readelf: readelf, files: ["dmem.c": defs])
        XCTAssertEqual(r.map(\.0), [0xffffffff81200000, 0xffffffff81250000])
        XCTAssertEqual(r.map(\.1), [0xffffffff81200080, 0xffffffff81250200])
    }

    func testRealKernelHasDmemFunctions() async throws {
        guard let k = KernelBuild.existing() else { throw XCTSkip("no kernel build") }
        let lines = await KcovRanges.text(for: k).split(separator: "\n")
        // dmem.c alone defines dozens of functions; a handful means the symbol walk broke.
        XCTAssertGreaterThan(lines.count, 30)
    }
}

/// Which modules a build has: the module files modules.dep lists, not their dependencies.
final class ModuleNamesTests: XCTestCase {
    func testNamesFromModulesDep() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modnames-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mods = dir.appendingPathComponent("modroot/lib/modules/7.2.13")
        try FileManager.default.createDirectory(at: mods, withIntermediateDirectories: true)
        try Data().write(to: dir.appendingPathComponent("bzImage"))
        try Data("kernel/kernel/cgroup/dmem_selftest.ko:\nkernel/drivers/gpu/drm/vgem/vgem.ko.xz: kernel/drivers/dma-buf/dmabuf_helper.ko\n".utf8)
            .write(to: mods.appendingPathComponent("modules.dep"))
        XCTAssertEqual(try KernelBuild(dir: dir).moduleNames(), ["dmem_selftest", "vgem"])
    }
}
