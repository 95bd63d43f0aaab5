import XCTest
import DmemModel
@testable import Trace

final class TraceTests: XCTestCase {
    let canonical = """
    # dmemfuzz trace
    profile 7.2
    option max-below-usage-ebusy
    option no-current-on-root
    register vgem/region0 268435456 = ok
    mkdir /a = ok
    write /a dmem.max "vgem/region0 1M\\n\\ttab \\"q\\" \\\\ \\xa0\\x00" = EINVAL
    write-nonblock /a dmem.max "vgem/region0 max" = ok
    read /a dmem.max = "vgem/region0 max\\n"
    spawn a1 /a = ok
    move a1 / = ok
    alloc a1 vgem/region0 4096 b1 = ok evicted b3 b4
    alloc a1 vgem/region0 8192 b2 = ENOSPC evicted b1
    resident b1 = 0
    free b1 = ENOENT
    exit a1
    dying / = 2
    evict? a1 vgem/region0 4096 = ok evicted b2
    unregister vgem/region0 = E#200
    rmdir /a = ok

    """

    func testCanonicalTextRoundTrips() throws {
        let t = try TraceParser().parse(canonical)
        XCTAssertEqual(t.profile, .v7_2)
        XCTAssertEqual(t.options, [.maxBelowUsageEBUSY, .noCurrentOnRoot])
        XCTAssertEqual(t.steps.count, 16)
        XCTAssertEqual(t.steps[2].op, .write(CgroupPath(["a"]), file: "dmem.max",
                                              data: Array("vgem/region0 1M\n\ttab \"q\" \\ ".utf8) + [0xa0, 0], nonblock: false))
        XCTAssertEqual(t.steps[7].expect, Outcome(evicted: [3, 4]))
        XCTAssertEqual(t.steps[15 - 1].expect?.errno, Errno(200))
        XCTAssertEqual(TracePrinter.trace(t), canonical)
        XCTAssertEqual(try TraceParser().parse(TracePrinter.trace(t)), t)
    }

    func testHumanFormsNormalize() throws {
        let t = try TraceParser().parse("  # comment\nmkdir /a   # trailing comment\r\nalloc a1 r 4K b1\n\n")
        XCTAssertEqual(t.profile, .v7_3)
        XCTAssertEqual(t.steps.map(\.op), [.mkdir(CgroupPath(["a"])), .alloc(1, region: "r", size: 4096, buffer: 1)])
    }

    /// The parse error for `text` as the CLI prints it, or "parsed".
    func message(_ text: String) -> String {
        do { _ = try TraceParser(file: "x.trace").parse(text); return "parsed" } catch { return error.description }
    }

    func testErrorsNameFileLineAndColumn() {
        XCTAssertEqual(message("mkdir /a\nfrob /b\n"), "x.trace:2:1: unknown op 'frob'")
        XCTAssertEqual(message("mkdir a"), "x.trace:1:7: bad cgroup path 'a' (want /, /a, /a/b)")
        XCTAssertEqual(message("write / dmem.max \"abc"), "x.trace:1:22: unterminated string")
        XCTAssertEqual(message("write / dmem.max \"\\q\""), "x.trace:1:19: unknown escape '\\q' (known: \\n \\t \\r \\\" \\\\ \\0 \\xHH)")
        XCTAssertEqual(message("spawn 1 /"), "x.trace:1:7: bad actor '1' (want aN)")
        XCTAssertEqual(message("mkdir /a = EWHAT"), "x.trace:1:12: bad outcome 'EWHAT' (want ok, an errno name, a number or a quoted string)")
        XCTAssertEqual(message("mkdir /a\nprofile 7.2"), "x.trace:2:1: profile must come before the first op")
        XCTAssertEqual(message("profile 6.9"), "x.trace:1:9: unknown profile '6.9' (known: 7.2, 7.3)")
        XCTAssertEqual(message("mkdir /a extra"), "x.trace:1:10: unexpected 'extra'")
        XCTAssertEqual(message("alloc a1 r 4096 b1 = ok evicted"), "x.trace:1:32: 'evicted' needs at least one buffer")
    }

