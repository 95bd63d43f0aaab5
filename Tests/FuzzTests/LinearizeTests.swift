import XCTest
import Trace
@testable import Fuzz
@testable import DmemModel

/// The linearizability oracle of racing groups (issue 12): every order of a group on the model,
/// and the lockstep driver that keeps every state the kernel's outcomes still allow.
final class LinearizeTests: XCTestCase {
    let g = CgroupPath(["g"])

    func model(_ setup: [Op]) -> ModelExecutor {
        var m = ModelExecutor(profile: .v7_3)
        for op in setup { XCTAssertEqual(m.apply(op)?.errno, nil, TracePrinter.op(op)) }
        return m
    }

    func testPermutationsKeepTheGroupsOwnOrderFirst() {
        XCTAssertEqual(Model.permutations(2), [[0, 1], [1, 0]])
        let three = Model.permutations(3)
        XCTAssertEqual(three.count, 6)
        XCTAssertEqual(three.first, [0, 1, 2])
        XCTAssertEqual(Set(three.map { $0 }).count, 6)
        XCTAssertEqual(Model.permutations(4).count, 24)
    }

    /// mkdir /g racing rmdir /g, /g absent before: mkdir first leaves nothing (both ok); rmdir
    /// first fails ENOENT and leaves /g. Two outcomes, two states.
    func testMkdirRacingRmdirHasTwoLinearizations() {
        let m = model([])
        let l = m.linearizations([.mkdir(g), .rmdir(g)])
        XCTAssertEqual(l.map(\.order), [[0, 1], [1, 0]])
        XCTAssertEqual(l[0].outcome, Outcome(group: [.ok, .ok]))
        XCTAssertEqual(l[1].outcome, Outcome(group: [.ok, .err(.ENOENT)]))
        XCTAssertFalse(l[0].after.model.paths.contains(g))
        XCTAssertTrue(l[1].after.model.paths.contains(g))
        // The model alone runs the group in its own order.
        var plain = m
        XCTAssertEqual(plain.apply(.par([.mkdir(g), .rmdir(g)])), l[0].outcome)
        // A recorded outcome picks the order that gives it.
        var replay = m
        XCTAssertEqual(replay.apply(.par([.mkdir(g), .rmdir(g)]), recorded: l[1].outcome), l[1].outcome)
        XCTAssertTrue(replay.model.paths.contains(g))
    }

    /// Two allocations racing on a full region (vgem on TTM, 64 KiB, b1 of 16 KiB the oldest):
    /// one after the other the first evicts b1 and the second fits in what that freed, so the
    /// orders give `{ ok | ok } evicted b1`. Under contention the one that finds b1 reserved by
    /// the other's eviction fails ENOSPC (TTM trylocks in its eviction walk): `{ ENOSPC | ok }`
    /// and `{ ok | ENOSPC }`, b1 evicted, the failed one with no buffer and its cgroup uncharged
    /// (seen on 7.3.4 with 4096 and 12288 bytes). Without an eviction by the other member there
    /// is no such failure: a lone allocation is never contended.
    func testAnAllocationRacingAnEvictingOneMayFailENOSPC() {
        let setup: [Op] = [.register(region: "vgem/region0", size: 65536), .spawn(1, .root),
                           .alloc(1, region: "vgem/region0", size: 16384, buffer: 1),
                           .alloc(1, region: "vgem/region0", size: 49152, buffer: 2), .spawn(2, .root), .spawn(3, .root)]
        let group: [Op] = [.alloc(2, region: "vgem/region0", size: 4096, buffer: 3), .alloc(3, region: "vgem/region0", size: 12288, buffer: 4)]
        let l = model(setup).linearizations(group)
        let outcomes = Set(l.compactMap { $0.outcome.map(TracePrinter.outcome) })
        // b1 b2: one allocation skips b1, which the other is evicting, and evicts b2 instead.
        XCTAssertEqual(outcomes, ["{ ok | ok } evicted b1", "{ ENOSPC | ok } evicted b1", "{ ok | ENOSPC } evicted b1", "{ ok | ok } evicted b1 b2"])
        let failed = try! XCTUnwrap(l.first { $0.outcome.map(TracePrinter.outcome) == "{ ENOSPC | ok } evicted b1" })
        var after = failed.after
        XCTAssertEqual(after.apply(.read(.root, file: "dmem.current")), .bytes("vgem/region0 61440\n"))
        XCTAssertEqual(after.apply(.resident(3)), .err(.ENOENT), "no buffer b3")
        // Room for both: nothing is evicted and neither may fail.
        let roomy: [Op] = [.register(region: "vgem/region0", size: 65536), .spawn(2, .root), .spawn(3, .root)]
        XCTAssertEqual(Set(model(roomy).linearizations(group).compactMap { $0.outcome.map(TracePrinter.outcome) }), ["{ ok | ok }"])
    }

