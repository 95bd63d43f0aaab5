import XCTest
import AgentProtocol
import DmemModel
import Trace

final class RequestTests: XCTestCase {
    static let t = CgroupPath.root.child("t")
    /// One of every verb, with arguments that need the codec or the trace quoting.
    static let all: [AgentRequest] = [
        .hello, .state, .interfaces, .cover, .stats, .poweroff,
        .exec(.mkdir(t)),
        .exec(.write(t, file: "dmem.max", data: Array("vgem/region0 4096\n\t\"\\\u{0}".utf8), nonblock: true)),
        .exec(.by(2, .read(t, file: "dmem.current"))),
        .batch([.spawn(1, t), .alloc(1, region: "vgem/region0", size: 4096, buffer: 7), .evictQuery(1, region: "vkms/default", size: 1)]),
        .batch([]),
        .shell("echo a  b > /tmp/x; cat /tmp/x"),
        .put(path: "/tmp/repro", data: [0x7f, 0x45, 0x4c, 0x46, 0, 10, 32]),
        .put(path: "/tmp/empty", data: []),
        .kcov(ranges: "ffffffff81000000 ffffffff81001000\nffffffff82000000 ffffffff82000100\n"),
    ]

    /// Reads a request back from its wire lines, as the agent's reader hands them out.
    func decode(_ wire: String) throws -> AgentRequest {
        var lines = wire.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.removeFirst()
        return try AgentRequest.decode(first, next: { lines.isEmpty ? nil : lines.removeFirst() })
    }

    func testEveryRequestRoundTrips() throws {
        for r in Self.all {
            XCTAssertEqual(try decode(r.wire), r, r.wire)
            XCTAssertEqual(r.wire.split(separator: "\n").count, 1 + (r.verb == .batch ? r.replyLines : 0), "one line per request, plus a batch's ops")
        }
        XCTAssertEqual(Set(Self.all.map(\.verb)), Set(AgentRequest.Verb.allCases), "the round trip covers every verb")
    }

    func testWireForm() {
        XCTAssertEqual(AgentRequest.exec(.mkdir(Self.t)).wire, "exec mkdir /t")
        XCTAssertEqual(AgentRequest.batch([.dying(.root), .free(3)]).wire, "batch 2\ndying /\nfree b3")
        XCTAssertEqual(AgentRequest.put(path: "/x", data: [1, 2]).wire, "put /x 0102")
        XCTAssertEqual(AgentRequest.kcov(ranges: "a b").wire, "kcov 612062")
        XCTAssertEqual(AgentRequest.shell("true").wire, "sh true")
        XCTAssertEqual(AgentRequest.batch([.free(1), .free(2)]).replyLines, 2)
        XCTAssertEqual(AgentRequest.hello.replyLines, 1)
    }

    func testRefusals() {
        func message(_ line: String, _ more: [String] = []) -> AgentProtocolError? {
            var more = more
            do { _ = try AgentRequest.decode(line, next: { more.isEmpty ? nil : more.removeFirst() }); return nil }
            catch { return error }
        }
        XCTAssertEqual(message("")?.message, "empty request")
        XCTAssertEqual(message("modprobe vgem")?.message, "unknown request: modprobe", "verbs the host never sends are gone")
        XCTAssertEqual(message("mkdir /t")?.message, "unknown request: mkdir", "ops go through exec, in trace syntax")
        XCTAssertEqual(message("hello there")?.message, "hello: takes no arguments")
        XCTAssertEqual(message("put /x 0")?.message, "put: path and hex")
        XCTAssertEqual(message("put /x")?.message, "put: path and hex")
        XCTAssertEqual(message("kcov zz")?.message, "kcov: hex ranges")
        XCTAssertEqual(message("sh")?.message, "sh: a command")
        XCTAssertEqual(message("batch x")?.message, "batch: a count")
        XCTAssertNotNil(message("exec frobnicate /t"))
        XCTAssertEqual(message("exec frobnicate /t")?.replyLines, 1)
    }

    /// A batch with one unreadable op still consumes all N lines and owes N replies, so the host
    /// and the agent stay in step.
    func testBadBatchConsumesItsLines() {
        var lines = ["mkdir /a", "bogus", "mkdir /b", "hello"]
        XCTAssertThrowsError(try AgentRequest.decode("batch 3", next: { lines.isEmpty ? nil : lines.removeFirst() })) { e in
            XCTAssertEqual((e as? AgentProtocolError)?.replyLines, 3)
        }
        XCTAssertEqual(lines, ["hello"])
        var short = ["mkdir /a"]
        XCTAssertThrowsError(try AgentRequest.decode("batch 2", next: { short.isEmpty ? nil : short.removeFirst() })) { e in
            XCTAssertEqual((e as? AgentProtocolError)?.message, "batch: 1 of 2 op lines")
        }
    }
}
