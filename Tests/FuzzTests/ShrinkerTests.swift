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

    /// Two actors in two sibling cgroups under a limit, one low- and one min-protected; the last
    /// allocation evicts (the eviction mutants' findings).
    func protectedSiblings() throws -> Trace {
        try parse("""
            register vgem/region0 268435456 ; mkdir /l ; mkdir /l/a ; mkdir /l/b ; \
            write /l cgroup.subtree_control "+dmem" ; write /l dmem.max "vgem/region0 8M" ; \
            write /l/a dmem.low "vgem/region0 4M" ; write /l/b dmem.min "vgem/region0 4M" ; \
            spawn a1 /l/a ; spawn a2 /l/b ; alloc a1 vgem/region0 4096 b1 ; \
            alloc a2 vgem/region0 4194304 b2 ; alloc a2 vgem/region0 4194304 b3
            """)
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
        let t = try protectedSiblings()
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

    /// Candidates run `width` at once (`KernelMinimizer` with two guests) give the trace they
    /// give one at a time, with the same predicate; the runs that are more are speculation (a
    /// candidate after the one taken), each on a trace no other run had, within the budget.
    func testCandidatesRunTwoAtOnceGiveTheSameTrace() async throws {
        let t = try protectedSiblings()
        @Sendable func evicts(_ c: Trace) -> Bool {
            var m = ModelExecutor(profile: .v7_3)
            return c.steps.map { m.apply($0.op) }.last??.evicted.isEmpty == false
        }
        final class Log: @unchecked Sendable { var batches: [Int] = []; var seen: [[Op]] = [] }
        var one = Shrinker { evicts($0) }
        let sequential = try await one.minimize(t)
        let log = Log()
        var two = Shrinker { c in log.seen.append(c.steps.map(\.op)); return evicts(c) }
        two.width = 2
        two.stillFailsEach = { cs in
            log.batches.append(cs.count)
            log.seen += cs.map { $0.steps.map(\.op) }
            return cs.map(evicts)
        }
        let parallel = try await two.minimize(t)
        XCTAssertEqual(ops(parallel), ops(sequential))
        XCTAssertTrue(log.batches.contains(2), "some candidates ran two at once")
        XCTAssertEqual(Set(log.seen).count, log.seen.count, "a candidate ran twice")
        XCTAssertEqual(log.seen.count, two.attempts)
        XCTAssertGreaterThanOrEqual(two.attempts, one.attempts)
        // Rounds of two: fewer rounds of predicate runs than runs one at a time.
        let rounds = log.batches.count + (two.attempts - log.batches.reduce(0, +))
        XCTAssertLessThan(rounds, one.attempts)
    }

    // MARK: (c) renaming matches whole path components only


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
