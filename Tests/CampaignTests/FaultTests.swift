import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign
import Kernel
import VM

/// Faults around a campaign on the real kernel (issue 11): `dmemfuzz fuzz` as a user runs it,
/// interrupted, its guest killed, its kernel panicking at boot, its findings directory unusable,
/// its disk full. Each drives the built binary against vm/build-kernel.sh's 7.3 build and checks
/// what the campaign and findings directories hold afterwards. Without a kernel build these skip,
/// unless DMEMFUZZ_REQUIRE_KERNEL is set, where the skip is a failure. Rounds are small and KCOV
/// is off (`--no-kcov`): op signatures are a function of the ops and the kernel's outcomes, so two
/// campaigns that executed the same ops record the same signatures.
final class FaultTests: XCTestCase {
    static let root = KernelBuild.packageRoot()

    func kernel() throws -> KernelBuild {
        if let kb = KernelBuild.existing(version: "7.3") { return kb }
        let msg = "no 7.3 kernel build ($DMEMFUZZ_KERNEL, vm/KERNEL_READY or ~/.cache/dmemfuzz/build/*): run vm/build-kernel.sh"
        if ProcessInfo.processInfo.environment["DMEMFUZZ_REQUIRE_KERNEL"] != nil { XCTFail(msg); throw VMError.setup(msg) }
        throw XCTSkip(msg)
    }