    /// Issue 11 (items 5, 10): what used to pass silently or be shown mangled.
    func testBadInputIsNamedExactly() {
        // An outcome without its blank is not a cgroup named "g=ok", nor a file named "x=ok".
        XCTAssertEqual(message("mkdir /g=ok"), "x.trace:1:7: '=' in cgroup path '/g=ok' (an outcome needs a blank before '=': '/g = ...')")
        XCTAssertEqual(message("read / dmem.max=\"x\""), "x.trace:1:8: '=' in file name 'dmem.max=\"x\"' (an outcome needs a blank before '=': 'dmem.max = ...')")
        // Invisible bytes are shown, not echoed: a terminal would hide NBSP and obey ESC.
        XCTAssertEqual(message("mkdir\u{a0}/g"), "x.trace:1:1: unknown op 'mkdir\\xc2\\xa0/g'")
        XCTAssertEqual(message("mkdir /g\u{1b}[2J"), "x.trace:1:7: control byte in cgroup path '/g\\x1b[2J'")
        XCTAssertEqual(message("mkdir /g\u{0}x"), "x.trace:1:7: control byte in cgroup path '/g\\x00x'")
        XCTAssertEqual(message("\u{feff}profile 7.3"), "x.trace:1:1: the file starts with a byte-order mark (\\xef\\xbb\\xbf); write traces as UTF-8 without one")
        // The size as written, suffix and all, and why it is bad.
        XCTAssertEqual(message("register r 99999999999999999K"), "x.trace:1:12: size '99999999999999999K' does not fit in 64 bits")
        XCTAssertEqual(message("register r 12X"), "x.trace:1:12: bad size '12X' (want decimal bytes, optionally with K, M, G or T)")
        // A non-ASCII character after a backslash: its bytes, not a Latin-1 guess at one of them.
        XCTAssertEqual(message("write / dmem.max \"\\é\""), "x.trace:1:19: unknown escape: '\\' before \\xc3\\xa9 (known: \\n \\t \\r \\\" \\\\ \\0 \\xHH)")
        XCTAssertEqual(TracePrinter.visible(Array("a\u{a0}\n\u{1b}".utf8)), "a\\xc2\\xa0\\x0a\\x1b")
        // Bytes that are not UTF-8 are named as they are, not as U+FFFD.
        do { _ = try TraceParser(file: "x.trace").parseLocated(bytes: Array("frob\u{20}".utf8) + [0xff] + [0x0a]); XCTFail("parsed") }
        catch { XCTAssertEqual(error.description, "x.trace:1:1: unknown op 'frob'") }
        do { _ = try TraceParser(file: "x.trace").parseLocated(bytes: Array("mk".utf8) + [0xff]); XCTFail("parsed") }
        catch { XCTAssertEqual(error.description, "x.trace:1:1: 'mk\\xff' is not UTF-8 (write such bytes as \\xHH inside a quoted string)") }
    }

    func testPrivilegeOpsAndProfileListsRoundTrip() throws {
        let text = """
        # dmemfuzz trace
        profile 7.3 7.2
        requires dmem_selftest
        alloc a1 dmem_selftest 5000 b1 = EAGAIN
        delegate /d 1000 = ok
        setuid a1 1000 = ok
        dropcaps a2 = ok
        as a1 mkdir /d/x = ok
        as a1 write-nonblock /d/x dmem.max "vgem/region0 1M" = EACCES
        as a1 read /d dmem.max = "vgem/region0 max\\n"
        as a1 move a2 /d/x = EACCES
        as a2 rmdir /d/x = ok

        """
        let t = try TraceParser().parse(text)
        XCTAssertEqual(t.profile, .v7_3)
        XCTAssertEqual(t.alsoHoldsFor, [.v7_2])
        XCTAssertTrue(t.holds(for: .v7_2))
        XCTAssertEqual(t.requires, ["dmem_selftest"])
        XCTAssertEqual(t.steps[4].op, .by(1, .mkdir(CgroupPath(["d", "x"]))))
        XCTAssertEqual(t.steps[5].expect, .err(.EACCES))
        XCTAssertEqual(t.steps[7].op, .by(1, .move(2, CgroupPath(["d", "x"]))))
        XCTAssertEqual(TracePrinter.trace(t), text)
    }

    func testTransferRoundTripsWithItsOptionAndRequirement() throws {
        let text = """
        # dmemfuzz trace
        profile 7.3
        option charge-transfer
        requires transfer
        transfer a1 b2 a3 = ENOMEM
        transfer a0 b0 a0 = ok

        """
        let t = try TraceParser().parse(text)
        XCTAssertEqual(t.options, [.chargeTransfer])
        XCTAssertEqual(t.requires, ["transfer"])
        XCTAssertEqual(t.steps[0].op, .transfer(1, buffer: 2, to: 3))
        XCTAssertEqual(t.steps[0].expect, .err(.ENOMEM))
        XCTAssertEqual(TracePrinter.trace(t), text)
        XCTAssertEqual(message("transfer a1 1 a2"), "x.trace:1:13: bad buffer '1' (want bN)")
        XCTAssertEqual(message("transfer a1 b1"), "x.trace:1:15: missing argument")
        XCTAssertEqual(message("transfer a1 b1 b2"), "x.trace:1:16: bad actor 'b2' (want aN)")
    }

