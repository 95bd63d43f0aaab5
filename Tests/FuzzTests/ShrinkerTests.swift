import XCTest

import Campaign
import Trace
@testable import Fuzz
@testable import DmemModel

/// The shrinker's structural passes (merge actors and cgroups, hoist, merge allocations, early
/// exits) and the renaming they are built from. The "kernel" is the model itself: either a 7.2
/// model as the subject of a 7.3 lockstep, or a predicate on the 7.3 model's own outcomes.
final class ShrinkerTests: XCTestCase {
    func parse(_ ops: String, profile: String = "7.3") throws -> Trace {
        try TraceParser().parse("profile \(profile)\n" + ops.split(separator: ";").joined(separator: "\n"))
    }

    func ops(_ t: Trace) -> String { t.steps.map { TracePrinter.op($0.op) }.joined(separator: " ; ") }

    /// The shrinker before the structural passes: ddmin, value simplification, ddmin.
    func ddminOnly(_ t: Trace, _ pred: @escaping (Trace) async throws -> Bool) async throws -> Trace {
        var s = Shrinker(stillFails: pred)
        var c = t
        c.steps = c.steps.map { Step($0.op) }
        c = try await s.ddmin(c)
        c = try await s.simplifyValues(c)
        return try await s.ddmin(c)
    }

    /// The title a finding of the divergence gets (Campaign's Finding.title, the real one).
    static func title(_ d: Divergence) -> String { Finding.title(for: d) }

    static func divergence(_ t: Trace) async throws -> Divergence? {
        var ls = Lockstep(model: ModelExecutor(profile: .v7_3), subject: ModelExecutor(profile: .v7_2))
        return try await ls.run(t.steps.map(\.op))
    }

    // MARK: (a)+(b) merging shrinks below ddmin, and the result still fails

    /// The trace from the eviction mutants' findings (two actors in two sibling cgroups under a
    /// limit, one low- and one min-protected). The failure: the last op is an allocation the 7.3
    /// model satisfies by evicting. ddmin stops at 9 ops after the register: each actor's
    /// allocations alone fit under the limit, so no op of either can go. Merging the actors, two
    /// of their allocations, and the cgroup into /l leaves 5.
    func testMergingActorsAndCgroupsShrinksBelowDdmin() async throws {
        let t = try parse("""
            register vgem/region0 268435456 ; mkdir /l ; mkdir /l/a ; mkdir /l/b ; \
            write /l cgroup.subtree_control "+dmem" ; write /l dmem.max "vgem/region0 8M" ; \
            write /l/a dmem.low "vgem/region0 4M" ; write /l/b dmem.min "vgem/region0 4M" ; \
            spawn a1 /l/a ; spawn a2 /l/b ; alloc a1 vgem/region0 4096 b1 ; \
            alloc a2 vgem/region0 4194304 b2 ; alloc a2 vgem/region0 4194304 b3
            """)
        func lastAllocEvicts(_ t: Trace) -> Bool {
            guard let last = t.steps.last, case .alloc = last.op else { return false }
            var m = ModelExecutor(profile: .v7_3)
            var out: Outcome?
            for s in t.steps { out = m.apply(s.op) }
            return out?.errno == nil && !(out?.evicted.isEmpty ?? true)
        }
        XCTAssertTrue(lastAllocEvicts(t))
        let old = try await ddminOnly(t) { lastAllocEvicts($0) }
        XCTAssertEqual(ops(old), """
            register vgem/region0 268435456 ; mkdir /l ; mkdir /l/a ; mkdir /l/b ; \
            write /l dmem.max "vgem/region0 8M" ; spawn a1 /l/a ; spawn a2 /l/b ; \
            alloc a1 vgem/region0 4096 b1 ; alloc a2 vgem/region0 4194304 b2 ; \
            alloc a2 vgem/region0 4194304 b3
            """)
        var s = Shrinker { lastAllocEvicts($0) }
        let small = try await s.minimize(t)
        XCTAssertEqual(ops(small), """
            register vgem/region0 268435456 ; mkdir /l ; write /l dmem.max "vgem/region0 8M" ; \
            spawn a1 /l ; alloc a1 vgem/region0 4198400 b1 ; alloc a1 vgem/region0 4194304 b2
            """)
        XCTAssertTrue(lastAllocEvicts(small))
        XCTAssertEqual(small.actors.count, 1)
        XCTAssertEqual(small.paths, [CgroupPath(["l"])])
    }