    /// An allocation whose walk takes nothing still reserves each BO it looks at: a 64 KiB
    /// region full with b1 (16 KiB, oldest) and b2 (48 KiB); a1 in /g at dmem.max 0 asks for
    /// 4 KiB, its charge fails and its walk (limit pool /g) finds no BO valuable: ENOSPC alone.
    /// a2 in the root asks for 16 KiB: alone it evicts b1. Racing, a2's walk may find b1
    /// reserved by a1's and evict b2 instead: `{ ENOSPC | ok } evicted b2`, an outcome no order
    /// gives (ttm_lru_walk_for_evict() trylocks before ttm_bo_evict_cb() asks evict_valuable).
    func testAWalkThatTakesNothingMayMakeAnotherSkipABO() {
        let setup: [Op] = [.register(region: "vgem/region0", size: 65536), .spawn(1, .root),
                           .alloc(1, region: "vgem/region0", size: 16384, buffer: 1),
                           .alloc(1, region: "vgem/region0", size: 49152, buffer: 2), .mkdir(g),
                           .write(g, file: "dmem.max", data: Array("vgem/region0 0".utf8), nonblock: false),
                           .spawn(2, g), .spawn(3, .root)]
        let group: [Op] = [.alloc(2, region: "vgem/region0", size: 4096, buffer: 3), .alloc(3, region: "vgem/region0", size: 16384, buffer: 4)]
        let outcomes = Set(model(setup).linearizations(group).compactMap { $0.outcome.map(TracePrinter.outcome) })
        XCTAssertEqual(outcomes, ["{ ENOSPC | ok } evicted b1", "{ ENOSPC | ok } evicted b2"])
    }

    /// Two allocations at once may join the LRU in one order and be placed in the other
    /// (Model.lruOrders: ttm_range_man_alloc() puts the resource on the LRU before drm_mm places
    /// it). A 4-page region, b1 at page 0; the group places b2 and b3 at pages 1 and 2, in either
    /// order; b4 takes page 3. An 8 KiB allocation then walks the LRU b1, then the group's two in
    /// either order, until two free pages are adjacent:
    /// - placed b2@1 b3@2, LRU b2 b3: b1, b2 free pages 0-1: evicted b1 b2;
    /// - placed b2@1 b3@2, LRU b3 b2: b1, b3 free 0 and 2, b2 then 0-2: evicted b1 b2 b3;
    /// - placed b3@1 b2@2, LRU b2 b3: b1, b2 free 0 and 2, b3 then: evicted b1 b2 b3;
    /// - placed b3@1 b2@2, LRU b3 b2: b1, b3 free 0-1: evicted b1 b3.
    /// b4, last on the LRU, is never reached. Seen on 7.3.4 (a fuzz round of the fresh-clone check
    /// diverged with the kernel evicting three where the one-order-for-both model said two).
    func testTheGroupsAllocationsMayJoinTheLRUInAnotherOrderThanTheyArePlaced() async throws {
        let setup: [Op] = [.register(region: "vgem/region0", size: 16384), .spawn(1, .root), .spawn(2, .root), .spawn(3, .root),
                           .alloc(1, region: "vgem/region0", size: 4096, buffer: 1)]
        let group = Op.par([.alloc(2, region: "vgem/region0", size: 4096, buffer: 2), .alloc(3, region: "vgem/region0", size: 4096, buffer: 3)])
        let fill = Op.alloc(1, region: "vgem/region0", size: 4096, buffer: 4)
        let big = Op.alloc(1, region: "vgem/region0", size: 8192, buffer: 5)
        guard case let .par(members) = group else { return XCTFail() }
        var seen = Set<String>()
        for l in model(setup).linearizations(members) where l.outcome == Outcome(group: [.ok, .ok]) {
            var m = l.after
            XCTAssertEqual(m.apply(fill), .ok)
            if let o = m.apply(big) { seen.insert(TracePrinter.outcome(o)) }
        }
        XCTAssertEqual(seen, ["ok evicted b1 b2", "ok evicted b1 b2 b3", "ok evicted b1 b3"])
        // Lockstep takes the kernel's three, and still refuses what no order gives.
        for (evicted, diverges) in [([1, 2, 3], false), ([1, 4], true)] {
            var ls = lockstep(setup, [Outcome(group: [.ok, .ok]), .ok, Outcome(evicted: evicted)])
            let d = try await ls.run([group, fill, big])
            XCTAssertEqual(d != nil, diverges, "\(evicted): \(d.map { "\($0)" } ?? "")")
        }
    }

