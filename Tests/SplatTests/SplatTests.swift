import XCTest
@testable import Splat

/// The consoles in testdata/ (syzkaller pkg/report/testdata style): every `NAME.console`
/// has a `NAME.title` beside it, the titles of its reports in order, one a line (empty: no
/// report). A captured console (vm/capture-splat-consoles.sh) is a test once its two files are
/// there; see testdata/README.md for which are hand-written and which real.
final class SplatTestdataTests: XCTestCase {
    func testEveryConsoleHasItsTitles() throws {
        let dir = SplatTests.testdata
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".console") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 13, "testdata/ went missing")
        for name in names {
            let base = String(name.dropLast(".console".count))
            let titleURL = dir.appendingPathComponent(base + ".title")
            guard let expected = try? String(contentsOf: titleURL, encoding: .utf8) else {
                XCTFail("\(name): no \(base).title beside it (an empty one says: no report)"); continue
            }
            let want = expected.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            let got = SplatParser.parse(try SplatTests.console(base)).map(\.title)
            XCTAssertEqual(got, want, "\(name)")
        }
        // A title with no console is a test that silently does not run.
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".title") {
            let console = String(name.dropLast(".title".count)) + ".console"
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(console).path), "\(name): no \(console)")
        }
    }
}

/// Beyond the titles: kinds, call traces and report extents, on the same consoles.
final class SplatTests: XCTestCase {
    static let testdata = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata")

    /// Bytes as they are on disk (CRLF kept), decoded as the VM's console reader does.
    static func console(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: testdata.appendingPathComponent(name + ".console")), as: UTF8.self)
    }
    func console(_ name: String) throws -> String { try Self.console(name) }

    func testWarning7x() throws {
        let log = try console("warning-7x")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .warning)
        XCTAssertEqual(s[0].title, "WARNING in dmem_cgroup_uncharge")
        XCTAssertEqual(s[0].callTrace.first, "ttm_resource_free+0x88/0x120")
        XCTAssertEqual(s[0].callTrace.count, 3)
        XCTAssertTrue(s[0].raw.hasPrefix("------------[ cut here ]"))
        XCTAssertFalse(s[0].raw.contains("unrelated"))
    }

    func testWarningOldFormatAndLKDTM() throws {
        let log = try console("warning-old-lkdtm")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["WARNING in lkdtm_WARNING"])
    }

    func testCRLFConsole() throws {
        let log = try console("warning-crlf")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["WARNING in lkdtm_WARNING"])
        XCTAssertEqual(s.first?.callTrace, ["lkdtm_do_action+0x50/0x5b"])
    }

    func testKernelBUGWithOopsAndPanic() throws {
        let log = try console("bug-oops-panic")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["kernel BUG in lkdtm_BUG", "Kernel panic - not syncing: Fatal exception"])
        XCTAssertEqual(s.map(\.kind), [.bug, .panic])
    }

    func testKASAN() throws {
        let log = try console("kasan-uaf")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .kasan)
        XCTAssertEqual(s[0].title, "KASAN: slab-use-after-free Read in dmemcg_pool_put")
        XCTAssertEqual(s[0].callTrace.first, "dump_stack_lvl+0x64/0x80")
        XCTAssertFalse(s[0].raw.contains("after\n") || s[0].raw.hasSuffix("after"))
    }

    /// --sanitizer kcsan (issue 12): a KCSAN report's title names both racing functions, as
    /// syzbot's do. Written after the report format of Documentation/dev-tools/kcsan.rst.
    func testKCSANDataRace() throws {
        let s = SplatParser.parse(try console("kcsan-data-race"))
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .kcsan)
        XCTAssertEqual(s[0].title, "KCSAN: data-race in page_counter_try_charge / page_counter_uncharge")
        XCTAssertFalse(s[0].raw.contains("batch 13"))
    }

    func testLockdepCircularAndRecursive() throws {
        let log = try console("lockdep-circular-recursive")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["possible deadlock in dmem_cgroup_try_charge", "possible deadlock in dmemcg_pool_reset"])
        XCTAssertEqual(s.map(\.kind), [.lockdep, .lockdep])
        XCTAssertFalse(s[0].raw.contains("next request"))
    }

    func testRefcountUnderflow7x() throws {
        let log = try console("refcount-underflow-7x")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].kind, .refcount)
        XCTAssertEqual(s[0].title, "refcount bug (underflow) in dmemcg_pool_put")
    }

    func testRefcountOldFormatMessageBeforeHeader() throws {
        let log = try console("refcount-old-addition-on-0")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["refcount bug (addition on 0) in dmemcg_pool_get"])
    }

    func testListCorruptionBUG() throws {
        let log = try console("list-del-corruption")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), ["list_del corruption in dmemcg_free_rcu"])
        XCTAssertEqual(s[0].kind, .listCorruption)
    }

    func testNullDerefGPFUbsanStallsHungSoftLockup() throws {
        let log = try console("oops-gpf-ubsan-stall-hung-softlockup")
        let s = SplatParser.parse(log)
        XCTAssertEqual(s.map(\.title), [
            "BUG: kernel NULL pointer dereference in dmem_cgroup_calculate_protection",
            "general protection fault in get_cg_pool_locked",
            "UBSAN: shift-out-of-bounds in dmem_cgroup_region_capacity_show",
            "INFO: rcu detected stall in dmem_cgroup_try_charge",
            "INFO: task hung in dmem_cgroup_uncharge",
            "BUG: soft lockup in dmemcg_reset_pool",
        ])
        XCTAssertEqual(s.map(\.kind), [.oops, .oops, .ubsan, .rcuStall, .hungTask, .softLockup])
    }

    func testSleepingInAtomicAndCleanLog() throws {
        XCTAssertEqual(SplatParser.parse(try console("clean-boot")).count, 0)
        let log = try console("sleeping-in-atomic")
        XCTAssertEqual(SplatParser.parse(log).map(\.title), ["BUG: sleeping function called from invalid context in dmem_cgroup_unregister_region"])
    }
}
