import XCTest

import Trace
@testable import Fuzz
@testable import DmemModel

/// The candidates of the shrinker's structural passes (ShrinkCandidates.swift) and the renaming
/// they are built from (Rename.swift), checked candidate by candidate without a predicate.
final class ShrinkCandidatesTests: XCTestCase {
    func parse(_ ops: String, profile: String = "7.3") throws -> Trace {
        try TraceParser().parse("profile \(profile)\n" + ops.split(separator: ";").joined(separator: "\n"))
    }

    func ops(_ t: Trace) -> String { t.steps.map { TracePrinter.op($0.op) }.joined(separator: " ; ") }
    func testSubtreeRenamingMatchesWholeComponents() {
        let l = CgroupPath(["l"]), la = CgroupPath(["la"]), m = CgroupPath(["m"])
        XCTAssertEqual(CgroupPath(["l", "a"]).replacingPrefix(l, with: m), CgroupPath(["m", "a"]))
        XCTAssertEqual(l.replacingPrefix(l, with: m), m)
        XCTAssertNil(la.replacingPrefix(l, with: m))
        XCTAssertNil(CgroupPath(["la", "b"]).replacingPrefix(l, with: m))
        XCTAssertNil(CgroupPath(["l", "ab"]).replacingPrefix(CgroupPath(["l", "a"]), with: m))
        XCTAssertNil(CgroupPath.root.replacingPrefix(l, with: m))
        XCTAssertEqual(CgroupPath(["x", "y", "z"]).replacingPrefix(CgroupPath(["x", "y"]), with: CgroupPath(["y"])), CgroupPath(["y", "z"]))
        XCTAssertEqual(l.replacingPrefix(.root, with: m), CgroupPath(["m", "l"]))

        let op = Op.write(CgroupPath(["la"]), file: "dmem.max", data: Array("vgem/region0 1M".utf8), nonblock: false)
        XCTAssertEqual(op.renaming(subtree: l, to: m), op)
        XCTAssertEqual(Op.spawn(1, CgroupPath(["l", "a"])).renaming(subtree: l, to: m), .spawn(1, CgroupPath(["m", "a"])))
        XCTAssertEqual(Op.by(2, .move(3, CgroupPath(["l"]))).renaming(subtree: l, to: m), .by(2, .move(3, m)))
        XCTAssertTrue(l.isUnrelated(to: la))
        XCTAssertFalse(l.isUnrelated(to: CgroupPath(["l", "a"])))
    }

    /// Shrinker passes on a trace with /l and /la: removing, merging or hoisting /l never touches /la.
    func testPassesLeaveLookalikePathsAlone() throws {
        let t = try parse("""
            mkdir /l ; mkdir /la ; mkdir /l/a ; mkdir /la/a ; write /la cgroup.subtree_control "+dmem" ; \
            spawn a1 /l/a ; spawn a2 /la/a ; dying /la
            """)
        XCTAssertEqual(t.paths.map(\.description), ["/l", "/la", "/l/a", "/la/a"])
        XCTAssertEqual(ops(Shrinker.removing(t, subtree: CgroupPath(["l"]))), """
            mkdir /la ; mkdir /la/a ; write /la cgroup.subtree_control "+dmem" ; spawn a2 /la/a ; dying /la
            """)
        let hoisted = Shrinker.hoists(t).map(ops)
        // /l into the root: only /l's subtree moves, the duplicate mkdir / goes.
        XCTAssertTrue(hoisted.contains("""
            mkdir /la ; mkdir /a ; mkdir /la/a ; write /la cgroup.subtree_control "+dmem" ; spawn a1 /a ; spawn a2 /la/a ; dying /la
            """), hoisted.joined(separator: "\n"))
        // Whatever /l's subtree is renamed to, the ops naming /la and /la/a stay as they were.
        let laOps = t.steps.map(\.op).filter { $0.paths.contains { CgroupPath(["la"]).contains($0) } }
        for to in [CgroupPath.root, CgroupPath(["m"]), CgroupPath(["l", "a"]), CgroupPath(["m", "l"])] {
            let c = Shrinker.renamingSubtree(t, CgroupPath(["l"]), to: to).steps.map(\.op)
            XCTAssertEqual(c.filter { laOps.contains($0) }, laOps, "\(to)")
            XCTAssertEqual(c.count - c.filter { laOps.contains($0) }.count, t.steps.count - laOps.count - (to.isRoot ? 1 : 0), "\(to)")
        }
        let merged = Shrinker.cgroupMerges(t).map(ops)
        XCTAssertTrue(merged.contains("""
            mkdir /l ; mkdir /l/a ; write /l cgroup.subtree_control "+dmem" ; spawn a1 /l/a ; spawn a2 /l/a ; dying /l
            """), merged.joined(separator: "\n"))
    }