    /// Two limit writes on one cgroup: both ok in either order, but dmem.max afterwards is the
    /// value of whichever ran last, so one outcome leaves two states.
    func testOneOutcomeTwoStates() {
        let setup: [Op] = [.register(region: "vkms/default", size: 67_108_864), .mkdir(g)]
        let w4 = Op.write(g, file: "dmem.max", data: Array("vkms/default 4096".utf8), nonblock: false)
        let w8 = Op.write(g, file: "dmem.max", data: Array("vkms/default 8192".utf8), nonblock: false)
        let l = model(setup).linearizations([w4, w8])
        XCTAssertEqual(l.count, 2)
        XCTAssertEqual(l[0].outcome, l[1].outcome)
        XCTAssertEqual(l[0].outcome, Outcome(group: [.ok, .ok]))
        var a = l[0].after, b = l[1].after
        XCTAssertEqual(a.apply(.read(g, file: "dmem.max")), .bytes("vkms/default 8192\n"))
        XCTAssertEqual(b.apply(.read(g, file: "dmem.max")), .bytes("vkms/default 4096\n"))
    }

    /// Two charges racing for the only 4096 bytes a vkms limit allows (charge-only: nothing to
    /// evict): exactly one gets them and the other fails ENOSPC (the test patch's dumb-buffer
    /// path returns dmem_cgroup_try_charge()'s failure as TTM does), and which one is the order.
    func testTwoChargesForOnePage() {
        let setup: [Op] = [.register(region: "vkms/default", size: 67_108_864), .mkdir(g),
                           .write(g, file: "dmem.max", data: Array("vkms/default 4096".utf8), nonblock: false),
                           .spawn(1, g), .spawn(2, g)]
        let m = model(setup)
        let group: [Op] = [.alloc(1, region: "vkms/default", size: 4096, buffer: 1), .alloc(2, region: "vkms/default", size: 4096, buffer: 2)]
        let l = m.linearizations(group)
        XCTAssertEqual(l.count, 2)
        let fail = Outcome.err(.ENOSPC)
        XCTAssertEqual(l[0].outcome, Outcome(group: [.ok, fail]))
        XCTAssertEqual(l[1].outcome, Outcome(group: [fail, .ok]))
        // Both allocating is no order at all.
        XCTAssertFalse(l.contains { $0.outcome == Outcome(group: [.ok, .ok]) })
    }

