import XCTest
import AgentProtocol
import DmemModel
import Trace
@testable import VM

/// A transport that answers with canned reply lines and records what was sent.
final class ScriptedAgent: AgentTransport {
    var sent: [String] = []
    var replies: [String]
    init(_ replies: [String]) { self.replies = replies }
    func send(_ text: String) throws { sent.append(text) }
    func readLine(timeout: Double) throws -> String {
        guard !replies.isEmpty else { throw VMError.hung("no reply scripted") }
        return replies.removeFirst()
    }
}

final class AgentClientTests: XCTestCase {
    func testTypedCalls() throws {
        let hello = AgentHello(release: "7.3.4", capacity: "vgem/region0 4096\n", modules: "vgem=ok(1ms)", cards: "card0:vgem:-", uptime: 3)
        let t = ScriptedAgent([AgentReply.hello(hello).wire, "ok 2 10,ff", AgentReply.stats([OpStat(verb: "mkdir", count: 2, seconds: 0.5)]).wire,
                               "ok", "err ENOENT", "ok 0 " + Hex.field("hi\n"), "ok " + Hex.field("== / x\n")])
        let agent = AgentClient(t)
        XCTAssertEqual(try agent.hello(), hello)
        XCTAssertEqual(try agent.cover(), [16, 255])
        XCTAssertEqual(try agent.stats(), [OpStat(verb: "mkdir", count: 2, seconds: 0.5)])
        XCTAssertTrue(try agent.kcov(ranges: "1 2\n"))
        XCTAssertFalse(try agent.kcov(ranges: "1 2\n"), "a kernel without KCOV answers with an errno")
        XCTAssertEqual(try agent.shell("echo hi").output, "hi\n")
        XCTAssertEqual(try agent.state(), "== / x\n")
        XCTAssertEqual(t.sent, ["hello", "cover", "stats", "kcov 3120320a", "kcov 3120320a", "sh echo hi", "state"])
    }

    func testBatchAndExec() throws {
        let t = ScriptedAgent(["ok", "ENOENT", "fail " + Hex.field("bad op"), "\"4096\\n\""])
        let agent = AgentClient(t)
        let p = CgroupPath.root.child("a")
        XCTAssertEqual(try agent.batch([.mkdir(p), .rmdir(p), .dying(p)]), [.outcome(.ok), .outcome(.err(.ENOENT)), .fail("bad op")])
        XCTAssertEqual(try agent.exec(.read(p, file: "dmem.max")), .bytes("4096\n"))
        XCTAssertEqual(t.sent, ["batch 3\nmkdir /a\nrmdir /a\ndying /a", "exec read /a dmem.max"])
    }

    func testRefusedAndUnreadableRepliesThrow() {
        let agent = AgentClient(ScriptedAgent(["fail " + Hex.field("kcov: no ranges"), "ok 1 zz", "bogus"]))
        XCTAssertThrowsError(try agent.kcov(ranges: "")) { e in
            XCTAssertEqual("\(e)".contains("agent refused kcov: kcov: no ranges"), true, "\(e)")
        }
        XCTAssertThrowsError(try agent.cover())
        XCTAssertThrowsError(try agent.batch([.free(1)])) { e in
            XCTAssertTrue("\(e)".contains("unreadable outcome 'bogus' for 'free b1'"), "\(e)")
        }
    }
}