    // MARK: renaming helpers

    func testIdentitiesOfEveryOpKind() {
        let p = CgroupPath(["p"]), q = CgroupPath(["p", "q"])
        let cases: [(Op, [ActorID], [CgroupPath], [BufferID])] = [
            (.register(region: "vgem/region0", size: 1), [], [], []),
            (.unregister(region: "vgem/region0"), [], [], []),
            (.mkdir(p), [], [p], []), (.rmdir(q), [], [q], []),
            (.write(p, file: "dmem.max", data: [], nonblock: true), [], [p], []),
            (.read(q, file: "dmem.current"), [], [q], []),
            (.spawn(1, p), [1], [p], []), (.move(2, q), [2], [q], []), (.exit(3), [3], [], []),
            (.alloc(4, region: "vgem/region0", size: 4096, buffer: 7), [4], [], [7]),
            (.free(8), [], [], [8]), (.resident(9), [], [], [9]), (.dying(p), [], [p], []),
            (.transfer(1, buffer: 7, to: 2), [1, 2], [], [7]),
            (.evictQuery(5, region: "vgem/region0", size: 4096), [5], [], []),
            (.delegate(q, uid: 1000), [], [q], []), (.setuid(6, uid: 1000), [6], [], []), (.dropCaps(7), [7], [], []),
            (.by(1, .move(2, q)), [1, 2], [q], []), (.by(3, .mkdir(p)), [3], [p], []),
        ]
        for (op, a, ps, b) in cases {
            XCTAssertEqual(op.actors, a, TracePrinter.op(op))
            XCTAssertEqual(op.paths, ps, TracePrinter.op(op))
            XCTAssertEqual(op.buffers, b, TracePrinter.op(op))
            // Identity maps change nothing; a rename reaches every actor and path the op names.
            XCTAssertEqual(op.renamed(), op)
            let r = op.renamed(actor: { $0 + 10 }, path: { CgroupPath(["z"] + $0.components) }, bound: { $0 + 20 }, used: { $0 + 30 })
            XCTAssertEqual(r.actors, a.map { $0 + 10 }, TracePrinter.op(op))
            XCTAssertEqual(r.paths, ps.map { CgroupPath(["z"] + $0.components) }, TracePrinter.op(op))
            if case .alloc = op { XCTAssertEqual(r.buffers, b.map { $0 + 20 }) } else { XCTAssertEqual(r.buffers, b.map { $0 + 30 }) }
        }
    }

    /// A transfer shrinks like a free: removing its buffer removes it, merging actors renames its
    /// sender and receiver, merging allocations renames the buffer it moves. The failure: some
    /// transfer is refused at the receiver's limit (ENOMEM) under the charge-transfer dialect.
    func testTransferShrinksWithItsBufferAndActors() async throws {
        var t = try parse("""
            register vgem/region0 16777216 ; mkdir /x ; mkdir /y ; spawn a1 /x ; spawn a2 /y ; spawn a3 / ;\
             alloc a3 vgem/region0 65536 b3 ; alloc a1 vgem/region0 8192 b1 ; alloc a1 vgem/region0 8192 b2 ;\
             write /y dmem.max "vgem/region0 4096" ; read /x dmem.current ; transfer a3 b3 a1 ; transfer a1 b2 a2 ;\
             free b1 ; exit a2
            """)
        t.options = [.chargeTransfer]
        func refused(_ c: Trace) -> Bool {
            var m = ModelExecutor(profile: .v7_3, options: c.options)
            return c.steps.contains { if case .transfer = $0.op { return m.apply($0.op)?.errno == .ENOMEM }; _ = m.apply($0.op); return false }
        }
        XCTAssertTrue(refused(t))
        var s = Shrinker { refused($0) }
        let out = try await s.minimize(t)
        XCTAssertTrue(refused(out))
        XCTAssertTrue(out.steps.contains { if case .transfer = $0.op { return true }; return false }, ops(out))
        // The sender and receiver stay apart (merged, both would charge /y or neither), a3's
        // transfer and its buffer went, the limit is one page under the buffer.
        XCTAssertEqual(ops(out), """
            register vgem/region0 1048576 ; mkdir /y ; spawn a1 / ; spawn a2 /y ; alloc a1 vgem/region0 8192 b1 ; \
            write /y dmem.max "vgem/region0 4096" ; transfer a1 b1 a2
            """)
    }