    /// Two 768 KiB charges under a 1 MiB limit on vgem. One after the other, the second evicts
    /// the first at the limit (ttm_bo_evict_alloc() with the limiting pool): { ok | ok } evicted
    /// b1. Racing, the first may still be reserved by its own ttm_bo_init_reserved() when the
    /// second walks the LRU, which skips it: ENOSPC for whichever came second, nothing evicted.
    /// A real 7.3.4 guest gave `{ ENOSPC | ok }` on its first try (BootTests).
    func testAnEvictionMaySkipABufferTheGroupIsStillCreating() {
        let setup: [Op] = [.register(region: "vgem/region0", size: 268_435_456), .mkdir(g),
                           .write(g, file: "dmem.max", data: Array("vgem/region0 1M".utf8), nonblock: false),
                           .spawn(1, g), .spawn(2, g)]
        let group: [Op] = [.alloc(1, region: "vgem/region0", size: 786_432, buffer: 1), .alloc(2, region: "vgem/region0", size: 786_432, buffer: 2)]
        let outcomes = Set(model(setup).linearizations(group).compactMap { $0.outcome.map(TracePrinter.outcome) })
        XCTAssertEqual(outcomes, ["{ ok | ok } evicted b1", "{ ok | ok } evicted b2", "{ ok | ENOSPC }", "{ ENOSPC | ok }"])
    }

    /// Seen on 7.3.4 in a generated campaign: `par { move a7 /g | rmdir /g }` gave
    /// `{ ENODEV | ok }`. The runner opened /g/cgroup.procs before the rmdir and wrote after it:
    /// kernfs answers the write ENODEV, not the ENOENT of an open after the rmdir.
    func testAnOpOnACgroupRemovedUnderItMayFailENODEV() {
        let m = model([.mkdir(g), .spawn(1, .root)])
        let outcomes = Set(m.linearizations([.move(1, g), .rmdir(g)]).compactMap { $0.outcome.map(TracePrinter.outcome) })
        XCTAssertEqual(outcomes, ["{ ok | EBUSY }", "{ ENOENT | ok }", "{ ENODEV | ok }"])
        // A mkdir below a cgroup being removed, and a second rmdir of it.
        let child = CgroupPath(["g", "c"])
        let mk = Set(m.linearizations([.mkdir(child), .rmdir(g)]).compactMap { $0.outcome.map(TracePrinter.outcome) })
        XCTAssertEqual(mk, ["{ ok | EBUSY }", "{ ENOENT | ok }", "{ ENODEV | ok }"])
        let twice = Set(m.linearizations([.rmdir(g), .rmdir(g)]).compactMap { $0.outcome.map(TracePrinter.outcome) })
        XCTAssertEqual(twice, ["{ ok | ENOENT }", "{ ENOENT | ok }", "{ ok | ENODEV }", "{ ENODEV | ok }"])
    }

    /// A subject that answers from a script, to drive Lockstep the way a kernel would.
    struct Scripted: Executor {
        var replies: [Outcome?]
        mutating func execute(_ ops: [Op]) async throws -> [Outcome?] {
            let r = Array(replies.prefix(ops.count)); replies.removeFirst(min(ops.count, replies.count)); return r
        }
    }

    func lockstep(_ setup: [Op], _ replies: [Outcome?]) -> Lockstep<Scripted> {
        Lockstep(model: model(setup), subject: Scripted(replies: replies))
    }

    func testLockstepFollowsTheOrderTheKernelTook() async throws {
        let setup: [Op] = [.register(region: "vkms/default", size: 67_108_864), .mkdir(g)]
        let w4 = Op.write(g, file: "dmem.max", data: Array("vkms/default 4096".utf8), nonblock: false)
        let w8 = Op.write(g, file: "dmem.max", data: Array("vkms/default 8192".utf8), nonblock: false)
        let read = Op.read(g, file: "dmem.max")
        // The kernel ran w8 first: not the model's first order, still no divergence.
        var ls = lockstep(setup, [Outcome(group: [.ok, .ok]), .bytes("vkms/default 4096\n"), .bytes("vkms/default 4096\n")])
        var d = try await ls.run([.par([w4, w8]), read, read])
        XCTAssertNil(d)
        XCTAssertTrue(ls.alternatives.isEmpty, "the read told the two states apart")
        // No order leaves 0.
        ls = lockstep(setup, [Outcome(group: [.ok, .ok]), .bytes("vkms/default 0\n")])
        d = try await ls.run([.par([w4, w8]), read])
        XCTAssertEqual(d?.index, 1)
        XCTAssertEqual(d?.expected, .bytes("vkms/default 8192\n"))
        // An outcome no order gives diverges at the group.
        ls = lockstep([], [Outcome(group: [.err(.ENOENT), .ok])])
        d = try await ls.run([.par([.mkdir(g), .rmdir(g)])])
        XCTAssertEqual(d?.index, 0)
        XCTAssertEqual(d?.expected, Outcome(group: [.ok, .ok]))
    }

