import XCTest
import AgentProtocol
import DmemModel
import Trace

final class ReplyTests: XCTestCase {
    /// Every reply with the verb it answers.
    static let all: [(AgentReply, AgentRequest.Verb?)] = [
        (.ready(release: "7.3.4-dmemfuzz", uptime: 1.25), nil),
        (.hello(AgentHello(release: "7.3.4", capacity: "vgem/region0 268435456\nvkms/default 67108864\n",
                           modules: "vgem=ok(12ms) vkms=ok(3ms)", cards: "", uptime: 2.5)), .hello),
        (.outcome(.ok), .exec),
        (.outcome(.err(.ENOENT)), .exec),
        (.outcome(.err(Errno(133))), .exec),
        (.outcome(.bytes("vgem/region0 4096\n\t\"\\")), .batch),
        (.outcome(.number(1)), .batch),
        (.outcome(Outcome(errno: .ENOSPC, evicted: [2, 1])), .exec),
        (.text("== / dmem.capacity\nvgem/region0 4096\n"), .state),
        (.text(""), .interfaces),
        (.shell(status: 127, output: "sh: x: not found\n"), .sh),
        (.shell(status: 0, output: ""), .sh),
        (.coverage([0xffffffff81000010, 1, 0]), .cover),
        (.coverage([]), .cover),
        (.stats([OpStat(verb: "alloc", count: 3, seconds: 0.004), OpStat(verb: "write-nonblock", count: 1, seconds: 1e-05)]), .stats),
        (.stats([]), .stats),
        (.ok, .put), (.ok, .kcov), (.ok, .poweroff),
        (.err(.EACCES), .put), (.err(.ENOENT), .kcov),
        (.fail("unknown request: frob"), .exec), (.fail(""), .hello), (.fail("kcov: no ranges"), .kcov),
    ]

    func testEveryReplyRoundTrips() throws {
        for (r, verb) in Self.all {
            XCTAssertEqual(try AgentReply.decode(r.wire, answering: verb), r, r.wire)
            XCTAssertFalse(r.wire.contains("\n"), "one line: \(r.wire)")
        }
        let answered = Set(Self.all.compactMap(\.1))
        XCTAssertEqual(Set(AgentRequest.Verb.allCases).subtracting(answered), [], "a reply for every verb")
    }

    /// Outcomes are the trace's outcome text, so a trace and the agent agree on every byte.
    func testOutcomeIsTheTraceFormat() {
        let o = Outcome(errno: .ENOSPC, evicted: [4, 2])
        XCTAssertEqual(AgentReply.outcome(o).wire, TracePrinter.outcome(o))
        XCTAssertEqual(AgentReply.outcome(o).wire, "ENOSPC evicted b2 b4")
        XCTAssertEqual(AgentReply.coverage([]).wire, "ok 0 -")
        XCTAssertEqual(AgentReply.coverage([255, 16]).wire, "ok 2 ff,10")
    }

    /// The verb decides how `ok` reads: a success outcome for exec, an acknowledgement for put.
    func testOkDependsOnTheVerb() throws {
        XCTAssertEqual(try AgentReply.decode("ok", answering: .exec), .outcome(.ok))
        XCTAssertEqual(try AgentReply.decode("ok", answering: .put), .ok)
    }

    func testMalformedReplies() {
        let bad: [(String, AgentRequest.Verb?)] = [
            ("ok", nil), ("ready zz 1", nil), ("ready 41 x", nil),
            ("ok 41 42 43", .hello), ("ok 41 42 43 44 x", .hello),
            ("frobbed", .exec), ("ok trailing", .exec),
            ("ok 2 ff", .cover), ("ok 1 zz", .cover), ("ok x ff", .cover),
            ("ok 0", .sh), ("ok x -", .sh),
            ("err ENOTANERRNO", .put), ("err EIO", .poweroff), ("yes", .kcov),
            ("ok " + Hex.field("alloc 3"), .stats),
            ("ok", .state), ("fail 6", .hello),
        ]
        for (line, verb) in bad {
            XCTAssertThrowsError(try AgentReply.decode(line, answering: verb), "\(line) for \(verb?.rawValue ?? "start")")
        }
    }
}
