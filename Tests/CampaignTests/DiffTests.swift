import XCTest
@testable import Campaign
import DmemModel
import Trace

/// `dmemfuzz diff`'s comparison (Sources/Campaign/Diff.swift): kernel outcomes against kernel
/// outcomes, the first change of a trace, its kind, and the table.
final class DiffTests: XCTestCase {
    let g = CgroupPath(["g"])
    var writeMax: Op { .write(g, file: "dmem.max", data: Array("vgem/dev0 4096\nvgem/dev1 4096".utf8), nonblock: false) }
    var readMax: Op { .read(g, file: "dmem.max") }

    func testTheFirstDifferingOpIsTheChangeAndLaterOnesAreNotCompared() {
        // The accept-one-region-per-write series: two lines in one write go from ok to EINVAL,
        // and the read after it then differs too (a consequence, not a second change).
        let ops: [Op] = [.mkdir(g), writeMax, readMax]
        let base: [Outcome?] = [.ok, .ok, Outcome(data: Array("vgem/dev0 4096\n".utf8))]
        let patched: [Outcome?] = [.ok, .err(.EINVAL), Outcome(data: Array("vgem/dev0 max\n".utf8))]
        let c = BehaviourDiff.firstChange(ops: ops, base: base, patched: patched)
        XCTAssertEqual(c?.index, 1)
        XCTAssertEqual(c?.kind, "write dmem.max: ok -> EINVAL")
        XCTAssertNil(BehaviourDiff.firstChange(ops: ops, base: base, patched: base))
    }

    func testAnOpThatRanOnOneKernelOnlyIsAChange() {
        // The patched guest stopped answering after op 1: op 2 has no answer there.
        let ops: [Op] = [.mkdir(g), readMax]
        let c = BehaviourDiff.firstChange(ops: ops, base: [.ok, .ok], patched: [.ok])
        XCTAssertEqual(c?.index, 1)
        XCTAssertEqual(c?.kind, "read dmem.max: ok -> no answer")
        // evictQuery is answered by neither kernel (nil on both): equal.
        let q: [Op] = [.evictQuery(0, region: "vgem/dev0", size: 4096)]
        XCTAssertNil(BehaviourDiff.firstChange(ops: q, base: [nil], patched: [nil]))
    }

    func testKindsNameTheOpAndTheShapeOfEachOutcome() {
        func kind(_ op: Op, _ b: Outcome?, _ p: Outcome?) -> String { BehaviourDiff.Change(index: 0, op: op, base: b, patched: p).kind }
        XCTAssertEqual(kind(readMax, Outcome(data: [0x31]), Outcome(data: [0x32])), "read dmem.max: different data")
        XCTAssertEqual(kind(.dying(g), Outcome(value: 0), Outcome(value: 1)), "dying: different value")
        XCTAssertEqual(kind(.alloc(1, region: "vgem/dev0", size: 8192, buffer: 3), Outcome(evicted: [1]), Outcome(evicted: [2])),
                       "alloc: evicts different buffers")
        XCTAssertEqual(kind(.alloc(1, region: "vgem/dev0", size: 8192, buffer: 3), Outcome(evicted: [1]), .err(.ENOSPC)),
                       "alloc: ok evicting -> ENOSPC")
        XCTAssertEqual(kind(.by(2, .mkdir(g)), .ok, .err(.EACCES)), "as aN mkdir: ok -> EACCES")
    }

    func testGroupsKeepOrderAndCountTraces() {
        let a = BehaviourDiff.Change(index: 1, op: writeMax, base: .ok, patched: .err(.EINVAL))
        let b = BehaviourDiff.Change(index: 4, op: readMax, base: Outcome(data: [0x31]), patched: Outcome(data: [0x32]))
        let groups = BehaviourDiff.group([("t1", a), ("t2", b), ("t3", a)])
        XCTAssertEqual(groups.map(\.kind), ["write dmem.max: ok -> EINVAL", "read dmem.max: different data"])
        XCTAssertEqual(groups.map(\.sources), [["t1", "t3"], ["t2"]])
        let table = BehaviourDiff.table(groups, traces: 10)
        XCTAssertTrue(table.hasPrefix("behaviour changes: 2 (first differing op of each trace, 3 of 10 traces)\n1. write dmem.max: ok -> EINVAL   [2 traces, e.g. t1]\n"), table)
        XCTAssertTrue(table.contains("   op:      write /g dmem.max \"vgem/dev0 4096\\nvgem/dev1 4096\"\n   base:    ok\n   patched: EINVAL\n"), table)
        XCTAssertEqual(BehaviourDiff.table([], traces: 7), "behaviour changes: none in 7 traces\n")
    }

    func testAChangeAtOrAfterARacingGroupMustStayOverReruns() {
        // The single-region series on 7.2.13 (this session): corpus race-groups.trace's first
        // difference was `par { alloc | alloc }` evicting b1 on the base and b2 on the patched
        // kernel, a race order, and it did not show again when minimized. A difference at the
        // racing group or after it is rerun; one before it is the series' as it is.
        let race: Op = .par([.alloc(1, region: "vgem/region0", size: 524_288, buffer: 1), .alloc(2, region: "vgem/region0", size: 786_432, buffer: 2)])
        let ops: [Op] = [.mkdir(g), writeMax, race, readMax]
        XCTAssertFalse(BehaviourDiff.followsRace(ops, through: 1))
        XCTAssertTrue(BehaviourDiff.followsRace(ops, through: 2))
        XCTAssertTrue(BehaviourDiff.followsRace(ops, through: 3))
        XCTAssertFalse(BehaviourDiff.followsRace([.mkdir(g)], through: 0))
        // Not counted, but said, with or without counted changes.
        XCTAssertEqual(BehaviourDiff.table([], traces: 7, racy: ["corpora/regress/race-groups.trace"]),
                       "behaviour changes: none in 7 traces\nnot counted: 1 trace whose first difference follows a racing group and did not stay over 3 reruns (the order a race took, on either kernel), e.g. corpora/regress/race-groups.trace\n")
    }

    func testInterfaceChangesCancelTheModelOut() {
        // The peak-file series: dmem.peak on the patched kernel only.
        let baseListing = "root dmem.capacity\nroot dmem.current\nchild dmem.current\nchild dmem.max\nchild dmem.min\nchild dmem.low\ncontroller dmem"
        let b = Interfaces(listing: baseListing, profile: .v7_3, options: [])
        let p = Interfaces(listing: baseListing + "\nchild dmem.peak\nroot dmem.peak", profile: .v7_3, options: [])
        let c = BehaviourDiff.InterfaceChange(base: b, patched: p)
        XCTAssertEqual(c.added, ["dmem.peak"])
        XCTAssertEqual(c.removed, [])
        XCTAssertTrue(BehaviourDiff.InterfaceChange(base: b, patched: b).isEmpty)
        let r = BehaviourDiff.InterfaceChange(base: p, patched: b)
        XCTAssertEqual(r.removed, ["dmem.peak"])
    }
}