    /// A root pool an earlier round made is invisible until an allocation fails: with the root's
    /// pool on vkms/default unknown, an alloc in the root under `fail 2` is ENOMEM (no pool,
    /// NOWAIT and preallocation fail) or ok with nothing injected (the pool was there), and the
    /// driver follows whichever the kernel gave; anything else still diverges.
    func testAnUnknownRootPoolIsBothUntilAFailedAllocationTells() async throws {
        var setup = model([.register(region: "vkms/default", size: 67_108_864), .spawn(1, .root)])
        setup.model.markRootPoolsUnknown()
        let alloc = Op.fail(count: 2, .alloc(1, region: "vkms/default", size: 4096, buffer: 1))
        let again = Op.fail(count: 2, .alloc(1, region: "vkms/default", size: 4096, buffer: 2))
        for (first, second) in [(Outcome(errno: .ENOMEM, injected: 2), Outcome(errno: .ENOMEM, injected: 2)),
                                (Outcome(injected: 0), Outcome(injected: 0))] {
            var ls = Lockstep(model: setup, subject: Scripted(replies: [first, second]))
            let d = try await ls.run([alloc, again])
            XCTAssertNil(d, "\(first)")
            XCTAssertTrue(ls.model.model.rootPoolUnknown.isEmpty)
        }
        // Once it is known to be there, an ENOMEM for want of it diverges.
        var ls = Lockstep(model: setup, subject: Scripted(replies: [Outcome(injected: 0), Outcome(errno: .ENOMEM, injected: 2)]))
        let d = try await ls.run([alloc, again])
        XCTAssertEqual(d?.index, 1)
        XCTAssertEqual(d?.expected, Outcome(injected: 0))
    }

    /// Generated groups are well-formed, print and parse back, and most of them have more than
    /// one linearization (both members do something that the other changes).
    func testGeneratorMakesRacingGroups() throws {
        var groups = 0, ambiguous = 0
        for profile in KernelProfile.allCases {
            var exec = ModelExecutor(profile: profile)
            var config = GeneratorConfig()
            config.racePercent = 25
            var gen = Generator(seed: 7, config: config)
            for step in gen.steps(ops: 1500, on: &exec) {
                guard case let .par(ops) = step.op else { continue }
                groups += 1
                XCTAssertTrue((2...Op.maxGroup).contains(ops.count))
                XCTAssertNil(Op.groupProblem(ops))
                let line = TracePrinter.step(step)
                XCTAssertEqual(try TraceParser().parseStep(Substring(line)), step, line)
            }
        }
        XCTAssertGreaterThan(groups, 100)
        // Re-run one profile keeping the model before each group, to count groups whose orders differ.
        var exec = ModelExecutor(profile: .v7_3)
        var config = GeneratorConfig()
        config.racePercent = 25
        var gen = Generator(seed: 7, config: config)
        _ = gen.prologue().map { exec.apply($0) }
        for _ in 0..<1500 {
            let op = gen.next(exec.model)
            if case let .par(ops) = op, Set(exec.linearizations(ops).map { $0.outcome.map(TracePrinter.outcome) ?? "?" }).count > 1 { ambiguous += 1 }
            _ = exec.apply(op)
        }
        XCTAssertGreaterThan(ambiguous, 20, "groups whose order shows in their outcome")
    }

