import XCTest
import DmemModel
@testable import Trace

/// Racing groups (`par { ... }`, issue 12) in the trace language.
final class GroupTests: XCTestCase {
    func message(_ text: String) -> String {
        do { _ = try TraceParser(file: "x.trace").parse(text); return "parsed" } catch { return error.description }
    }

    func testGroupRoundTripsWithItsOutcomes() throws {
        let text = """
        # dmemfuzz trace
        profile 7.3
        par { alloc a1 vgem/region0 4096 b1 | rmdir /g | as a2 write /g dmem.max "vgem/region0 0" } = { ok | EBUSY | ok } evicted b1
        par { mkdir /h | rmdir /h }
        par { read /g dmem.current | free b1 } = { "vgem/region0 0\\n" | ENOENT }

        """
        let t = try TraceParser().parse(text)
        XCTAssertEqual(t.steps.count, 3)
        XCTAssertEqual(t.steps[0].op, .par([.alloc(1, region: "vgem/region0", size: 4096, buffer: 1), .rmdir(CgroupPath(["g"])),
                                            .by(2, .write(CgroupPath(["g"]), file: "dmem.max", data: Array("vgem/region0 0".utf8), nonblock: false))]))
        XCTAssertEqual(t.steps[0].expect, Outcome(evicted: [1], group: [.ok, .err(.EBUSY), .ok]))
        XCTAssertNil(t.steps[1].expect)
        XCTAssertEqual(t.steps[2].expect?.group, [.bytes("vgem/region0 0\n"), .err(.ENOENT)])
        XCTAssertEqual(TracePrinter.trace(t), text)
        // The agent's wire outcome is the same text.
        XCTAssertEqual(try TraceParser().parseOutcome("{ ok | EBUSY | ok } evicted b1"), t.steps[0].expect)
    }

    func testGroupErrorsNameTheColumn() {
        XCTAssertEqual(message("par { mkdir /a }"), "x.trace:1:17: a group has 2 to 4 ops, this one 1")
        XCTAssertEqual(message("par { mkdir /a | mkdir /b | mkdir /c | mkdir /d | mkdir /e }"), "x.trace:1:61: a group has 2 to 4 ops, this one 5")
        XCTAssertEqual(message("par { mkdir /a | spawn a1 /a }"), "x.trace:1:18: 'spawn' cannot race in a group (can: mkdir, rmdir, write, read, move, exit, alloc, free, transfer, register, unregister, and as aN ...)")
        XCTAssertEqual(message("par { mkdir /a = ok | rmdir /a }"), "x.trace:1:7: an op in a group has no outcome of its own: write the group's as '= { ... }' after '}'")
        XCTAssertEqual(message("par mkdir /a"), "x.trace:1:5: want '{' after 'par'")
        XCTAssertEqual(message("par { mkdir /a | rmdir /a"), "x.trace:1:26: unterminated group: want '|' or '}'")
        XCTAssertEqual(message("par { mkdir /a rmdir /a }"), "x.trace:1:16: want '|' or '}' after an op of a group")
        XCTAssertEqual(message("par { alloc a1 r 4096 b1 | alloc a2 r 4096 b1 }"), "x.trace:1:48: two ops of a group allocate b1")
        XCTAssertEqual(message("par { alloc a1 r 4096 b1 | free b1 }"), "x.trace:1:37: b1 is allocated in the same group: no op of it can use it")
        XCTAssertEqual(message("par { mkdir /a | rmdir /a } = { ok }x"), "x.trace:1:36: unexpected '}x' in a group outcome")
    }
}
