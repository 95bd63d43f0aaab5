import XCTest
@testable import Kernel

/// Line coverage from the kernel's own code: KCOV's PCs are the return addresses of the
/// __sanitizer_cov_trace_pc calls, and their lines come from addr2line's inline chains. The
/// testdata is dmemcs_alloc() of the 7.3.4 build (objdump -d, addr2line -a -i of PC - 1).
final class LineCoverageTests: XCTestCase {
    func testdata(_ name: String) throws -> String {
        try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata/" + name), encoding: .utf8)
    }

    func testInstrumentedPCsAreTheAddressesAfterEachCoverageCall() throws {
        let pcs = LineCoverage.callReturns(objdump: try testdata("dmemcs_alloc.objdump"))
        // Three calls: function entry, the !dmemcs branch skipped, and the return path.
        XCTAssertEqual(pcs.count, 3)
        XCTAssertEqual(pcs.first, 0xffffffff8129d377)   // the mov after the call at ...d372
        XCTAssertEqual(pcs[1], 0xffffffff8129d3c7)
    }

    func testAHeaderInlineBelongsToTheLineItWasInlinedInto() throws {
        let l = LineCoverage.locations(addr2line: try testdata("dmemcs_alloc.addr2line"))
        // kzalloc_obj() expands to slab.h code inlined at dmem.c:278; the INIT_LIST_HEAD block is 282.
        XCTAssertEqual(l.map(\.0), [0xffffffff8129d376, 0xffffffff8129d3c6])
        XCTAssertEqual(l.map(\.1), [LineMap.Line(file: "kernel/cgroup/dmem.c", line: 278), LineMap.Line(file: "kernel/cgroup/dmem.c", line: 282)])
        XCTAssertNil(LineCoverage.parseLocation("??:0"))
        XCTAssertEqual(LineCoverage.parseLocation("/w/obj/../src/mm/page_counter.c:101 (discriminator 2)"), LineMap.Line(file: "mm/page_counter.c", line: 101))
    }

    func testClustersJoinNearbyRanges() {
        // Gaps under 64 KiB join (one objdump for a file's functions), sorted first.
        XCTAssertEqual(LineCoverage.clusters([(0x3000, 0x3100), (0x1000, 0x1100), (0x1200, 0x1300)]).map { [$0.0, $0.1] },
                       [[0x1000, 0x3100]])
        XCTAssertEqual(LineCoverage.clusters([(0x1000, 0x1100), (0x100000, 0x100100)]).count, 2)
    }

    func testLineMapTextRoundTrips() {
        let m = LineMap(lines: [0xffffffff81000010: .init(file: "kernel/cgroup/dmem.c", line: 278), 0xffffffff81000020: .init(file: "mm/page_counter.c", line: 9)])
        XCTAssertEqual(LineMap(text: m.text), m)
    }
}