    /// The shrinker splits a group whose failure does not need the race, and drops a member the
    /// failure does not need.
    func testShrinkerSplitsAndThinsGroups() async throws {
        let rm = Op.rmdir(g), mk = Op.mkdir(g), other = Op.mkdir(CgroupPath(["h"]))
        let t = Trace(profile: .v7_3, steps: [Step(.par([mk, other, rm]))])
        // "Fails" while the trace still makes /g and removes it, in any form.
        var s = Shrinker { c in
            let ops = c.steps.flatMap { $0.op.members }
            return ops.contains(mk) && ops.contains(rm)
        }
        let out = try await s.minimize(t)
        XCTAssertEqual(out.steps.map(\.op), [mk, rm])
        // A failure that needs the group keeps the smallest one.
        s = Shrinker { c in c.steps.contains { if case let .par(m) = $0.op { return m.contains(mk) && m.contains(rm) }; return false } }
        let raced = try await s.minimize(t)
        XCTAssertEqual(raced.steps.count, 1)
        XCTAssertEqual(Set(raced.steps[0].op.members.map { TracePrinter.op($0) }), [TracePrinter.op(mk), TracePrinter.op(rm)])
    }

    /// Seen on 7.3.4 with two vCPUs under load: `rmdir` of a cgroup with dmem.low, then an
    /// allocation that must evict, and the kernel still protected the removed cgroup's buffer:
    /// dmemcs_offline() (the limit reset) runs from a workqueue after an RCU grace period. The
    /// lockstep driver keeps both the offlined and the not-yet-offlined state until the
    /// allocation tells them apart, and for at most `offlineSettlesWithin` ops.
    func testLockstepAllowsTheOfflineToComeLate() async throws {
        let c = CgroupPath(["p", "c"]), d = CgroupPath(["p", "d"]), p = CgroupPath(["p"])
        let setup: [Op] = [.register(region: "vgem/region0", size: 268_435_456), .mkdir(p),
                           .write(p, file: "cgroup.subtree_control", data: Array("+dmem".utf8), nonblock: false),
                           .mkdir(c), .mkdir(d),
                           .write(p, file: "dmem.max", data: Array("vgem/region0 8M".utf8), nonblock: false),
                           .write(c, file: "dmem.low", data: Array("vgem/region0 8M".utf8), nonblock: false),
                           .spawn(1, c), .spawn(2, d),
                           .alloc(1, region: "vgem/region0", size: 4 << 20, buffer: 1), .alloc(2, region: "vgem/region0", size: 2 << 20, buffer: 2),
                           .move(1, d)]
        let late = Op.alloc(2, region: "vgem/region0", size: 4 << 20, buffer: 3)
        // Offlined: b1 lost its protection and is the LRU head: evicted. Not yet: b1 is
        // protected by /p/c's dmem.low (first pass skips it), so b2 goes.
        var m = model(setup)
        _ = m.apply(.rmdir(c))
        XCTAssertEqual(m.apply(late), Outcome(evicted: [1]))
        for kernel in [Outcome(evicted: [1]), Outcome(evicted: [2])] {
            var ls = lockstep([], setup.map { _ in nil } + [.ok, kernel])
            let d0 = try await ls.run(setup + [.rmdir(c), late])
            XCTAssertNil(d0, "\(kernel)")
        }
        // Evicting both is neither.
        var ls = lockstep([], setup.map { _ in nil } + [.ok, Outcome(evicted: [1, 2])])
        let d1 = try await ls.run(setup + [.rmdir(c), late])
        XCTAssertEqual(d1?.index, setup.count + 1)
        // Long after the rmdir only the offlined state is left.
        ls = lockstep([], setup.map { _ in nil } + [.ok] + Array(repeating: nil, count: 8) + [Outcome(evicted: [2])])
        let d2 = try await ls.run(setup + [.rmdir(c)] + Array(repeating: Op.read(p, file: "dmem.max"), count: 8) + [late])
        XCTAssertEqual(d2?.index, setup.count + 9)
    }
}