    func testMergesDropOnlyTheDuplicatesTheyMake() throws {
        let t = try parse("mkdir /a ; mkdir /a ; mkdir /b ; spawn a1 /a ; spawn a2 /b ; alloc a2 vgem/region0 4096 b1 ; exit a1")
        // The trace's own second `mkdir /a` stays; the renamed `mkdir /b` and `spawn a2` go.
        let merged = Shrinker.cgroupMerges(t).map(ops)
        XCTAssertEqual(merged, ["mkdir /a ; mkdir /a ; spawn a1 /a ; spawn a2 /a ; alloc a2 vgem/region0 4096 b1 ; exit a1"])
        XCTAssertEqual(Shrinker.actorMerges(t).map(ops), [
            "mkdir /a ; mkdir /a ; mkdir /b ; spawn a1 /a ; alloc a1 vgem/region0 4096 b1 ; exit a1",
            "mkdir /a ; mkdir /a ; mkdir /b ; spawn a1 /b ; alloc a1 vgem/region0 4096 b1 ; exit a1",
        ])
        XCTAssertEqual(Shrinker.allocMerges(try parse("""
            spawn a1 / ; alloc a1 vgem/region0 4096 b1 ; alloc a2 vgem/region0 4096 b2 ; alloc a1 vgem/region0 8192 b3 ; free b1 ; resident b1
            """)).map(ops), ["spawn a1 / ; alloc a2 vgem/region0 4096 b2 ; alloc a1 vgem/region0 12288 b3 ; free b3 ; resident b3"])
    }

    /// An actor spawned at the root and moved into a fresh cgroup before anything else names it
    /// is spawned there directly; an op an actor does with `as` is tried as the agent's own.
    func testSpawnAtFirstMoveAndAsUnwrapped() throws {
        let t = try parse("spawn a1 / ; as a1 mkdir /c0 ; mkdir /c0/c1 ; spawn a2 /c0 ; move a2 /c0/c1 ; move a1 /c0/c1 ; alloc a1 r 4096 b1")
        // a1's first op after its spawn is the `as`, not a move: only a2's spawn moves.
        XCTAssertEqual(Shrinker.spawnsAtMoves(t).map(ops),
                       ["spawn a1 / ; as a1 mkdir /c0 ; mkdir /c0/c1 ; spawn a2 /c0/c1 ; move a1 /c0/c1 ; alloc a1 r 4096 b1"])
        XCTAssertEqual(Shrinker.simpler(t.steps[1].op), [.mkdir(CgroupPath(["c0"]))])
        var u = t
        u.steps[1].op = .mkdir(CgroupPath(["c0"]))
        XCTAssertEqual(Shrinker.spawnsAtMoves(u).map(ops).first,
                       "mkdir /c0 ; mkdir /c0/c1 ; spawn a2 /c0 ; move a2 /c0/c1 ; spawn a1 /c0/c1 ; alloc a1 r 4096 b1")
    }

    /// Mutant 15's generated finding, the actor part: a2 allocates in /c1/c1, moves to a1's
    /// /c1/c0 and a1 goes on there. Merged into one actor born at a2's spawn, a1's spawn goes.
    func testActorMergeBornAtTheSecondsSpawn() throws {
        let t = try parse("mkdir /c0 ; spawn a1 /c0 ; mkdir /c1 ; spawn a2 /c1 ; alloc a2 r 4096 b1 ; move a2 /c0 ; alloc a1 r 4096 b2")
        XCTAssertTrue(Shrinker.actorMerges(t).map(ops).contains(
            "mkdir /c0 ; mkdir /c1 ; spawn a1 /c1 ; alloc a1 r 4096 b1 ; move a1 /c0 ; alloc a1 r 4096 b2"))
        // Not when the first acts before the second is born: its op would name a dead actor.
        let u = try parse("mkdir /c0 ; spawn a1 /c0 ; alloc a1 r 4096 b3 ; spawn a2 /c0 ; alloc a2 r 4096 b1")
        XCTAssertFalse(Shrinker.actorMerges(u).map(ops).contains("mkdir /c0 ; alloc a1 r 4096 b3 ; spawn a1 /c0 ; alloc a1 r 4096 b1"))
    }
}
