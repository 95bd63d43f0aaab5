import DmemModel
import Foundation
import Fuzz
import Trace
import XCTest
@testable import Campaign

final class JobsTests: XCTestCase {
    /// More jobs than the cooperative pool has threads, each blocked (as a job blocks on its
    /// guest's socket) until every job has started: on the pool the last ones never start and
    /// the first ones never return; on threads of their own all of them finish.
    func testBlockingJobsDoNotStarveEachOther() async throws {
        let n = ProcessInfo.processInfo.activeProcessorCount + 2
        let arrived = Counter()
        let results = await Jobs.each(Array(0..<n)) { i, j -> String in
            arrived.add()
            let deadline = Date().addingTimeInterval(20)
            while arrived.value < n && Date() < deadline { usleep(1000) }  // blocking, not an await
            return "\(i)/\(j)/\(arrived.value)"
        }
        XCTAssertEqual(results.map { try? $0.get() }, (0..<n).map { "\($0)/\($0)/\(n)" })
    }

    func testAJobsErrorIsItsResultAndTheOthersEnd() async throws {
        struct Boom: Error {}
        let results = await Jobs.each([1, 2, 3]) { i, _ -> Int in
            if i == 2 { throw Boom() }
            return i * 10
        }
        XCTAssertEqual(try results[0].get(), 10)
        XCTAssertThrowsError(try results[1].get()) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try results[2].get(), 30)
    }

    /// A signature is new once for the whole campaign: the job that claims it first gets it, a
    /// second job's round with it adds nothing. A cut round run again after a resume gets back
    /// what it claimed before the cut. A finding title is new once.
    func testSharedClaims() {
        let s = SharedCampaign()
        s.merge(signatures: ["mkdir ok"], titles: ["old finding"])
        XCTAssertEqual(s.claim(["mkdir ok", "rmdir EBUSY"], reclaiming: []), ["rmdir EBUSY"])
        XCTAssertEqual(s.claim(["rmdir EBUSY", "kcov 1f"], reclaiming: []), ["kcov 1f"])
        XCTAssertEqual(s.claim(["rmdir EBUSY", "kcov 1f"], reclaiming: ["kcov 1f"]), ["kcov 1f"])
        XCTAssertEqual(s.coverage, "3 signatures (1 KCOV edges and PCs)")
        XCTAssertFalse(s.claimFinding("old finding"))
        XCTAssertTrue(s.claimFinding("new finding"))
        XCTAssertFalse(s.claimFinding("new finding"))
        XCTAssertEqual(s.newFindings, 1)
    }

    /// Two jobs of one campaign on in-process guests (the model as the kernel, MachineTests.swift):
    /// shards 0/2 and 1/2 of the seed stream, so their rounds never coincide; each round file in a
    /// job's corpus is one of its own rounds; every signature either job reached is in the shared
    /// coverage, and a job's corpus holds only rounds that added one no job had.
    func testTwoJobsShareCoverageAndSplitTheRounds() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-jobs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try FindingStore(root: root.appendingPathComponent("findings").path)
        let shared = SharedCampaign()
        var drivers: [CampaignDriver] = []
        for j in 0..<2 {
            let g = try Guest(kcov: false, pool: try ModelPool())
            var cfg = CampaignConfig()
            cfg.seed = 7; cfg.ops = 240; cfg.batch = 16; cfg.racePercent = 0
            cfg.shard = Shard(index: j, count: 2)
            let d = try CampaignDriver(guest: g, dir: root.appendingPathComponent("job-\(j)").path, findings: store, config: cfg,
                                       resume: false, shared: shared)
            d.roundOps = 60
            drivers.append(d)
        }
        let found = try await Jobs.run(drivers) { _, _ in }
        XCTAssertEqual(found, [], "the model agrees with itself")
        for (j, d) in drivers.enumerated() {
            XCTAssertEqual(d.state.ops, 240)
            XCTAssertEqual(d.state.round, 4)
            let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("job-\(j)/corpus").path)
            XCTAssertFalse(files.isEmpty)
            for f in files { XCTAssertEqual(CampaignDriver.round(ofCorpusFile: f) % 2, j, f) }
        }
        let union = Set(drivers.flatMap(\.state.signatures))
        XCTAssertEqual(shared.coverage, CampaignResult.describe(union))
        for d in drivers { XCTAssertTrue(d.state.signatures.count < union.count, "each job reached part of the coverage only") }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