    func binary() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        let b = URL(fileURLWithPath: env["DMEMFUZZ_BIN"] ?? Self.root.appendingPathComponent(".build/debug/dmemfuzz").path)
        if FileManager.default.isExecutableFile(atPath: b.path) { return b }
        let msg = "\(b.path): no dmemfuzz binary; run `swift build` first"
        if env["DMEMFUZZ_REQUIRE_KERNEL"] != nil { XCTFail(msg); throw VMError.setup(msg) }
        throw XCTSkip(msg)
    }

    /// A scratch directory for one test, removed afterwards (mounts under it first).
    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-fault-\(name.filter(\.isLetter))-\(getpid())")
        try? FileManager.default.removeItem(at: d)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    /// `dmemfuzz fuzz` on the 7.3 build, small batches and rounds, no KCOV, seeds from the
    /// regression corpus, findings and campaign under `dir`.
    func fuzzArgs(_ kb: KernelBuild, _ dir: URL, campaign: String = "campaign", findings: String = "findings") -> [String] {
        ["fuzz", "--kernel", kb.dir.path, "--no-kcov", "--batch", "4", "--round", "48",
         "--seeds", Self.root.appendingPathComponent("corpora/regress").path,
         "--campaign", dir.appendingPathComponent(campaign).path, "--findings", dir.appendingPathComponent(findings).path]
    }

    /// A running `dmemfuzz`, its output going to files.
    final class Running {
        let process = Process()
        let out: URL, err: URL
        init(_ exe: URL, _ args: [String], in dir: URL) throws {
            out = dir.appendingPathComponent("out-\(UUID().uuidString)"); err = dir.appendingPathComponent("err-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            process.executableURL = exe
            process.arguments = args
            process.currentDirectoryURL = dir
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        }
        var stdout: String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }
        /// Waits until stderr has `text` (true) or the process exits or `timeout` passes (false).
        func awaitStderr(_ text: String, timeout: Double) -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end && process.isRunning {
                if stderr.contains(text) { return true }
                usleep(50_000)
            }
            return stderr.contains(text)
        }
        /// Waits for the exit; kills it (and fails) after `timeout`.
        @discardableResult
        func wait(timeout: Double, file: StaticString = #filePath, line: UInt = #line) -> Int32 {
            let end = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < end { usleep(100_000) }
            if process.isRunning {
                XCTFail("dmemfuzz still running after \(timeout) s; killed\n\(stderr.suffix(2000))", file: file, line: line)
                kill(process.processIdentifier, SIGINT); usleep(3_000_000)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
            return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        }
        /// QEMU processes this dmemfuzz started (its children).
        func qemuChildren() -> [pid_t] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
            p.arguments = ["-P", "\(process.processIdentifier)", "-f", "qemu-system"]
            let pipe = Pipe(); p.standardOutput = pipe
            try? p.run(); p.waitUntilExit()
            return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .split(separator: "\n").compactMap { pid_t($0) }
        }
    }

    func run(_ args: [String], in dir: URL, timeout: Double = 600, file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try Running(try binary(), args, in: dir)
        let status = r.wait(timeout: timeout, file: file, line: line)
        return (status, r.stdout, r.stderr)
    }

    /// A usage or setup error: exit 2, ONE line on stderr, no crash.
    func assertOneLineError(_ r: (status: Int32, stdout: String, stderr: String), file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 2, "exit status\nstdout: \(r.stdout)\nstderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line:\n\(r.stderr)", file: file, line: line)
        for marker in ["Fatal error", "Backtracing", "Current stack trace", "USAGE"] {
            XCTAssertFalse(r.stderr.contains(marker), r.stderr, file: file, line: line)
        }
    }

    func state(_ dir: URL) throws -> CampaignState {
        try JSONDecoder().decode(CampaignState.self, from: Data(contentsOf: dir.appendingPathComponent("state.json")))
    }

    /// Every file under `dir` (relative path -> contents), dot files included.
    func files(_ dir: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return out }
        for case let rel as String in e {
            let u = dir.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir), !isDir.boolValue { out[rel] = (try? Data(contentsOf: u)) ?? Data() }
        }
        return out
    }

    func sh(_ argv: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// A tmpfs of `size` at `dir`, unmounted after the test (tests run as root).
    func tmpfs(_ dir: URL, size: String, readOnly: Bool = false) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let opts = "size=\(size)" + (readOnly ? ",ro" : "")
        guard sh(["mount", "-t", "tmpfs", "-o", opts, "dmemfuzz-fault", dir.path]) == 0 else {
            XCTFail("mount -t tmpfs -o \(opts) \(dir.path) failed (the fault tests run as root)")
            throw VMError.setup("mount")
        }
        addTeardownBlock { [self] in _ = sh(["umount", "-l", dir.path]) }
    }

    /// Fills the file system of `dir` up to `leave` bytes free.
    func fill(_ dir: URL, leave: Int) throws {
        var st = statvfs()
        XCTAssertEqual(statvfs(dir.path, &st), 0)
        let free = Int(st.f_bavail) * Int(st.f_frsize)
        let h = try FileHandle(forWritingTo: { () -> URL in
            let u = dir.appendingPathComponent("filler"); _ = FileManager.default.createFile(atPath: u.path, contents: nil); return u }())
        try h.write(contentsOf: Data(count: max(0, free - leave)))
        try h.close()
    }

    // MARK: SIGINT, then --resume

    /// Ctrl-C in the middle of a campaign, then `--resume` to the same op budget, records what an
    /// uninterrupted campaign records: the same ops count, rounds, signatures and corpus (every
    /// corpus trace byte for byte, so no op is lost or run twice).
    /// A splat the teardown after a trace causes is that trace's finding, not lost between two
    /// traces. Mutant 25 (dmemcs_free puts each pool twice) splats when a cgroup that had a pool
    /// is freed; a trace that leaves its cgroup for dmemfuzz's reset to remove used to pass, its
    /// splat landing in the next trace's baseline. The mutant is built here (incremental on the
    /// cached 7.3 build, about a minute). On the unmodified kernel the same trace passes.
    func testSplatDuringTeardownIsTheTracesFinding() async throws {
        let base = try kernel()
        let dir = try scratch()
        let trace = dir.appendingPathComponent("leaves-a-pool.trace")
        try Data("""
            # A dmem.max write creates /c1's pool; the trace ends with /c1 alive.
            profile 7.3
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /c1 = ok
            write /c1 dmem.max "vkms/default max" = ok

            """.utf8).write(to: trace)
        let clean = try run(["replay", "--kernel", base.dir.path, trace.path], in: dir)
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
        let mutant = try await KernelBuild.build(root: Self.root, version: "7.3",
                                           series: [Self.root.appendingPathComponent("vm/mutants/25-teardown-free-double-pool-put.patch").path])
        let r = try run(["replay", "--kernel", mutant.dir.path, trace.path], in: dir)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("splat during the teardown after the trace"), r.stdout + r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("refcount"), r.stdout + r.stderr)
    }

    /// `dmemfuzz diff` kernel against kernel (issue 9): mutant 01 as the series accepts junk
    /// after a limit value. The trace's junk write is the one behaviour change (base EINVAL,
    /// patched ok); the read after it differs too but is not a second change; the dmem.min write
    /// before it is the same on both. Minimized, what is left is the mkdir and the write.
    func testDiffPrintsTheOneBehaviourChangeOfASeries() async throws {
        let base = try kernel(), dir = try scratch()
        let corpus = dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        try Data("""
            profile 7.3
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /g = ok
            mkdir /h = ok
            write /h dmem.min "vkms/default 4096" = ok
            write /g dmem.max "vkms/default 2Mx" = EINVAL
            read /g dmem.max = "vgem/region0 max\\nvkms/default max\\n"

            """.utf8).write(to: corpus.appendingPathComponent("junk.trace"))
        let same = try run(["diff", "--base-kernel", base.dir.path, "--kernel", base.dir.path, "--generated", "0",
                            "--output", dir.appendingPathComponent("same").path, corpus.path], in: dir)
        XCTAssertEqual(same.status, 0, same.stdout + same.stderr)
        XCTAssertEqual(same.stdout, "behaviour changes: none in 1 traces\n", same.stdout + same.stderr)
        let mutant = try await KernelBuild.build(root: Self.root, version: "7.3",
                                           series: [Self.root.appendingPathComponent("vm/mutants/01-parse-trailing-junk.patch").path])
        let r = try run(["diff", "--base-kernel", base.dir.path, "--kernel", mutant.dir.path, "--generated", "0",
                         "--output", dir.appendingPathComponent("out").path, corpus.path], in: dir)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("behaviour changes: 1 (first differing op of each trace, 1 of 1 traces)\n1. write dmem.max: EINVAL -> ok"), r.stdout + r.stderr)
        let small = try String(contentsOf: dir.appendingPathComponent("out/change-01.trace"), encoding: .utf8)
        XCTAssertTrue(small.hasSuffix("mkdir /g = ok\nwrite /g dmem.max \"vkms/default 2Mx\" = EINVAL\n"), small)
    }

    /// `dmemfuzz minimize` on the real kernel: the model's EBUSY dialect for a `dmem.max` below
    /// usage (`option max-below-usage-ebusy`) diverges from 7.3.4, which reclaims and says ok, so
    /// the unmodified kernel has a finding to shrink. Its first replay must leave the guest for a
    /// clean start: when it ran in the guest without a reset, the shrinker's own first replay
    /// found the cgroups already there and called the finding "does not happen again".
    func testMinimizeShrinksAFindingOnTheKernel() throws {
        let kb = try kernel(), dir = try scratch()
        let trace = dir.appendingPathComponent("ebusy.trace")
        try Data("""
            profile 7.3
            option max-below-usage-ebusy
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /n = ok
            mkdir /g = ok
            spawn a2 /n = ok
            spawn a1 /g = ok
            alloc a2 vgem/region0 4096 b2 = ok
            alloc a1 vgem/region0 8192 b1 = ok
            read /n dmem.current = "vgem/region0 4096\\nvkms/default 0\\n"
            write /g dmem.max "vgem/region0 4096" = EBUSY

            """.utf8).write(to: trace)
        let r = try run(["minimize", "--kernel", kb.dir.path, trace.path], in: dir)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("divergence in write dmem.max: kernel ok, model EBUSY: 10 -> 6 ops"), r.stdout + r.stderr)
        // What is left: the cgroup, its actor, the allocation above the new max, the write.
        let small = try String(contentsOf: dir.appendingPathComponent("minimized.trace"), encoding: .utf8)
        XCTAssertFalse(small.contains("/n"), small)
        XCTAssertTrue(small.contains("write /g dmem.max \"vgem/region0 4096\" = EBUSY"), small)
    }

    func testInterruptedAndResumedCampaignRecordsWhatAnUninterruptedOneDoes() throws {
        let kb = try kernel(), exe = try binary(), dir = try scratch()
        let budget = 144
        // Without racing groups: which order a group takes is the kernel's, so a racing round run
        // twice need not record the same signatures (seen: `par(alloc|write-nonblock|alloc)
        // evict n1` against `evict n2+`); what is pinned here is that resuming loses nothing.
        let straight = try run(fuzzArgs(kb, dir, campaign: "straight", findings: "f1") + ["--seed", "7", "--ops", "\(budget)", "--no-minimize", "--race-percent", "0"], in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)

        let args = fuzzArgs(kb, dir, campaign: "cut", findings: "f2") + ["--seed", "7", "--no-minimize", "--race-percent", "0"]
        let first = try Running(exe, args + ["--ops", "\(budget)"], in: dir)
        // In the second round: after the first one is saved, within its batches.
        XCTAssertTrue(first.awaitStderr("fuzz: round 1:", timeout: 300), first.stderr)
        usleep(700_000)
        kill(first.process.processIdentifier, SIGINT)
        XCTAssertEqual(first.wait(timeout: 120), 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("stopping after this batch"), first.stderr)
        XCTAssertEqual(first.qemuChildren(), [])
        let cut = try state(dir.appendingPathComponent("cut"))
        XCTAssertLessThan(cut.ops, budget, "the SIGINT came after the campaign ended:\n\(first.stderr)")
        print("interrupted after \(cut.ops) ops, round \(cut.round), in flight: \(String(describing: cut.inFlight))")

        let resumed = try run(args + ["--ops", "\(budget - cut.ops)", "--resume"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        let a = try state(dir.appendingPathComponent("straight")), b = try state(dir.appendingPathComponent("cut"))
        XCTAssertEqual(b.ops, a.ops, "ops executed")
        XCTAssertEqual(b.round, a.round, "rounds")
        XCTAssertNil(b.inFlight)
        XCTAssertEqual(Set(b.signatures).subtracting(a.signatures).sorted(), [], "signatures only the resumed campaign has")
        XCTAssertEqual(Set(a.signatures).subtracting(b.signatures).sorted(), [], "signatures only the uninterrupted campaign has")
        XCTAssertEqual(b.findings, a.findings)
        let ca = files(dir.appendingPathComponent("straight/corpus")), cb = files(dir.appendingPathComponent("cut/corpus"))
        XCTAssertEqual(cb.keys.sorted(), ca.keys.sorted(), "corpus files")
        for (k, v) in ca where cb[k] != v {
            XCTFail("corpus/\(k) differs:\n--- uninterrupted\n\(String(decoding: v, as: UTF8.self))\n--- interrupted and resumed\n\(String(decoding: cb[k] ?? Data(), as: UTF8.self))")
        }
    }

    // MARK: the guest killed

    /// QEMU killed in the middle of a batch: the campaign records "guest stopped answering" (or,
    /// killed between rounds, boots a new guest), does not spend its time minimizing what does not
    /// happen again, and goes on to its op budget in a new guest.
    func testKilledGuestIsAFindingAndTheCampaignGoesOn() throws {
        let kb = try kernel(), exe = try binary(), dir = try scratch()
        let r = try Running(exe, fuzzArgs(kb, dir) + ["--seed", "3", "--ops", "192"], in: dir)
        XCTAssertTrue(r.awaitStderr("fuzz: round 1:", timeout: 300), r.stderr)
        usleep(500_000)
        let qemu = r.qemuChildren()
        XCTAssertEqual(qemu.count, 1, "one guest of this campaign: \(qemu)")
        for p in qemu { kill(p, SIGKILL) }
        let status = r.wait(timeout: 400)
        XCTAssertEqual(r.qemuChildren(), [])
        let st = try state(dir.appendingPathComponent("campaign"))
        XCTAssertGreaterThanOrEqual(st.ops, 192, "the campaign went on to its budget:\n\(r.stderr)")
        // The progress line ends "…, N guests" or "…, N guests (M restored from the snapshot)".
        let boots = r.stderr.split(separator: "\n").last { $0.contains(" guests") }
            .flatMap { $0.components(separatedBy: " findings, ").last?.split(separator: " ").first }.flatMap { Int($0) }
        XCTAssertGreaterThanOrEqual(boots ?? 0, 2, "a new guest after the kill:\n\(r.stderr)")
        if status == 1 {
            XCTAssertEqual(st.findings, ["guest stopped answering"], r.stderr)
            let f = dir.appendingPathComponent("findings/guest-stopped-answering")
            for name in ["report.txt", "trace.trace", "console.log", "manifest.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: f.appendingPathComponent(name).path), name)
            }
            XCTAssertTrue(r.stderr.contains("not minimized: 'guest stopped answering' does not happen again"), r.stderr)
        } else {
            XCTAssertEqual(status, 0, r.stderr)
            XCTAssertEqual(st.findings, [])
        }
    }

    // MARK: a kernel that panics at boot

    /// rdinit=/nonexistent: the kernel finds no init in the initramfs, tries to mount a root
    /// device it does not have and panics ("VFS: Unable to mount root fs"). One line, exit 2,
    /// naming the console log, which is kept and holds the panic.
    func testKernelPanicAtBootIsOneLineNamingTheConsoleLog() throws {
        let kb = try kernel(), dir = try scratch()
        let r = try run(fuzzArgs(kb, dir) + ["--ops", "8", "--append", "rdinit=/nonexistent"], in: dir, timeout: 300)
        assertOneLineError(r)
        let line = r.stderr.trimmingCharacters(in: .newlines)
        XCTAssertTrue(line.hasPrefix("dmemfuzz: cannot start the guest: qemu exited (status 0): Kernel panic - not syncing: "), line)
        guard let range = line.range(of: "; console log: ") else { return XCTFail("no console log named: \(line)") }
        let log = String(line[range.upperBound...])
        XCTAssertTrue(log.hasSuffix("/console.log"), log)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("Kernel panic - not syncing"), "\(log):\n\(text.suffix(2000))")
        try? FileManager.default.removeItem(atPath: (log as NSString).deletingLastPathComponent)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("campaign/state.json").path))
    }

    // MARK: a findings directory that cannot be written

    /// A findings directory that is a file, or on a read-only file system, is a setup error before
    /// a guest boots; a file where a finding's directory goes is an error when the finding is
    /// saved, not a finding silently "already known". Nothing is half-written.
    func testUnwritableFindingsDirectory() throws {
        let kb = try kernel(), dir = try scratch()
        // A regular file where the findings directory should be.
        let file = dir.appendingPathComponent("findings-file")
        try Data("not a directory\n".utf8).write(to: file)
        let t0 = Date()
        let r1 = try run(fuzzArgs(kb, dir, findings: "findings-file") + ["--ops", "8"], in: dir)
        assertOneLineError(r1)
        XCTAssertEqual(r1.stderr, "dmemfuzz: \(file.path): not a directory\n")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 30, "no guest booted")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "not a directory\n")

        // A read-only file system (root ignores mode bits, not a read-only mount).
        let ro = dir.appendingPathComponent("ro")
        try tmpfs(ro, size: "1m", readOnly: true)
        let r2 = try run(fuzzArgs(kb, dir, findings: "ro") + ["--ops", "8"], in: dir)
        assertOneLineError(r2)
        XCTAssertEqual(r2.stderr, "dmemfuzz: \(ro.path): not writable: Read-only file system\n")

        // A file in the way of the finding's directory, found mid-campaign: the model option makes
        // the root's dmem.current a divergence (the kernel has it, the option says it is absent).
        let findings = dir.appendingPathComponent("findings")
        try FileManager.default.createDirectory(at: findings, withIntermediateDirectories: true)
        for actor in ["", " by an actor"] {
            let title = "divergence in read dmem.current\(actor): kernel data, model ENOENT"
            let f = Finding(kind: .divergence, title: title, trace: Trace(profile: .v7_3), index: 0, divergence: nil, splats: [], console: "", modelTree: "", kernelState: "")
            try Data("in the way\n".utf8).write(to: findings.appendingPathComponent(f.slug))
        }
        let before = files(findings)
        let r3 = try run(fuzzArgs(kb, dir) + ["--seed", "5", "--ops", "2000", "--option", "no-current-on-root", "--no-minimize"], in: dir)
        assertOneLineError(r3)
        XCTAssertTrue(r3.stderr.hasPrefix("dmemfuzz: \(findings.path)/divergence-in-read-dmem-current"), r3.stderr)
        XCTAssertTrue(r3.stderr.hasSuffix(": not a directory (in the way of the finding 'divergence in read dmem.current" + (r3.stderr.contains("-by-an-actor") ? " by an actor" : "") + ": kernel data, model ENOENT')\n"), r3.stderr)
        XCTAssertEqual(files(findings), before, "nothing written into the findings directory")
    }

    // MARK: a full disk

    /// The campaign directory and the findings directory on full tmpfs mounts: one line naming
    /// the file that could not be written, exit 2, the earlier state.json intact, no temporary
    /// or partial file left.
    func testFullDiskIsOneLineAndNothingHalfWritten() throws {
        let kb = try kernel(), dir = try scratch()
        // The campaign: a state.json to resume, then no space for round 0's corpus trace.
        let campaign = dir.appendingPathComponent("campaign")
        try tmpfs(campaign, size: "256k")
        try FileManager.default.createDirectory(at: campaign.appendingPathComponent("corpus"), withIntermediateDirectories: true)
        let state0 = try JSONEncoder().encode(CampaignState(seed: 3))
        try state0.write(to: campaign.appendingPathComponent("state.json"))
        try fill(campaign, leave: 0)
        let before = files(campaign)
        let r1 = try run(fuzzArgs(kb, dir) + ["--ops", "96", "--resume", "--no-minimize"], in: dir)
        assertOneLineError(r1)
        XCTAssertTrue(r1.stderr.hasPrefix("dmemfuzz: \(campaign.path)/corpus/round-0.trace: cannot write: No space left on device"), r1.stderr)
        XCTAssertEqual(files(campaign), before, "the campaign directory is as it was")

        // The findings: room for the report, not for the console log; the finding is either
        // there whole or not at all.
        let findings = dir.appendingPathComponent("findings-full")
        try tmpfs(findings, size: "256k")
        try fill(findings, leave: 16 << 10)
        let r2 = try run(fuzzArgs(kb, dir, campaign: "campaign2", findings: "findings-full")
                         + ["--seed", "5", "--ops", "2000", "--option", "no-current-on-root", "--no-minimize"], in: dir)
        assertOneLineError(r2)
        XCTAssertTrue(r2.stderr.hasPrefix("dmemfuzz: \(findings.path)/divergence-in-read-dmem-current"), r2.stderr)
        XCTAssertTrue(r2.stderr.hasSuffix(": cannot write: No space left on device\n"), r2.stderr)
        XCTAssertEqual(files(findings).keys.sorted(), ["filler"], "no finding and no temporary directory left")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: findings.path))?.sorted(), ["filler"])
    }
}
