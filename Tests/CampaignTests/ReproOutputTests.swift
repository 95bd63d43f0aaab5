import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign

final class ReproOutputTests: XCTestCase {
    let steps = try! TraceParser().parse("""
        profile 7.3
        register vgem/region0 268435456 = ok
        mkdir /g = ok
        write /g dmem.max "vgem/region0 8K\\n" = ok
        spawn a1 /g = ok
        alloc a1 vgem/region0 4096 b1 = ok
        alloc a1 vgem/region0 8192 b2 = ok evicted b1
        evict? a1 vgem/region0 4096
        read /g dmem.current = "vgem/region0 8192\\n\\x00"
        resident b1 = 0
        free b3 = ENOENT
        """).steps

    /// What a reproducer of those steps prints when the kernel did what the steps say.
    let agreeing = """
        # skipped: register vgem/region0 268435456
        mkdir /g = ok
        write /g dmem.max "vgem/region0 8K\\n" = ok
        spawn a1 /g = ok
        alloc a1 vgem/region0 4096 b1 = ok
        alloc a1 vgem/region0 8192 b2 = ok evicted b1
        # skipped: evict? a1 vgem/region0 4096
        read /g dmem.current = "vgem/region0 8192\\n\\x00"
        resident b1 = 0
        free b3 = ENOENT

        """

    func testAgreeingOutputHasNoMismatch() {
        XCTAssertEqual(ReproOutput.compare(output: agreeing, lockstep: steps), [])
        // A console's CRLF and the reproducer's own mismatch comments change nothing.
        let crlf = agreeing.replacingOccurrences(of: "\n", with: "\r\n")
            .replacingOccurrences(of: "free b3 = ENOENT\r\n", with: "free b3 = ENOENT\r\n# >>> mismatch: the model expects ok\r\n")
        XCTAssertEqual(ReproOutput.compare(output: crlf, lockstep: steps), [])
    }

    func testEachDifferenceIsItsLine() {
        let quoted = agreeing.replacingOccurrences(of: "8192\\n\\x00\"", with: "8192\\n\\x0\"")
        XCTAssertEqual(ReproOutput.compare(output: quoted, lockstep: steps),
                       [ReproOutput.Mismatch(line: 6, lockstep: "read /g dmem.current = \"vgem/region0 8192\\n\\x00\"",
                                             repro: "read /g dmem.current = \"vgem/region0 8192\\n\\x0\"")])
        let noEviction = agreeing.replacingOccurrences(of: "b2 = ok evicted b1", with: "b2 = ENOSPC")
        XCTAssertEqual(ReproOutput.compare(output: noEviction, lockstep: steps).map(\.line), [5])
        XCTAssertEqual("\(ReproOutput.compare(output: noEviction, lockstep: steps)[0])",
                       "line 5: lockstep 'alloc a1 vgem/region0 8192 b2 = ok evicted b1', repro 'alloc a1 vgem/region0 8192 b2 = ENOSPC'")
    }

    func testMissingAndExtraLines() {
        let cut = agreeing.components(separatedBy: "resident b1")[0]
        XCTAssertEqual(ReproOutput.compare(output: cut, lockstep: steps),
                       [ReproOutput.Mismatch(line: 7, lockstep: "resident b1 = 0", repro: nil),
                        ReproOutput.Mismatch(line: 8, lockstep: "free b3 = ENOENT", repro: nil)])
        XCTAssertEqual(ReproOutput.compare(output: agreeing + "rmdir /g = ok\n", lockstep: steps),
                       [ReproOutput.Mismatch(line: 9, lockstep: nil, repro: "rmdir /g = ok")])
        // An extra op line in the middle shifts every line after it: all of them are named.
        XCTAssertEqual(ReproOutput.compare(output: agreeing.replacingOccurrences(of: "resident b1 = 0\n", with: "resident b1 = 0\nresident b1 = 0\n"), lockstep: steps).count, 2)
    }

    /// The expected lines are those of the reproducer's own ops: it prints a line for exactly the
    /// steps it does not skip.
    func testExpectedLinesAreTheReproducersReports() throws {
        let t = CampaignTests.everyOp
        let c = try Repro.c(t)
        let expected = ReproOutput.expected(t.steps)
        XCTAssertEqual(expected.count, c.components(separatedBy: "; report(").count - 1 + c.components(separatedBy: "\t  group(").count - 1)
        for (line, st) in zip(expected, zip(t.steps, Repro.skipped(t.steps)).filter { !$0.1 }.map(\.0)) {
            XCTAssertTrue(line.hasPrefix(TracePrinter.op(st.op) + " = "), line)
            if case .par = st.op {
                XCTAssertTrue(c.contains("\t  group(\(Repro.cString(Array(TracePrinter.op(st.op).utf8))), fns, "), line)
            } else {
                XCTAssertTrue(c.contains("; report(\(Repro.cString(Array(TracePrinter.op(st.op).utf8))), r,"), line)
            }
        }
    }

    /// The in-guest comparison's traces cover alloc, free, write, read, move, transfer, fork, fdinfo and
    /// eviction between them, and each has a reproducer.
    func testGuestComparisonTracesCoverTheOps() throws {
        var verbs = Set<String>(), evicts = false
        for name in ReproInGuestTests.traces {
            let file = ReproInGuestTests.corpus(name)
            let t = try TraceParser(file: file.lastPathComponent).parse(String(contentsOf: file, encoding: .utf8))
            XCTAssertNoThrow(try Repro.c(t), name)
            XCTAssertTrue(t.profiles.contains(.v7_3), name)
            for st in t.steps {
                verbs.insert(TracePrinter.summary(st.op).verb)
                if !(st.expect?.evicted.isEmpty ?? true) { evicts = true }
            }
        }
        XCTAssertTrue(verbs.isSuperset(of: ["alloc", "free", "write", "read", "move", "transfer", "fork", "fdinfo"]), "\(verbs.sorted())")
        XCTAssertTrue(evicts)
    }
}