    /// Lockstep, 7.3 model vs a 7.2 "kernel", same title kept: region-capacity eviction, where 7.3
    /// takes the common ancestor as limit pool (the root for /q and /p/x: anything goes) and 7.2
    /// protects /p's buffer. ddmin keeps /p/x and /q; the structural passes put the protected
    /// actor in /p itself and the other one in the root, and rename ids densely.
    func testLockstepDivergenceShrinksByCgroupMergingAndStillFails() async throws {
        let t = try parse("""
            register vgem/region0 268435456 ; register vkms/default 67108864 ; mkdir /p ; mkdir /p/x ; \
            mkdir /p/y ; mkdir /q ; write /p cgroup.subtree_control "+dmem" ; \
            write /p dmem.min "vgem/region0 160M" ; spawn a1 /p/x ; spawn a2 /p/y ; spawn a3 /q ; \
            alloc a1 vgem/region0 100663296 b1 ; alloc a2 vgem/region0 33554432 b2 ; \
            alloc a3 vgem/region0 134217728 b3 ; read / dmem.current ; alloc a3 vgem/region0 67108864 b4
            """)
        let d = try await Self.divergence(t)
        XCTAssertEqual(d.map(Self.title), "divergence in alloc: different evictions")
        XCTAssertEqual(d?.index, t.steps.count - 1)
        let want = "divergence in alloc: different evictions"
        let pred: (Trace) async throws -> Bool = { try await Self.divergence($0).map(Self.title) == want }
        let old = try await ddminOnly(t, pred)
        XCTAssertEqual(ops(old), """
            register vgem/region0 268435456 ; mkdir /p ; mkdir /p/x ; mkdir /q ; \
            write /p dmem.min "vgem/region0 160M" ; spawn a1 /p/x ; spawn a3 /q ; \
            alloc a1 vgem/region0 100663296 b1 ; alloc a3 vgem/region0 134217728 b3 ; \
            alloc a3 vgem/region0 67108864 b4
            """)
        var s = Shrinker(stillFails: pred)
        let small = try await s.minimize(t)
        XCTAssertEqual(ops(small), """
            register vgem/region0 268435456 ; mkdir /p ; write /p dmem.min "vgem/region0 160M" ; \
            spawn a1 /p ; spawn a2 / ; alloc a1 vgem/region0 100663296 b1 ; \
            alloc a2 vgem/region0 134217728 b2 ; alloc a2 vgem/region0 67108864 b3
            """)
        let after = try await Self.divergence(small)
        XCTAssertEqual(after.map(Self.title), want)
        XCTAssertEqual(after?.expected.evicted, [1])  // 7.3: /p's min does not count under the root
        XCTAssertEqual(after?.actual.evicted, [2])    // 7.2 evicts the root actor's own buffer
        XCTAssertLessThan(small.steps.count, old.steps.count)
        XCTAssertLessThanOrEqual(s.attempts, 150)
    }

    /// The shape of vm/mutants/16's finding (a removed cgroup is released once its last charge is
    /// gone; the mutant leaks the css so nr_dying_descendants stays 1), as a predicate on the
    /// model's outcomes: a `dying` reads 0 after a charged cgroup was removed. The eviction that
    /// uncharged the buffer becomes the actor's exit (so the limit, the second cgroup and the move
    /// go), and /l collapses into the root.
    func testEarlyExitAndCollapseIntoRoot() async throws {
        let t = try parse("""
            register vgem/region0 268435456 ; mkdir /l ; mkdir /l/a ; mkdir /l/b ; \
            write /l cgroup.subtree_control "+dmem" ; write /l dmem.max "vgem/region0 8M" ; \
            spawn a1 /l/a ; alloc a1 vgem/region0 4194304 b1 ; move a1 /l/b ; rmdir /l/a ; \
            alloc a1 vgem/region0 6291456 b2 ; dying /l
            """)
        /// Fails when some `dying` reads 0 after a cgroup that held a charge was removed.
        func releasedAfterCharge(_ t: Trace) -> Bool {
            var m = ModelExecutor(profile: .v7_3)
            var charged = false, removed = false
            for s in t.steps {
                let out = m.apply(s.op)
                if case .alloc = s.op, out?.errno == nil { charged = true }
                if case .rmdir = s.op, out?.errno == nil, charged { removed = true }
                if case .dying = s.op, removed, out == .number(0) { return true }
            }
            return false
        }
        XCTAssertTrue(releasedAfterCharge(t))
        var s = Shrinker { releasedAfterCharge($0) }
        let small = try await s.minimize(t)
        XCTAssertEqual(ops(small), """
            register vgem/region0 1048576 ; mkdir /a ; spawn a1 /a ; alloc a1 vgem/region0 4096 b1 ; \
            exit a1 ; rmdir /a ; dying /
            """)
        XCTAssertTrue(releasedAfterCharge(small))
    }

