import XCTest

import Trace
@testable import Fuzz
@testable import DmemModel

/// The PressurePlan recipe, worked through on the model: it must reach the shapes mutants 23 and
/// 24 hide in (an allocation that evicts while a protected sibling holds an older buffer).
final class PressurePlanTests: XCTestCase {
    /// A plan from the prologue state, drained op by op: on 7.3 with one 256 MiB vgem region.
    func drain(seed: UInt64) -> (ops: [Op], shapes: [String]) {
        var exec = ModelExecutor(profile: .v7_3)
        var gen = Generator(seed: seed)
        for op in gen.prologue() { _ = exec.apply(op) }
        guard var plan = gen.makePressurePlan(exec.model) else { XCTFail("no plan on a fresh model"); return ([], []) }
        var ops: [Op] = [], shapes: [String] = []
        while let op = gen.nextPlanned(&plan, exec.model) {
            gen.observe(op)
            let before = exec.model
            let out = exec.apply(op)
            if case let .alloc(a, _, _, _) = op, let ev = out?.evicted, !ev.isEmpty {
                shapes.append(before.evictionShape(actor: a, evicted: ev))
            }
            ops.append(op)
        }
        return (ops, shapes)
    }

    /// Every plan writes protection, places two actors and
    /// allocates for the holder before the rival (the holder's buffers are older in the LRU).
    func testPlanOrder() {
        for seed in 1...30 as ClosedRange<UInt64> {
            let (ops, _) = drain(seed: seed)
            let text = ops.map(TracePrinter.op)
            guard let protect = text.firstIndex(where: { $0.contains(" dmem.low ") || $0.contains(" dmem.min ") }) else {
                XCTFail("seed \(seed): no protection write"); continue
            }
            let allocs = ops.enumerated().compactMap { i, op -> (Int, ActorID)? in
                if case let .alloc(a, _, _, _) = op { return (i, a) } else { return nil }
            }
            XCTAssertGreaterThan(allocs.first?.0 ?? 0, protect, "seed \(seed): protection comes first")
            // The first allocation is the holder's, the next actor to allocate is another one.
            if let holder = allocs.first?.1, let other = allocs.first(where: { $0.1 != holder }) {
                XCTAssertFalse(allocs.prefix { $0.0 < other.0 }.contains { $0.1 != holder })
            } else { XCTFail("seed \(seed): one actor only") }
        }
    }

    /// Over 30 plans, allocations evict across cgroups with a protected sibling present, and
    /// evict several buffers at once: the shapes the 10-minute campaign has to show.
    func testPlansReachProtectedEviction() {
        let shapes = (1...30 as ClosedRange<UInt64>).flatMap { drain(seed: $0).shapes }
        XCTAssertTrue(shapes.contains(" n1 cross prot") || shapes.contains(" n2+ cross prot"), "\(shapes)")
        XCTAssertTrue(shapes.contains { $0.hasPrefix(" n2+") }, "\(shapes)")
    }

    /// The point of a plan: its evictions depend on the protection it wrote. Replaying each plan
    /// without its dmem.low/dmem.min write must change some allocation's evictions or errno, for
    /// low and for min plans alike (on a root parent protection is ignored, so not every plan does).
    func testProtectionDecidesSomePlans() {
        var mattered: Set<String> = []
        for seed in 1...100 as ClosedRange<UInt64> {
            let (ops, _) = drain(seed: seed)
            guard let i = ops.firstIndex(where: {
                if case let .write(_, f, _, _) = $0 { return f == "dmem.low" || f == "dmem.min" } else { return false }
            }), case let .write(_, file, _, _) = ops[i] else { continue }
            func allocs(_ ops: [Op]) -> [Outcome?] {
                var exec = ModelExecutor(profile: .v7_3)
                for op in Generator(seed: 0).prologue() { _ = exec.apply(op) }
                return ops.map { op -> Outcome? in
                    let out = exec.apply(op)
                    if case .alloc = op { return out } else { return nil }
                }
            }
            var unprotected = ops
            unprotected.remove(at: i)
            var with = allocs(ops)
            with.remove(at: i)
            if with != allocs(unprotected) { mattered.insert(file) }
        }
        XCTAssertEqual(mattered, ["dmem.low", "dmem.min"])
    }

    /// Some plans remove the protected cgroup while its buffers stay charged (the holder moved
    /// to the rival's cgroup), then evict: the shape of mutant 15 (offline keeps protection).
    func testSomePlansEvictFromARemovedProtectedCgroup() {
        var seen = false
        for seed in 1...60 as ClosedRange<UInt64> where !seen {
            let (ops, shapes) = drain(seed: seed)
            let text = ops.map(TracePrinter.op)
            guard let rm = text.firstIndex(where: { $0.hasPrefix("rmdir ") }) else { continue }
            let later = ops[(rm + 1)...].contains { if case .alloc = $0 { return true } else { return false } }
            if later && !shapes.isEmpty { seen = true }
        }
        XCTAssertTrue(seen)
    }
}

