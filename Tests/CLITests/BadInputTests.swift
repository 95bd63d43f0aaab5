import Foundation
import XCTest

/// Bad input never passes silently, never crashes, and says in one line what is wrong: the real
/// `dmemfuzz` binary and the vm/ scripts, run over the small malformed traces, corpora, findings,
/// series and campaign directories in `BadInput/`, each with the exact exit code and the first
/// line it must print. Every command runs from `BadInput/`, so messages name relative paths.
/// Nothing here boots a guest or builds a kernel: commands that would are given
/// `--kernel /nonexistent` (so a check that failed to stop them still ends at once), except the
/// series checks, which need a source tree: theirs is an empty fake that no build gets far with.
final class BadInputTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BadInput")
    let noKernel = ["--kernel", "/nonexistent"]

    /// The binary `swift build` / `swift test` built: next to this test bundle, else
    /// .build/debug. Under test.sh (DMEMFUZZ_REQUIRE_KERNEL) a missing binary is a failure.
    func binary() throws -> URL {
        var candidates: [URL] = []
        if let b = ProcessInfo.processInfo.environment["DMEMFUZZ_BIN"] { candidates.append(URL(fileURLWithPath: b)) }
        for b in [Bundle.main.bundleURL, Bundle(for: Self.self).bundleURL] {
            candidates.append(b.deletingLastPathComponent().appendingPathComponent("dmemfuzz"))
        }
        candidates.append(Self.package.appendingPathComponent(".build/debug/dmemfuzz"))
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) { return found }
        let msg = "dmemfuzz binary not found (looked at \(candidates.map(\.path).joined(separator: ", "))); run `swift build` first"
        struct Missing: Error, CustomStringConvertible { var description: String }
        if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil { throw Missing(description: msg + " (DMEMFUZZ_REQUIRE_KERNEL is set)") }
        throw XCTSkip(msg)
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String; var signalled: Bool }

    /// Runs `exe args` in `cwd`; output through files, so a large output cannot block it.
    func run(_ exe: URL, _ args: [String], cwd: URL = fixtures, env: [String: String] = [:]) throws -> Run {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("out"), err = tmp.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.currentDirectoryURL = cwd
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return Run(status: p.terminationStatus,
                   stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self),
                   signalled: p.terminationReason == .uncaughtSignal)
    }

    /// `exit` and the first line of stderr (exit 2) or stdout (otherwise, unless `stdout` says);
    /// `prefix`: the first line starts with `first`.
    @discardableResult
    func expect(_ args: [String], exit: Int32, first: String, prefix: Bool = false, stdout: Bool? = nil, exe: URL? = nil, cwd: URL = fixtures,
                file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let exe = try exe ?? binary()
        let r = try run(exe, args, cwd: cwd)
        let label = ([exe.lastPathComponent] + args).joined(separator: " ")
        XCTAssertFalse(r.signalled, "\(label): killed by signal \(r.status)", file: file, line: line)
        for marker in ["Fatal error", "Backtracing", "Current stack trace", "*** Signal"] {
            XCTAssertFalse(r.stderr.contains(marker), "\(label): crashed:\n\(r.stderr)", file: file, line: line)
        }
        XCTAssertEqual(r.status, exit, "\(label): exit status\nstdout: \(r.stdout)\nstderr: \(r.stderr)", file: file, line: line)
        let text = (stdout ?? (exit != 2)) ? r.stdout : r.stderr
        let got = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if prefix { XCTAssertTrue(got.hasPrefix(first), "\(label): first line '\(got)' does not start with '\(first)'", file: file, line: line) }
        else { XCTAssertEqual(got, first, "\(label): first line", file: file, line: line) }
        if exit == 2 {
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(label): a usage or setup error is ONE line:\n\(r.stderr)", file: file, line: line)
            XCTAssertFalse(r.stderr.contains("USAGE") || r.stderr.contains("Usage:"), "\(label): no usage banner", file: file, line: line)
        }
        return r
    }

    // MARK: option values (items 3, 4, 9)

    func testOptionValues() throws {
        try expect(["model", "--ops=-1"], exit: 2,
                   first: "dmemfuzz: The value '-1' is invalid for '--ops <ops>': out of range (want 1...1000000000) (see dmemfuzz model --help)")
        try expect(["model", "--ops", "-1"], exit: 2,
                   first: "dmemfuzz: The value '-1' is invalid for '--ops <ops>': out of range (want 1...1000000000) (see dmemfuzz model --help)")
        try expect(["model", "--ops", "9223372036854775807"], exit: 2,
                   first: "dmemfuzz: The value '9223372036854775807' is invalid for '--ops <ops>': out of range (want 1...1000000000) (see dmemfuzz model --help)")
        try expect(["model", "--ops", "99999999999999999999"], exit: 2,
                   first: "dmemfuzz: The value '99999999999999999999' is invalid for '--ops <ops>': not a number (want 1...1000000000) (see dmemfuzz model --help)")
        try expect(["model", "--seed", "-1"], exit: 2,
                   first: "dmemfuzz: The value '-1' is invalid for '--seed <seed>': not a seed (want 0...18446744073709551615) (see dmemfuzz model --help)")
        try expect(["bench", "model", "--ops", "-1"], exit: 2,
                   first: "dmemfuzz: The value '-1' is invalid for '--ops <ops>': out of range (want 1...1000000000) (see dmemfuzz bench --help)")
        try expect(["bench", "model", "--ops", "1"], exit: 0, first: "model (7.3): 3 ops in ", prefix: true)
        try expect(["model", "--ops", "1"], exit: 0, first: "profile 7.3, seed 1, 3 ops")
    }

    /// Issue 13: `--accel` and `bench`'s subject are enums, so a typo is a usage error, not ignored
    /// (a mistyped accelerator used to fall back to the probe; a mistyped subject ran nothing).
    func testEnumeratedValues() throws {
        try expect(["bench", "lockstpe"], exit: 2,
                   first: "dmemfuzz: The value 'lockstpe' is invalid for '<what>'. Please provide one of 'model', 'lockstep', 'boot' or 'rebuild'. (see dmemfuzz bench --help)")
        for sub in ["boot", "shell", "fuzz", "replay", "check"] {
            try expect([sub, "--accel", "kmv"] + noKernel, exit: 2,
                       first: "dmemfuzz: The value 'kmv' is invalid for '--accel <accel>'. Please provide one of 'kvm' and 'tcg'. (see dmemfuzz \(sub) --help)")
        }
        try expect(["bench", "--accel", "KVM"] + noKernel, exit: 2,
                   first: "dmemfuzz: The value 'KVM' is invalid for '--accel <accel>'. Please provide one of 'kvm' and 'tcg'. (see dmemfuzz bench --help)")
        for sub in ["fuzz", "check"] {
            try expect([sub, "--sanitizer", "kcsn"] + noKernel, exit: 2,
                       first: "dmemfuzz: The value 'kcsn' is invalid for '--sanitizer <sanitizer>'. Please provide one of 'kasan' and 'kcsan'. (see dmemfuzz \(sub) --help)")
        }
        try expect(["fuzz", "--shard", "4/4"] + noKernel, exit: 2,
                   first: "dmemfuzz: The value '4/4' is invalid for '--shard <shard>': not a shard (want K/N with 0 <= K < N, e.g. 0/4) (see dmemfuzz fuzz --help)")
        try expect(["corpus", "merge", "/nonexistent", "--into", "/tmp/dmemfuzz-merge-never"], exit: 2,
                   first: "dmemfuzz: /nonexistent: not a directory")
    }

    /// Issue 13: every stderr message goes through swift-log, and `--log-level` decides what is
    /// shown. `replay --model-only --record` of a trace for 7.2 and 7.3 whose outcomes differ warns
    /// which profile it dropped; at `--log-level error` the warning is gone, stdout is the same,
    /// and a bad level is a one-line usage error.
    func testLogLevelDecidesWhichMessagesAreShown() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loglevel-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("two.trace")
        try Data("profile 7.2 7.3\nregister vkms/a 1048576\nmkdir /g\nwrite /g dmem.max \"vkms/a 1\\nvkms/a 2\"\n".utf8).write(to: trace)
        let exe = try binary()
        let loud = try run(exe, ["replay", "--model-only", "--record", trace.path])
        let quiet = try run(exe, ["replay", "--model-only", "--record", "--log-level", "error", trace.path])
        XCTAssertEqual(loud.status, 0, loud.stderr)
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(loud.stderr, "dmemfuzz: \(trace.path):4: outcomes differ under 7.3 (write /g dmem.max \"vkms/a 1\\nvkms/a 2\"); recorded for 7.2 only\n")
        XCTAssertEqual(quiet.stderr, "")
        XCTAssertEqual(loud.stdout, quiet.stdout)
        try expect(["replay", "--model-only", "--log-level", "loud", trace.path], exit: 2,
                   first: "dmemfuzz: The value 'loud' is invalid for '--log-level <log-level>'. Please provide one of the following: 'trace', 'debug', 'info', 'notice', 'warning', 'error', 'critical'. (see dmemfuzz replay --help)")
    }

    /// Issue 9: `check`, the CI entry point, takes --profile and --option like `fuzz` (checked while
    /// parsing; accepted ones get as far as starting the guest).
    func testCheckTakesProfileAndOption() throws {
        try expect(["check", "--profile", "9.9"] + noKernel, exit: 2,
                   first: "dmemfuzz: The value '9.9' is invalid for '--profile <profile>'. Please provide one of '7.2' and '7.3'. (see dmemfuzz check --help)")
        try expect(["check", "--option", "bogus"] + noKernel, exit: 2,
                   first: "dmemfuzz: The value 'bogus' is invalid for '--option <option>'. Please provide one of 'max-below-usage-ebusy', 'no-current-on-root', 'charge-transfer', 'single-region-write' or 'peak-file'. (see dmemfuzz check --help)")
        // and so does every other command that runs the model against a kernel
        for cmd in [["replay", "x.trace"], ["minimize", "x.trace"], ["diff", "--series", "x.patch"], ["fuzz"]] {
            try expect(cmd + ["--option", "bogus"] + noKernel, exit: 2,
                       first: "dmemfuzz: The value 'bogus' is invalid for '--option <option>'. Please provide one of 'max-below-usage-ebusy', 'no-current-on-root', 'charge-transfer', 'single-region-write' or 'peak-file'. (see dmemfuzz \(cmd[0]) --help)")
        }
        try expect(["check", "--profile", "7.2", "--option", "max-below-usage-ebusy", "--corpus", "corpora/crash", "--duration", "0"] + noKernel, exit: 2,
                   first: "dmemfuzz: cannot start the guest: setup: /nonexistent: no bzImage")
    }

    func testModuleParameters() throws {
        try expect(["boot", "--vgem", "dmem_size=abc"] + noKernel, exit: 2,
                   first: "dmemfuzz: --vgem: 'dmem_size=abc': dmem_size wants a positive decimal number (see dmemfuzz boot --help)")
        try expect(["fuzz", "--vkms", "dmem_size"] + noKernel, exit: 2,
                   first: "dmemfuzz: --vkms: 'dmem_size' is not NAME=VALUE (see dmemfuzz fuzz --help)")
    }

    func testDurations() throws {
        for (d, why) in [("-5m", "not a duration (want e.g. 90s, 10m, 1h)"), ("0s", "not positive (want e.g. 90s, 10m, 1h)"),
                         ("nan", "not a duration (want e.g. 90s, 10m, 1h)"), ("inf", "not a duration (want e.g. 90s, 10m, 1h)"),
                         ("1e3", "not a duration (want e.g. 90s, 10m, 1h)"), ("9999h", "longer than a week")] {
            try expect(["fuzz", "--duration", d] + noKernel, exit: 2,
                       first: "dmemfuzz: The value '\(d)' is invalid for '--duration <duration>': \(why) (see dmemfuzz fuzz --help)")
        }
        // Checked while parsing, before the corpus replay (which would need a guest).
        try expect(["check", "--duration", "-5m"] + noKernel, exit: 2,
                   first: "dmemfuzz: The value '-5m' is invalid for '--duration <duration>': not a duration (want e.g. 90s, 10m, 1h) (see dmemfuzz check --help)")
        try expect(["selftest", "--duration", "nan"], exit: 2,
                   first: "dmemfuzz: The value 'nan' is invalid for '--duration <duration>': not a duration (want e.g. 90s, 10m, 1h) (see dmemfuzz selftest --help)")
    }

    func testUsageErrorsAreOneLineExit2() throws {
        try expect(["bogus"], exit: 2, first: "dmemfuzz: Unexpected argument 'bogus' (see dmemfuzz --help)")
        try expect(["replay"], exit: 2, first: "dmemfuzz: Missing expected argument '<paths> ...' (see dmemfuzz replay --help)")
        try expect(["model", "--bogus"], exit: 2, first: "dmemfuzz: Unknown option '--bogus'. Did you mean '--ops'? (see dmemfuzz model --help)")
        try expect(["replay", "--record", "traces/record-7.3.trace"], exit: 2, first: "dmemfuzz: --record needs --model-only (see dmemfuzz replay --help)")
        try expect(["replay", "--model-only", "traces/missing.trace"], exit: 2, first: "dmemfuzz: traces/missing.trace: no such file or directory")
        try expect(["replay", "traces/missing.trace"] + noKernel, exit: 2, first: "dmemfuzz: traces/missing.trace: no such file or directory")
        try expect(["model", "--ops", "\u{1b}[2J\u{0}"], exit: 2,
                   first: "dmemfuzz: The value '\\x1b[2J' is invalid for '--ops <ops>': not a number (want 1...1000000000) (see dmemfuzz model --help)")
        try expect(["kernel", "build", "--bogus"], exit: 2, first: "dmemfuzz: Unknown option '--bogus' (see dmemfuzz kernel build --help)")
        try expect(["coverage", "--kernel", "tree"], exit: 2, first: "dmemfuzz: Missing expected argument '<campaigns> ...' (see dmemfuzz coverage --help)")
        try expect(["coverage", "traces", "--kernel", "tree"], exit: 2, first: "dmemfuzz: traces: no state.json (a campaign directory, as `dmemfuzz fuzz --campaign` writes it)")
        try expect(["model", "--help"], exit: 0, first: "OVERVIEW: Run the reference model alone on generated ops and print a summary.")
    }

    // MARK: traces (items 3, 5, 10)

    func testMalformedTraces() throws {
        let cases: [(String, String)] = [
            ("traces/empty.trace", "traces/empty.trace: no ops (an empty trace checks nothing)"),
            ("traces/header-only.trace", "traces/header-only.trace: no ops (an empty trace checks nothing)"),
            ("traces/dir.trace", "traces/dir.trace: a directory with no *.trace files in it"),
            ("corpora/no-traces", "corpora/no-traces: a directory with no *.trace files in it"),
            ("traces/eq-outcome.trace", "traces/eq-outcome.trace:2:7: '=' in cgroup path '/g=ok' (an outcome needs a blank before '=': '/g = ...')"),
            ("traces/bom.trace", "traces/bom.trace:1:1: the file starts with a byte-order mark (\\xef\\xbb\\xbf); write traces as UTF-8 without one"),
            ("traces/nbsp.trace", "traces/nbsp.trace:2:1: unknown op 'mkdir\\xc2\\xa0/g'"),
            ("traces/nul.trace", "traces/nul.trace:2:7: control byte in cgroup path '/g\\x00x'"),
            ("traces/esc.trace", "traces/esc.trace:2:7: control byte in cgroup path '/g\\x1b[2J'"),
            ("traces/size-suffix.trace", "traces/size-suffix.trace:2:17: size '99999999999999999K' does not fit in 64 bits"),
            ("traces/bad-size.trace", "traces/bad-size.trace:2:17: bad size '12X' (want decimal bytes, optionally with K, M, G or T)"),
            ("traces/nonascii-escape.trace", "traces/nonascii-escape.trace:3:20: unknown escape: '\\' before \\xc3\\xa9 (known: \\n \\t \\r \\\" \\\\ \\0 \\xHH)"),
        ]
        for (file, message) in cases {
            try expect(["replay", "--model-only", file], exit: 2, first: "dmemfuzz: " + message)
            // The kernel replay names it too, before any guest is started.
            try expect(["replay", file] + noKernel, exit: 2, first: "dmemfuzz: " + message)
        }
    }

    /// A FIFO named like a trace would block a read forever.
    func testNonRegularFilesAreNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("f.trace").path, 0o644), 0)
        try expect(["replay", "--model-only", "f.trace"], exit: 2, first: "dmemfuzz: f.trace: not a regular file", cwd: dir)
        try expect(["replay", "--model-only", "."], exit: 2, first: "dmemfuzz: ./f.trace: not a regular file", cwd: dir)
    }

    func testUnmodeledExpectationFails() throws {
        try expect(["replay", "--model-only", "traces/unmodeled-expect.trace"], exit: 1,
                   first: "FAIL traces/unmodeled-expect.trace:3: read /g cgroup.procs: expects \"\", the model has no answer for this op (only a kernel replay checks it)")
    }

    func testFormerCrashesRun() throws {
        try expect(["replay", "--model-only", "traces/evict-huge-buffer.trace"], exit: 0, first: "ok   traces/evict-huge-buffer.trace")
    }

    // MARK: corpora (item 6)

    func testCorpusReportsEveryFile() throws {
        let r = try expect(["replay", "--model-only", "corpora/mixed"], exit: 2,
                           first: "dmemfuzz: corpora/mixed/b-bad.trace:3:1: unknown op 'bogus'")
        XCTAssertEqual(r.stdout.split(separator: "\n"), [
            "ok   corpora/mixed/a-ok.trace",
            "BAD  corpora/mixed/b-bad.trace:3:1: unknown op 'bogus'",
            "FAIL corpora/mixed/c-fail.trace:2: mkdir /c: expected EEXIST, model says ok",
            "ok   corpora/mixed/d-ok.trace",
            "3 expectations checked, 1 trace(s) failed, 1 unusable",
        ])
        // What used to crash in the middle of a corpus: every line is there.
        let c = try expect(["replay", "--model-only", "corpora/crash"], exit: 0, first: "ok   corpora/crash/a-ok.trace")
        XCTAssertEqual(c.stdout.split(separator: "\n").count, 4, c.stdout)
        // Kernel replay and check name the bad trace before a guest starts.
        try expect(["replay", "corpora/mixed"] + noKernel, exit: 2, first: "dmemfuzz: corpora/mixed/b-bad.trace:3:1: unknown op 'bogus'")
        for zero in ["0", "0s"] {
            try expect(["check", "--corpus", "corpora/mixed", "--duration", zero] + noKernel, exit: 2,
                       first: "dmemfuzz: corpora/mixed/b-bad.trace:3:1: unknown op 'bogus'")
        }
    }

    // MARK: --record (item 7)

    func testRecordReplaysClean() throws {
        let exe = try binary()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-record-\(UUID().uuidString).trace")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for (args, header) in [(["traces/record-7.3.trace", "--profile", "7.2"], "profile 7.2"),
                               (["traces/record-multi.trace"], "profile 7.3")] {
            let r = try run(exe, ["replay", "--model-only", "--record"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.split(separator: "\n").dropFirst().first.map(String.init), header, r.stdout)
            try Data(r.stdout.utf8).write(to: tmp)
            try expect(["replay", "--model-only", tmp.path], exit: 0, first: "ok   \(tmp.path)")
        }
        let multi = try run(exe, ["replay", "--model-only", "--record", "traces/record-multi.trace"])
        XCTAssertEqual(multi.stderr, "dmemfuzz: traces/record-multi.trace:4: outcomes differ under 7.2 (read /g dmem.peak); recorded for 7.3 only\n")
        try expect(["replay", "--model-only", "--record", "corpora/mixed"], exit: 2,
                   first: "dmemfuzz: --record prints one trace and got 4 files (record them one at a time)")
    }

    /// Every regression trace, recorded and replayed: what --record writes passes its own replay.
    func testRecordOfEveryRegressionTraceReplaysClean() throws {
        let exe = try binary()
        let dir = Self.package.appendingPathComponent("corpora/regress")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-rerecord-\(UUID().uuidString).trace")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where f.hasSuffix(".trace") {
            let r = try run(exe, ["replay", "--model-only", "--record", dir.appendingPathComponent(f).path])
            XCTAssertEqual(r.status, 0, "\(f): \(r.stderr)")
            try Data(r.stdout.utf8).write(to: tmp)
            let back = try run(exe, ["replay", "--model-only", tmp.path])
            XCTAssertEqual(back.status, 0, "\(f) recorded:\n\(r.stdout)\nreplay: \(back.stdout)")
        }
    }

    // MARK: findings (items 1, 8)

    func testReproOfAFindingExpectsTheModel() throws {
        let r = try expect(["repro", "findings/divergence"], exit: 0, first: "/* dmemfuzz reproducer: gcc -static -O1 -o repro repro.c; run as root in the guest (cgroup2 at")
        XCTAssertTrue(r.stdout.contains("report(\"alloc a1 vkms/default 8192 b2\", r, \"ENOSPC\");"), r.stdout)
        try expect(["repro", "findings/old-format"], exit: 2,
                   first: "dmemfuzz: findings/old-format/trace.trace: records the kernel's outcomes, not the model's (an older dmemfuzz wrote it); run `dmemfuzz minimize findings/old-format` for a reproducer")
        try expect(["repro", "findings/too-many-actors"], exit: 2,
                   first: "dmemfuzz: findings/too-many-actors/minimized.trace: op 1 (spawn a300 /): actor a300 is beyond the reproducer's a0...a255")
        try expect(["repro", "findings/missing"], exit: 2, first: "dmemfuzz: findings/missing: no such file or directory")
    }

    // MARK: campaigns (item 12)

    func testCampaignCorpusIsReadInFull() throws {
        try expect(["fuzz", "--resume", "--campaign", "campaigns/bad-corpus", "--seeds", "corpora/crash"] + noKernel, exit: 2,
                   first: "dmemfuzz: campaigns/bad-corpus/corpus/round-1.trace:3:1: unknown op 'bogus'")
        try expect(["fuzz", "--resume", "--campaign", "campaigns/no-state", "--seeds", "corpora/crash"] + noKernel, exit: 2,
                   first: "dmemfuzz: campaigns/no-state/state.json: no campaign to resume (run without --resume to start one)")
        try expect(["fuzz", "--seeds", "corpora/mixed"] + noKernel, exit: 2,
                   first: "dmemfuzz: corpora/mixed/b-bad.trace:3:1: unknown op 'bogus'")
    }

    // MARK: series (items 2, 11)

    func testSeriesThatContributeNothing() throws {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-tree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("kernel"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tree) }
        try Data("VERSION = 9\nPATCHLEVEL = 9\n".utf8).write(to: tree.appendingPathComponent("Makefile"))
        let apply = Self.package.appendingPathComponent("vm/apply-series.sh")
        let build = Self.package.appendingPathComponent("vm/build-kernel.sh")
        let dest = tree.deletingLastPathComponent().appendingPathComponent(tree.lastPathComponent + "-dest")
        defer { try? FileManager.default.removeItem(at: dest) }
        for (series, why) in [("series/empty.patch", "empty file, not a patch"), ("series/binary.patch", "binary file, not a patch"),
                              ("series/nodiff.patch", "contains no diff"),
                              ("series/no-patches", "a directory with no *.patch, *.diff, *.mbox or *.eml files"),
                              ("series/missing.patch", "no such series")] {
            try expect([tree.path, dest.path, series], exit: 2, first: "apply-series: \(series): \(why)", exe: apply)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dest.path), "apply-series left \(dest.path) behind for \(series)")
            // build-kernel.sh checks before fetching or building anything.
            try expect(["--kernel-tree", tree.path, "--series", series], exit: 2, first: "apply-series: \(series): \(why)", exe: build)
            // And every command that builds a kernel says so before building or booting.
            try expect(["kernel", "build", "--kernel-tree", tree.path, "--series", series], exit: 2, first: "dmemfuzz: apply-series: \(series): \(why)")
            for command in ["fuzz", "boot", "check", "replay"] {
                try expect([command, "--kernel-tree", tree.path, "--series", series] + (command == "replay" ? ["traces/record-7.3.trace"] : []),
                           exit: 2, first: "dmemfuzz: apply-series: \(series): \(why)")
            }
        }
    }

    /// Issue 11 item 11, issue 9: a hunk that needs fuzz is refused unless --allow-fuzz, and then
    /// named in .dmemfuzz-applied (and so in the manifest's applied_patches[].fuzzed_hunks).
    func testFuzzedHunksAreRecorded() throws {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-fuzz-\(UUID().uuidString)")
        let dest = tree.deletingLastPathComponent().appendingPathComponent(tree.lastPathComponent + "-dest")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("kernel"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tree); try? FileManager.default.removeItem(at: dest) }
        try Data("VERSION = 9\nPATCHLEVEL = 9\n".utf8).write(to: tree.appendingPathComponent("Makefile"))
        try Data("a\nb\nc\nd\ne\nf\ng\n".utf8).write(to: tree.appendingPathComponent("kernel/x.c"))
        let apply = Self.package.appendingPathComponent("vm/apply-series.sh")
        try expect([tree.path, dest.path, "series/fuzz.patch"], exit: 2,
                   first: "apply-series: series/fuzz.patch: patch \"fuzz.patch\" does not apply exactly: first failing hunk at kernel/x.c:1; it applies with fuzz (--allow-fuzz)", exe: apply)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest.path))
        let r = try run(apply, ["--allow-fuzz", tree.path, dest.path, "series/fuzz.patch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let applied = try records(dest)
        XCTAssertEqual(applied.map { $0["fuzzed_hunks"] as? [String] ?? [] }, [["kernel/x.c hunk 1 at 1 fuzz 1 in -"]])
        XCTAssertEqual(applied.map { $0["how"] as? String }, ["fuzz"])
        XCTAssertEqual(try String(contentsOf: dest.appendingPathComponent("kernel/x.c"), encoding: .utf8), "a\nb\nc\nD\ne\nf\ng\n")
    }

    // MARK: series intake (issue 9): BadInput/tree is a two-function kernel/x.c, BadInput/intake its patches

    /// .dmemfuzz-applied, one JSON object a line.
    func records(_ dest: URL) throws -> [[String: Any]] {
        try String(contentsOf: dest.appendingPathComponent(".dmemfuzz-applied"), encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    /// apply-series.sh tree DEST args...: its run, `kind how subject <message-id>` of every record, the patched x.c.
    func intake(_ args: [String]) throws -> (run: Run, applied: [String], source: String?) {
        let dest = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-intake-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dest) }
        let flags = args.filter { $0.hasPrefix("--") }, series = args.filter { !$0.hasPrefix("--") }
        let r = try run(Self.package.appendingPathComponent("vm/apply-series.sh"), flags + ["tree", dest.path] + series)
        guard r.status == 0 else {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dest.path), "apply-series left \(dest.path) behind")
            return (r, [], nil)
        }
        let applied = try records(dest).map { rec in
            ["kind", "how", "subject"].map { rec[$0] as? String ?? "?" }.joined(separator: " ") + " <" + (rec["message_id"] as? String ?? "-") + ">"
        }
        return (r, applied, try String(contentsOf: dest.appendingPathComponent("kernel/x.c"), encoding: .utf8))
    }

    func testIntakeOfEveryFormat() throws {
        let alphaFixed = "\t\t/* a negative value is skipped, it does not reset what was summed so far (x=1) */\n\t\tif (v[i] < 0) {\n\t\t\tcontinue;"
        // a mail as a list archive keeps it: no mbox line, folded headers, quoted-printable body
        var r = try intake(["intake/archived.eml"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["series exact [PATCH] x: let alpha skip negative values instead of resetting the sum <20261130100000.4711-1-dev@example.org>"])
        XCTAssertTrue(r.source?.contains(alphaFixed) == true, r.source ?? "")
        // a mail with CRLF line ends
        r = try intake(["intake/crlf.mbox"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["series exact [PATCH 2/2] x: beta returns -EINVAL for a negative value <->"])
        XCTAssertTrue(r.source?.contains("\t\t\terr = -22;\n") == true && r.source?.contains("\r") == false, r.source ?? "")
        // git format-patch --cover-letter -o DIR
        r = try intake(["intake/format-patch"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["skipped skipped [PATCH 0/2] x: alpha and beta fixes <->",
                                   "series exact [PATCH 1/2] x: let alpha skip negative values instead of resetting the sum <->",
                                   "series exact [PATCH 2/2] x: beta returns -EINVAL for a negative value <->"])
        XCTAssertEqual(r.run.stderr.split(separator: "\n").first.map(String.init),
                       "apply-series: intake/format-patch/0000-cover-letter.patch: \"[PATCH 0/2] x: alpha and beta fixes\": cover letter, skipped")
        XCTAssertTrue(r.source?.contains(alphaFixed) == true && r.source?.contains("err = -22;") == true, r.source ?? "")
        // a thread from an archive: the cover letter and a reviewer's reply (with a diff of its own) are skipped
        r = try intake(["intake/thread.mbox"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["skipped skipped [PATCH 0/1] x: beta error code <20261130110000.0-dev@example.org>",
                                   "series exact [PATCH 1/1] x: beta returns -EINVAL for a negative value <20261130110000.1-dev@example.org>",
                                   "skipped skipped Re: [PATCH 1/1] x: beta returns -EINVAL for a negative value <reply-1@example.org>"])
        XCTAssertTrue(r.source?.contains("err = -22;") == true && r.source?.contains("err = -5;") == false, r.source ?? "")
        // a plain diff: named by its file
        r = try intake(["intake/plain.diff"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["series exact plain.diff <->"])
        XCTAssertTrue(r.source?.contains(alphaFixed) == true, r.source ?? "")
    }

    func testExactApplicationByDefault() throws {
        let apply = Self.package.appendingPathComponent("vm/apply-series.sh")
        let dest = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-exact-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dest) }
        // A hunk for beta() whose context, with fuzz, only matches inside alpha(): refused either way.
        try expect(["tree", dest.path, "intake/misplaced.patch"], exit: 2,
                   first: "apply-series: intake/misplaced.patch: patch \"[PATCH] x: beta clears err after a skipped value\" does not apply exactly: first failing hunk at kernel/x.c:23; with fuzz, hunk 1 (kernel/x.c:23, beta) would land at kernel/x.c:9 in alpha", exe: apply)
        try expect(["--allow-fuzz", "tree", dest.path, "intake/misplaced.patch"], exit: 2,
                   first: "apply-series: intake/misplaced.patch: patch \"[PATCH] x: beta clears err after a skipped value\": hunk 1 (kernel/x.c:23, beta) lands at kernel/x.c:9 with fuzz 2, in alpha, not in beta: refused", exe: apply)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest.path))
        // A hunk whose first context line differs: refused by default, and says that fuzz would do.
        try expect(["tree", dest.path, "intake/fuzz-ok.patch"], exit: 2,
                   first: "apply-series: intake/fuzz-ok.patch: patch \"[PATCH] x: beta walks the values backwards\" does not apply exactly: first failing hunk at kernel/x.c:19; it applies with fuzz (--allow-fuzz)", exe: apply)
        let r = try intake(["--allow-fuzz", "intake/fuzz-ok.patch"])
        XCTAssertEqual(r.run.status, 0, r.run.stderr)
        XCTAssertEqual(r.applied, ["series fuzz [PATCH] x: beta walks the values backwards <20261130140000.1-dev@example.org>"])
        XCTAssertEqual(r.run.stderr.split(separator: "\n").first.map(String.init),
                       "apply-series: intake/fuzz-ok.patch: \"[PATCH] x: beta walks the values backwards\" applied with fuzz (kernel/x.c hunk 1 at 19 fuzz 2 in beta)")
        XCTAssertTrue(r.source?.contains("\tfor (i = n - 1; i >= 0; --i) {\n") == true, r.source ?? "")
        // A file that is a cover letter alone contributes nothing.
        try expect(["--check", "intake/cover-only.eml"], exit: 2,
                   first: "apply-series: intake/cover-only.eml: contains no diff (\"[PATCH 0/1] x: beta error code\": cover letter)", exe: apply)
    }

    /// Every command that builds a kernel refuses such a series in one line of its own, the last
    /// one on stderr after build-kernel's progress (the cache is a scratch one: no lock is shared).
    func testCommandsRefuseASeriesThatNeedsFuzz() throws {
        let exe = try binary()
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        let exact = "dmemfuzz: apply-series: intake/misplaced.patch: patch \"[PATCH] x: beta clears err after a skipped value\" does not apply exactly: first failing hunk at kernel/x.c:23; with fuzz, hunk 1 (kernel/x.c:23, beta) would land at kernel/x.c:9 in alpha"
        let fuzz = "dmemfuzz: apply-series: intake/misplaced.patch: patch \"[PATCH] x: beta clears err after a skipped value\": hunk 1 (kernel/x.c:23, beta) lands at kernel/x.c:9 with fuzz 2, in alpha, not in beta: refused"
        for (args, last) in [(["kernel", "build"], exact), (["kernel", "build", "--allow-fuzz"], fuzz), (["fuzz", "--allow-fuzz", "--seeds", "corpora/crash"], fuzz),
                             (["check", "--duration", "0", "--corpus", "corpora/crash"], exact), (["boot", "--allow-fuzz"], fuzz)] {
            let r = try run(exe, args + ["--kernel-tree", "tree", "--series", "intake/misplaced.patch"], env: ["DMEMFUZZ_CACHE": cache.path])
            let label = args.joined(separator: " ")
            XCTAssertEqual(r.status, 2, "\(label): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.last, last, "\(label): \(r.stderr)")
            XCTAssertEqual(lines.filter { $0.contains("misplaced.patch") }.count, 1, "\(label): said once:\n\(r.stderr)")
        }
    }

    // MARK: a kernel build that fails after a series (issue 9)

    /// vm/series.py build-error over the logs of BadInput/build-error: the first error's file:line
    /// and symbol; in a file a test patch adds, the API the series changed and the test patch.
    func testBuildErrorNamesFileSymbolAPIAndTestPatch() throws {
        let exe = Self.package.appendingPathComponent("vm/series.py")
        let dir = Self.fixtures.appendingPathComponent("build-error")
        func line(_ args: [String]) throws -> String {
            let r = try run(exe, ["build-error"] + args, cwd: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.split(separator: "\n").count, 1, r.stdout)
            return r.stdout.trimmingCharacters(in: .newlines)
        }
        let api = "the series changed dmem_cgroup_try_charge() (include/linux/cgroup_dmem.h, patch \"[PATCH] cgroup/dmem: report the pool over its high limit (fixture)\"), which dmemfuzz test patch 0002-drm-vkms-charge-dumb-buffers.patch calls there: it needs a version for the new API"
        XCTAssertEqual(try line(["build.log", "src", "patches", "series/events.patch", "series/high.patch"]),
                       "make failed: drivers/gpu/drm/vkms/vkms_dmem.c:7: error: too few arguments to function \u{2018}dmem_cgroup_try_charge\u{2019} (symbol dmem_cgroup_try_charge); " + api)
        XCTAssertEqual(try line(["modpost.log", "src", "patches", "series/high.patch"]),
                       "make failed: drivers/gpu/drm/vkms/vkms.ko: error: undefined symbol \"dmem_cgroup_try_charge\" (symbol dmem_cgroup_try_charge); " + api)
        // a series that changes nothing the failing line uses
        XCTAssertEqual(try line(["build.log", "src", "patches", "series/events.patch"]),
                       "make failed: drivers/gpu/drm/vkms/vkms_dmem.c:7: error: too few arguments to function \u{2018}dmem_cgroup_try_charge\u{2019} (symbol dmem_cgroup_try_charge); drivers/gpu/drm/vkms/vkms_dmem.c is in dmemfuzz test patch 0002-drm-vkms-charge-dumb-buffers.patch, and the series changes no function that line uses")
        // an error in a file no test patch touches: file and line only
        XCTAssertEqual(try line(["build-other.log", "src", "patches", "series/high.patch"]),
                       "make failed: kernel/cgroup/dmem.c:104: error: expected identifier or \u{2018}(\u{2019} before \u{2018}}\u{2019} token")
    }
}