    /// Every predicate run is on a different trace, the budget holds, and a trace that no longer
    /// fails is never returned.
    func testCandidatesAreDistinctAndBudgetHolds() async throws {
        let t = try parse("""
            register vgem/region0 268435456 ; mkdir /l ; mkdir /l/a ; mkdir /l/b ; \
            write /l cgroup.subtree_control "+dmem" ; write /l dmem.max "vgem/region0 8M" ; \
            spawn a1 /l/a ; spawn a2 /l/b ; alloc a1 vgem/region0 4194304 b1 ; \
            alloc a2 vgem/region0 4194304 b2 ; alloc a2 vgem/region0 4194304 b3
            """)
        final class Log: @unchecked Sendable { var seen: [[Op]] = [] }
        for budget in [5, 40, 2000] {
            let log = Log()
            var s = Shrinker(maxAttempts: budget) { c in
                log.seen.append(c.steps.map(\.op))
                var m = ModelExecutor(profile: .v7_3)
                return c.steps.map { m.apply($0.op) }.last??.evicted.isEmpty == false
            }
            let small = try await s.minimize(t)
            XCTAssertEqual(log.seen.count, s.attempts)
            XCTAssertLessThanOrEqual(s.attempts, budget)
            XCTAssertEqual(Set(log.seen).count, log.seen.count, "a candidate ran twice")
            XCTAssertTrue(small == t.withoutExpectations || log.seen.contains(small.steps.map(\.op)))
            XCTAssertLessThanOrEqual(small.steps.count, t.steps.count)
        }
    }

    // MARK: (c) renaming matches whole path components only

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

    /// The mutant-23 finding of a generated round (11 ops after the registers): a low-protected
    /// older buffer in /c0/c1, the rival in /c0/c0 spawned at the root by way of `as` and a move.
    /// Predicate on the 7.3 model: the last allocation evicts the rival's own buffer and not the
    /// protected one. Unwrapping the `as` and spawning a1 where it moves give 10 ops.
    func testProtectedEvictionTraceShrinksToTen() async throws {
        let t = try parse("""
            register vgem/region0 268435456 ; spawn a1 / ; as a1 mkdir /c0 ; write /c0 cgroup.subtree_control "+dmem" ; \
            mkdir /c0/c1 ; mkdir /c0/c0 ; write /c0/c1 dmem.low "vgem/region0 268435456" ; spawn a2 /c0/c1 ; \
            move a1 /c0/c0 ; alloc a2 vgem/region0 100683776 b1 ; alloc a1 vgem/region0 143179776 b2 ; \
            alloc a1 vgem/region0 26849280 b3
            """)
        func lastEvicts(_ t: Trace) -> [BufferID]? {
            var exec = ModelExecutor(profile: .v7_3)
            var last: Outcome?
            for s in t.steps { last = exec.apply(s.op) }
            guard case .alloc = t.steps.last?.op else { return nil }
            return last?.evicted
        }
        XCTAssertEqual(lastEvicts(t), [2])
        // What mutant 23 gets wrong: the protected buffer must not be the one that goes, and
        // the protection must be what keeps it (without the low write b1 would go).
        var s = Shrinker { c in
            guard let ev = lastEvicts(c), !ev.isEmpty, !ev.contains(1) else { return false }
            var bare = c
            bare.steps.removeAll { if case let .write(_, f, _, _) = $0.op { return f == "dmem.low" } else { return false } }
            return lastEvicts(bare)?.contains(1) ?? false
        }
        let small = try await s.minimize(t)
        XCTAssertEqual(small.steps.count - 1, 10, ops(small))
        XCTAssertFalse(ops(small).contains("as a"), ops(small))
    }
}

extension Trace {
    var withoutExpectations: Trace { var t = self; t.steps = t.steps.map { Step($0.op) }; return t }

}