    func testForkAndFdinfoRoundTrip() throws {
        let text = """
        # dmemfuzz trace
        profile 7.3 7.2
        requires fdinfo
        fork a1 a2 = ok
        fdinfo a2 vgem/region0 = "drm-driver:\\tvgem\\ndrm-total-memory:\\t8 KiB\\ndrm-shared-memory:\\t0\\n"
        fdinfo a9 vkms/gone = ENODEV

        """
        let t = try TraceParser().parse(text)
        XCTAssertEqual(t.requires, ["fdinfo"])
        XCTAssertEqual(t.steps[0].op, .fork(1, child: 2))
        XCTAssertEqual(t.steps[1].op, .fdinfo(2, region: "vgem/region0"))
        XCTAssertEqual(t.steps[1].expect, .bytes("drm-driver:\tvgem\ndrm-total-memory:\t8 KiB\ndrm-shared-memory:\t0\n"))
        XCTAssertEqual(TracePrinter.trace(t), text)
        XCTAssertEqual(message("fork a1 b2"), "x.trace:1:9: bad actor 'b2' (want aN)")
        XCTAssertEqual(message("fdinfo a1"), "x.trace:1:10: missing argument")
    }

    func testFailRoundTripsWithItsInjectedCount() throws {
        let text = """
        # dmemfuzz trace
        profile 7.3
        requires failslab
        fail 2 write /a dmem.max "vgem/region0 1M" = ENOMEM injected 2
        fail 1 as a1 mkdir /a/b = ok injected 0
        fail 3 alloc a1 vgem/region0 4096 b1 = ok injected 1 evicted b0

        """
        let t = try TraceParser().parse(text)
        XCTAssertEqual(t.steps[0].op, .fail(count: 2, .write(CgroupPath(["a"]), file: "dmem.max", data: Array("vgem/region0 1M".utf8), nonblock: false)))
        XCTAssertEqual(t.steps[0].expect, Outcome(errno: .ENOMEM, injected: 2))
        XCTAssertEqual(t.steps[1].op, .fail(count: 1, .by(1, .mkdir(CgroupPath(["a", "b"])))))
        XCTAssertEqual(t.steps[2].expect, Outcome(evicted: [0], injected: 1))
        XCTAssertEqual(TracePrinter.trace(t), text)
        XCTAssertEqual(message("fail 0 mkdir /a"), "x.trace:1:6: bad failure count '0' (want 1..8)")
        XCTAssertEqual(message("fail 9 mkdir /a"), "x.trace:1:6: bad failure count '9' (want 1..8)")
        XCTAssertEqual(message("fail 1 rmdir /a"), "x.trace:1:8: 'fail' wraps an op that allocates dmem objects: mkdir, write, alloc, transfer, register, or as aN mkdir/write")
        XCTAssertEqual(message("fail 1 fail 1 mkdir /a"), "x.trace:1:8: 'fail' wraps an op that allocates dmem objects: mkdir, write, alloc, transfer, register, or as aN mkdir/write")
        XCTAssertEqual(message("mkdir /a = ok injected x"), "x.trace:1:24: bad injected count 'x'")
        // `fail nth K`: the K-th allocation alone.
        let nth = try TraceParser().parse("profile 7.3\nfail nth 2 register vgem/region0 268435456 = ENOMEM injected 1\n")
        XCTAssertEqual(nth.steps[0].op, .failNth(2, .register(region: "vgem/region0", size: 268_435_456)))
        XCTAssertEqual(TracePrinter.step(nth.steps[0]), "fail nth 2 register vgem/region0 268435456 = ENOMEM injected 1")
        XCTAssertEqual(message("fail nth 0 mkdir /a"), "x.trace:1:10: bad allocation number '0' (want 1..8)")
        XCTAssertEqual(message("fail nth mkdir /a"), "x.trace:1:10: bad allocation number 'mkdir' (want 1..8)")
        XCTAssertEqual(message("fail 1 unregister vgem/region0"), "x.trace:1:8: 'fail' wraps an op that allocates dmem objects: mkdir, write, alloc, transfer, register, or as aN mkdir/write")
    }

    func testPrivilegeOpErrors() {
        XCTAssertEqual(message("as a1 spawn a2 /"), "x.trace:1:7: an actor can only mkdir, rmdir, write, read or move with 'as'")
        XCTAssertEqual(message("as a1 as a2 mkdir /x"), "x.trace:1:7: an actor can only mkdir, rmdir, write, read or move with 'as'")
        XCTAssertEqual(message("setuid a1 4294967295"), "x.trace:1:11: bad uid '4294967295' (want 0..4294967294)")
        XCTAssertEqual(message("delegate /d"), "x.trace:1:12: missing argument")
        XCTAssertEqual(message("profile 7.3 7.3"), "x.trace:1:13: profile 7.3 named twice")
        XCTAssertEqual(message("profile"), "x.trace:1:8: profile needs a version (known: 7.2, 7.3)")
        XCTAssertEqual(message("profile 7.3\nprofile 7.2"), "x.trace:2:1: a second profile line (name every profile on one line: profile 7.3 7.2)")
    }

    func testEveryByteSurvivesQuoting() throws {
        let all = (0...255).map(UInt8.init)
        let op = Op.write(.root, file: "f", data: all, nonblock: false)
        XCTAssertEqual(try TraceParser().parseStep(Substring(TracePrinter.op(op))).op, op)
    }
}
