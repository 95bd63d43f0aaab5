import AgentProtocol
import DmemModel
import Trace
import XCTest
@testable import AgentCore

/// The agent's request dispatch in-process, on requests that do not reach a kernel: what a
/// protocol error is answered with, how many lines a broken batch owes, the boot report's
/// replies, the counters. (`AgentStdioTests` runs the built binary; `BootTests` the kernel.)
final class AgentTests: XCTestCase {
    static let boot = BootReport(params: ["vgem": "dmem_regions=2"], loads: ["vgem=ok(3ms)", "vkms=ENOENT(1ms)"],
                                 interfaces: "root dmem.capacity\nchild dmem.max\ncontroller dmem\n")
    /// An agent whose replies go nowhere (`send` is only used by a PID 1's poweroff).
    func agent() -> Agent { Agent(kmod: Kmod(), boot: Self.boot, isInit: false, outFd: -1) }

    func replies(_ a: Agent, _ lines: [String]) -> [AgentReply] {
        var rest = Array(lines.dropFirst())
        return a.replies(to: lines[0], next: { rest.isEmpty ? nil : rest.removeFirst() })
    }

    func testProtocolErrorsAreFailRepliesAndABatchOwesEveryLine() {
        let a = agent()
        XCTAssertEqual(replies(a, ["modprobe vgem"]), [.fail("unknown request: modprobe")])
        XCTAssertEqual(replies(a, ["hello there"]), [.fail("hello: takes no arguments")])
        XCTAssertEqual(replies(a, ["batch x"]), [.fail("batch: a count")])
        XCTAssertEqual(replies(a, ["sh"]), [.fail("sh: a command")])
        // One unreadable op line: the whole batch is refused, one line per op, and both op lines
        // were read so the next request starts where it should.
        var lines = ["frobnicate /a", "mkdir /a", "stats"]
        let r = a.replies(to: "batch 2", next: { lines.isEmpty ? nil : lines.removeFirst() })
        XCTAssertEqual(r.count, 2)
        XCTAssertTrue(r.allSatisfy { if case .fail = $0 { return true }; return false }, "\(r)")
        XCTAssertEqual(lines, ["stats"])
        // A batch cut short (the host went away) still owes its N lines.
        XCTAssertEqual(replies(a, ["batch 3", "mkdir /a"]), Array(repeating: .fail("batch: 1 of 3 op lines"), count: 3))
    }

    func testBootReportAndCountersAreAnswered() {
        let a = agent()
        XCTAssertEqual(replies(a, ["interfaces"]), [.text(Self.boot.interfaces)])
        XCTAssertEqual(replies(a, ["stats"]), [.stats([])], "no op ran yet")
        XCTAssertEqual(replies(a, ["cover"]), [.coverage([])], "no KCOV asked for")
        XCTAssertEqual(replies(a, ["kcov " + Hex.field("")]), [.fail("kcov: no ranges")])
        XCTAssertEqual(replies(a, ["poweroff"]), [.ok], "off PID 1, poweroff only ends the actors")
        XCTAssertEqual(a.exec.moduleOptions, ["vgem": "dmem_regions=2"], "register reads the boot parameters")
    }

    func testReplyWireLinesDecodeOnTheHost() throws {
        let a = agent()
        for (line, verb) in [("interfaces", AgentRequest.Verb.interfaces), ("stats", .stats), ("cover", .cover)] {
            let wire = replies(a, [line]).map(\.wire)
            XCTAssertEqual(wire.count, 1)
            XCTAssertEqual(try AgentReply.decode(wire[0], answering: verb).wire, wire[0])
        }
    }

    /// What the agent keeps of a DRM fdinfo file (bytes as a 7.3.4 guest printed them for a vgem
    /// file with one 8 KiB dmem object): the drm- lines, without the file's own keys and the client id.
    func testFdinfoKeepsTheDrmLinesWithoutTheClientId() {
        let raw = "pos:\t0\nflags:\t02100002\nmnt_id:\t21\nino:\t601\ndrm-driver:\tvgem\ndrm-client-id:\t6\ndrm-total-memory:\t8 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t8 KiB\n"
        XCTAssertEqual(String(decoding: Drm.fdinfoLines(Array(raw.utf8)), as: UTF8.self),
                       "drm-driver:\tvgem\ndrm-total-memory:\t8 KiB\ndrm-shared-memory:\t0\ndrm-resident-memory:\t8 KiB\n")
    }

    func testKernelCommandLineParameters() {
        XCTAssertEqual(Boot.cmdlineParams("console=ttyS0 dmemfuzz.vgem=\"dmem_regions=2 dmem_size=268435456\" dmemfuzz.noload rdinit=/init dmemfuzz.modules=dmem_selftest\n"),
                       ["vgem": "dmem_regions=2 dmem_size=268435456", "noload": "", "modules": "dmem_selftest"])
        XCTAssertEqual(Boot.cmdlineParams(""), [:])
    }

    /// The agent is a static binary without Foundation: none of what it links may import it.
    func testNoFoundationInTheAgent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var checked = 0
        for target in ["AgentCore", "GuestAgent", "AgentProtocol", "Trace", "DmemModel"] {
            let dir = root.appendingPathComponent("Sources/" + target)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@testable import ") {
                    XCTAssertFalse(line.contains("Foundation"), "\(target)/\(name): \(line)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
    }
}
