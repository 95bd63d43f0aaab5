import XCTest
import Kernel
@testable import Campaign

/// The coverage page's numbers: series lines are counted where they have a KCOV callsite, and
/// reached where one of those callsites' PCs was executed.
final class CoverageReportTests: XCTestCase {
    let source = (1...8).map { "line \($0)" }.joined(separator: "\n")
    // PCs 0x10..0x40 on lines 2, 3, 3, 6 of dmem.c; one on a header.
    let map = LineMap(lines: [0x10: .init(file: "kernel/cgroup/dmem.c", line: 2), 0x20: .init(file: "kernel/cgroup/dmem.c", line: 3),
                              0x21: .init(file: "kernel/cgroup/dmem.c", line: 3), 0x40: .init(file: "kernel/cgroup/dmem.c", line: 6),
                              0x50: .init(file: "include/linux/slab.h", line: 991)])

    func testSeriesLinesWithACallsiteAreTheTotal() {
        // The series added lines 3-5 of dmem.c (4 and 5 have no code) and a header line.
        let r = CoverageReport.make(map: map, executed: [0x21, 0x40], series: ["kernel/cgroup/dmem.c": [3, 4, 5], "include/linux/cgroup_dmem.h": [13]]) { _ in self.source }
        XCTAssertEqual(r.total, 1)        // only line 3 has a callsite
        XCTAssertEqual(r.reached, 1)      // 0x21 is on line 3; 0x40 (line 6) is not the series'
        XCTAssertEqual(r.summary, "series lines reached: 1/1")
        XCTAssertEqual(r.uncovered, ["include/linux/cgroup_dmem.h"])
        let html = r.html(title: "t")
        XCTAssertTrue(html.contains("<tr id=\"kernel/cgroup/dmem.c:3\" class=\"hit\"><td class=\"n\">3</td><td class=\"s\">+</td><td class=\"c\">line 3</td></tr>"), html)
        XCTAssertTrue(html.contains("<tr id=\"kernel/cgroup/dmem.c:2\" class=\"miss\"><td class=\"n\">2</td><td class=\"s\"></td>"), html)
        XCTAssertTrue(html.contains("<tr id=\"kernel/cgroup/dmem.c:4\"><td class=\"n\">4</td><td class=\"s\">+</td>"), html)
    }

    func testWithoutASeriesTheCountedFilesAreTheTotal() {
        let r = CoverageReport.make(map: map, executed: [0x10], series: [:]) { _ in "<b>&\n" }
        XCTAssertEqual(r.summary, "dmem lines reached: 1/3")   // lines 2, 3, 6; the header is not counted
        XCTAssertEqual(r.files.map(\.path), ["kernel/cgroup/dmem.c"])
        XCTAssertTrue(r.html(title: "t").contains("&lt;b&gt;&amp;"))
    }
}
