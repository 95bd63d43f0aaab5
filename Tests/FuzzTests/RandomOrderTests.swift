import XCTest
import Trace
@testable import Fuzz
@testable import DmemModel

/// The oracle against a kernel that is the model itself, taking a random one of every racing
/// group's linearizations (any order, busy or not, any LRU order): such a kernel is correct by
/// construction, so the lockstep must never report a divergence it stands behind. Where it runs
/// out of room for the states (Lockstep.maxAlternatives) it may lose the one this kernel is in;
/// a divergence after that must say it is inconclusive.
final class RandomOrderTests: XCTestCase {
    struct RandomOrderKernel: Executor {
        var exec: ModelExecutor
        var rng: SeededRandom
        mutating func execute(_ ops: [Op]) async throws -> [Outcome?] {
            ops.map { op in
                guard case let .par(members) = op else { return exec.apply(op) }
                let all = exec.linearizations(members)
                let pick = all[rng.below(all.count)]
                exec = pick.after
                return pick.outcome
            }
        }
    }

    /// One generated round at `racePercent` against the random-order kernel: the divergence, if any.
    static func round(seed: UInt64, ops: Int, racePercent: Int) async throws -> (Divergence?, saturated: Bool) {
        var cfg = GeneratorConfig(regions: [("vgem/region0", 256 << 20), ("vkms/default", 64 << 20)], modelOnly: false)
        cfg.racePercent = racePercent
        cfg.fdinfo = true
        var gen = Generator(seed: seed, config: cfg)
        let m = ModelExecutor(profile: .v7_3)
        var ls = Lockstep(model: m, subject: RandomOrderKernel(exec: m, rng: SeededRandom(seed: seed &* 77)))
        for op in gen.prologue() { _ = try await ls.run([op]) }
        for _ in 0..<ops {
            if let d = try await ls.run([gen.next(ls.subject.exec.model)]) { return (d, ls.saturated) }
        }
        return (nil, ls.saturated)
    }

    func testACorrectKernelNeverGetsAConclusiveDivergence() async throws {
        for seed in UInt64(1)...3 {
            let (d, _) = try await Self.round(seed: seed, ops: 300, racePercent: 20)
            XCTAssertTrue(d?.inconclusive ?? true, "seed \(seed): \(d.map { "\($0)" } ?? "")")
        }
    }

    /// Seed 17 at 20 % racing groups: by op 236 the groups' allocations have left more than 144
    /// states no eviction told apart (up to 3! orders times 3! LRU orders a group), the one this
    /// kernel was in among the dropped, and `alloc a2 vgem/region0 134217728 b65` evicts b26 b27
    /// where every kept state says b26 b27 b29. With room for 5,000 states that round runs
    /// clean (the room fills again; 15 minutes in a debug build), so the divergence is the
    /// oracle's: inconclusive, and a campaign does not report it.
    func testADivergenceAfterTheStatesOverflowIsInconclusive() async throws {
        let (d, saturated) = try await Self.round(seed: 17, ops: 240, racePercent: 20)
        XCTAssertTrue(saturated)
        let div = try XCTUnwrap(d)
        XCTAssertEqual(TracePrinter.op(div.op), "alloc a2 vgem/region0 134217728 b65")
        XCTAssertTrue(div.inconclusive)
    }
}
