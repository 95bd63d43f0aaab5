import Foundation
import XCTest
@testable import Campaign

/// `CampaignDriver.load`, which `fuzz --resume` runs before a guest boots: a campaign directory
/// it cannot use in full is an error naming the file (file:line:col for a trace), never a skip.
final class CampaignDriverTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-driver-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/corpus", withIntermediateDirectories: true)
        try JSONEncoder().encode(CampaignState(seed: 9, round: 3, ops: 1200)).write(to: URL(fileURLWithPath: dir + "/state.json"))
        try "profile 7.3\nmkdir /g = ok\n".write(toFile: dir + "/corpus/round-0.trace", atomically: true, encoding: .utf8)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func loadError() -> String {
        do { _ = try CampaignDriver.load(dir: dir, seed: 1, resume: true); return "no error" } catch { return "\(error)" }
    }

    func testResumeReadsStateAndCorpus() throws {
        try "profile 7.2\nmkdir /h\n".write(toFile: dir + "/corpus/round-2.trace", atomically: true, encoding: .utf8)
        try "not a trace, not read\n".write(toFile: dir + "/corpus/notes.txt", atomically: true, encoding: .utf8)
        let (state, corpus) = try CampaignDriver.load(dir: dir, seed: 1, resume: true)
        XCTAssertEqual([state.seed, UInt64(state.round), UInt64(state.ops)], [9, 3, 1200])
        XCTAssertEqual(corpus.map(\.profile.rawValue), ["7.3", "7.2"])
        // Without --resume the state is new, the corpus is still the campaign's.
        let (fresh, again) = try CampaignDriver.load(dir: dir, seed: 1, resume: false)
        XCTAssertEqual([fresh.seed, UInt64(fresh.round)], [1, 0])
        XCTAssertEqual(again.count, 2)
    }

    func testMalformedCorpusTraceIsFileLineColumn() throws {
        try "profile 7.3\nmkdir /g\nwrite /g dmem.max \"x\nmkdir /z\n".write(toFile: dir + "/corpus/round-5.trace", atomically: true, encoding: .utf8)
        XCTAssertEqual(loadError(), "\(dir)/corpus/round-5.trace:3:21: unterminated string")
    }

    func testBinaryCorpusTraceIsFileLineColumn() throws {
        try Data([0x70, 0x72, 0x6f, 0x66, 0x69, 0x6c, 0x65, 0x20, 0x37, 0x2e, 0x33, 0x0a, 0x00, 0xff, 0x0a]).write(to: URL(fileURLWithPath: dir + "/corpus/round-6.trace"))
        XCTAssertTrue(loadError().hasPrefix("\(dir)/corpus/round-6.trace:2:1: "), loadError())
    }

    func testCorpusEntryThatIsNoFile() throws {
        try FileManager.default.createDirectory(atPath: dir + "/corpus/round-7.trace", withIntermediateDirectories: true)
        XCTAssertEqual(loadError(), "\(dir)/corpus/round-7.trace: not a regular file")
        try FileManager.default.removeItem(atPath: dir + "/corpus/round-7.trace")
        try FileManager.default.createSymbolicLink(atPath: dir + "/corpus/round-8.trace", withDestinationPath: dir + "/nowhere")
        XCTAssertEqual(loadError(), "\(dir)/corpus/round-8.trace: not a regular file")
    }

    func testCorpusThatIsNoDirectory() throws {
        try FileManager.default.removeItem(atPath: dir + "/corpus")
        XCTAssertEqual(try CampaignDriver.load(dir: dir, seed: 1, resume: true).1.count, 0, "no corpus yet: none")
        try "x".write(toFile: dir + "/corpus", atomically: true, encoding: .utf8)
        XCTAssertEqual(loadError(), "\(dir)/corpus: cannot list: Not a directory")
    }

    func testCorruptState() throws {
        try Data("{\"seed\": 9, \"round\": ".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
        XCTAssertEqual(loadError(), "\(dir)/state.json: unreadable campaign state")
        try Data("{\"round\": 1}".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
        XCTAssertEqual(loadError(), "\(dir)/state.json: unreadable campaign state", "a state without its seed")
        try FileManager.default.removeItem(atPath: dir + "/state.json")
        XCTAssertEqual(loadError(), "\(dir)/state.json: no campaign to resume (run without --resume to start one)")
    }
}
