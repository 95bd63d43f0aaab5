import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign

/// `fuzz --shard K/N` and `corpus merge` (issue 12): disjoint slices of one campaign, joined
/// with no server.
final class ShardMergeTests: XCTestCase {
    func testShardsParseAndSliceTheRoundsDisjointly() {
        XCTAssertEqual(Shard(parsing: "0/4"), Shard(index: 0, count: 4))
        XCTAssertEqual(Shard(parsing: "3/4"), Shard(index: 3, count: 4))
        for bad in ["4/4", "-1/4", "1", "1/0", "a/b", "1/2/3", "", "/4"] { XCTAssertNil(Shard(parsing: bad), bad) }
        // Four shards' first 100 rounds are 400 distinct campaign rounds, 0...399.
        let all = (0..<4).flatMap { k in (0..<100).map { Shard(index: k, count: 4).globalRound($0) } }
        XCTAssertEqual(Set(all), Set(0..<400))
        XCTAssertEqual(Shard.whole.globalRound(7), 7)
        XCTAssertEqual(Shard(index: 2, count: 4).defaultCampaign, "campaigns/shard-2-of-4")
        XCTAssertEqual(Shard.whole.defaultCampaign, "campaigns/default")
    }

    func trace(_ text: String) throws -> Trace { try TraceParser().parse("profile 7.3\n" + text) }

    /// Each signature keeps its smallest trace: a long trace that reaches nothing new is dropped,
    /// one that reaches one more signature stays.
    func testEachSignatureKeepsItsSmallestTrace() throws {
        let small = try trace("mkdir /a\nrmdir /a\n")
        let same = try trace("mkdir /a\nrmdir /a\nmkdir /b\nrmdir /b\n")          // the same signatures
        let more = try trace("mkdir /a\nrmdir /a\nrmdir /a\n")                       // + rmdir ENOENT
        let (kept, n) = CorpusMerge.select([.init(name: "0/x", trace: same), .init(name: "1/y", trace: more), .init(name: "2/z", trace: small)])
        XCTAssertEqual(kept.map(\.name), ["2/z", "1/y"])
        XCTAssertEqual(n, CorpusMerge.signatures(more).count)
        XCTAssertTrue(CorpusMerge.signatures(same).isSubset(of: CorpusMerge.signatures(small)))
    }

    func testMergeWritesKeptTracesAndFindingsOnceByTitle() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("merge-\(getpid())").path
        defer { try? fm.removeItem(atPath: root) }
        for (k, body) in [(0, "mkdir /a\nrmdir /a\n"), (1, "mkdir /a\nrmdir /a\nrmdir /a\n")] {
            try fm.createDirectory(atPath: "\(root)/s\(k)/corpus", withIntermediateDirectories: true)
            try ("profile 7.3\n" + body).write(toFile: "\(root)/s\(k)/corpus/round-\(k).trace", atomically: true, encoding: .utf8)
            try fm.createDirectory(atPath: "\(root)/s\(k)/findings/divergence-x", withIntermediateDirectories: true)
            try "divergence in read dmem.max: different data\n\nmore\n".write(toFile: "\(root)/s\(k)/findings/divergence-x/report.txt", atomically: true, encoding: .utf8)
        }
        let s = try CorpusMerge.run(inputs: ["\(root)/s0", "\(root)/s1"], into: "\(root)/all")
        XCTAssertEqual(s.traces, 2); XCTAssertEqual(s.kept, 2)
        XCTAssertEqual(s.findings, 2); XCTAssertEqual(s.findingsKept, 1)
        XCTAssertEqual(s.duplicateTitles, ["divergence in read dmem.max: different data"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(root)/all/corpus").sorted(), ["round-0.trace", "round-1.trace"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: "\(root)/all/findings"), ["divergence-x"])
        // Merging again adds nothing: what the target holds counts.
        let again = try CorpusMerge.run(inputs: ["\(root)/s0", "\(root)/s1"], into: "\(root)/all")
        XCTAssertEqual(again.kept, 0)
        XCTAssertEqual(again.findingsKept, 0)
        // A broken trace is named.
        try "profile 7.3\nfrob /a\n".write(toFile: "\(root)/s1/corpus/round-9.trace", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CorpusMerge.run(inputs: ["\(root)/s1"], into: "\(root)/all")) { e in
            XCTAssertEqual("\(e)", "\(root)/s1/corpus/round-9.trace:2:1: unknown op 'frob'")
        }
    }
}
