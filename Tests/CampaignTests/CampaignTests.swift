import XCTest
import DmemModel
@testable import Fuzz
import Trace
@testable import Campaign
import Foundation

final class CampaignTests: XCTestCase {
    let trace = CampaignTests.everyOp
    /// A trace with every op kind (the reproducer tests use it too).
    static let everyOp = try! TraceParser().parse("""
    profile 7.3
    register vgem/region0 268435456 = ok
    mkdir /g = ok
    write /g dmem.max "vgem/region0 1M\\n\\"q\\" \\\\ \\xa0" = EINVAL
    write-nonblock /g dmem.max "vgem/region0 1M" = ok
    read /g dmem.max = "vgem/region0 1048576\\n"
    spawn a1 /g = ok
    alloc a1 vgem/region0 4096 b1 = ok
    alloc a1 vkms/default 8192 b2 = ok
    resident b1 = 1
    move a1 / = ok
    spawn a2 / = ok
    par { alloc a2 vgem/region0 4096 b4 | read /g dmem.max } = { ok | "vgem/region0 1048576\\n" }
    transfer a1 b1 a2 = ok
    free b1 = ok
    dying / = 0
    delegate /g 1000 = ok
    setuid a1 1000 = ok
    dropcaps a1 = ok
    as a1 mkdir /g/x = ok
    as a1 write-nonblock /g/x dmem.max "vgem/region0 1M" = ENOENT
    as a1 read /g dmem.max = "vgem/region0 1048576\\n"
    as a1 move a1 /g = EACCES
    as a1 rmdir /g/x = ok
    register dmem_selftest 268435456 = ok
    alloc a1 dmem_selftest 5000 b3 = EACCES
    free b3 = ENOENT
    unregister dmem_selftest = ok
    exit a1 = ok
    rmdir /g = ok
    """)

    func testDivergenceTitlesAreStableAcrossValues() {
        let op = Op.write(CgroupPath(["g"]), file: "dmem.max", data: Array("x 1".utf8), nonblock: false)
        let d1 = Divergence(index: 3, op: op, expected: .ok, actual: .err(.EINVAL), modelTree: "")
        let d2 = Divergence(index: 9, op: .write(CgroupPath(["h", "i"]), file: "dmem.max", data: Array("y 2".utf8), nonblock: true),
                            expected: .ok, actual: .err(.EINVAL), modelTree: "")
        XCTAssertEqual(Finding.title(for: d1), "divergence in write dmem.max: kernel EINVAL, model ok")
        XCTAssertEqual(Finding.title(for: d1), Finding.title(for: d2).replacingOccurrences(of: "write-nonblock", with: "write"))
        let ev = Divergence(index: 0, op: .alloc(1, region: "r", size: 4096, buffer: 1), expected: Outcome(evicted: [1]),
                            actual: Outcome(evicted: [1, 2]), modelTree: "")
        XCTAssertEqual(Finding.title(for: ev), "divergence in alloc: different evictions")
        let by = Divergence(index: 0, op: .by(2, .write(CgroupPath(["d"]), file: "dmem.max", data: [], nonblock: false)),
                            expected: .err(.EACCES), actual: .ok, modelTree: "")
        XCTAssertEqual(Finding.title(for: by), "divergence in write dmem.max by an actor: kernel ok, model EACCES")
    }

    /// An allocation's eviction decision is one class for the minimizer (different victims,
    /// victims against ENOSPC, ENOSPC against success); other errnos and other ops keep their title.
    func testShrinkClassGroupsEvictionDecisionsOnly() {
        let alloc = Op.alloc(1, region: "r", size: 4096, buffer: 1)
        func d(_ op: Op, _ model: Outcome, _ kernel: Outcome) -> Divergence { Divergence(index: 0, op: op, expected: model, actual: kernel, modelTree: "") }
        let decision = "divergence in alloc: eviction decision"
        XCTAssertEqual(Finding.shrinkClass(for: d(alloc, Outcome(evicted: [1]), Outcome(evicted: [2]))), decision)
        XCTAssertEqual(Finding.shrinkClass(for: d(alloc, .err(.ENOSPC), Outcome(evicted: [2]))), decision)
        XCTAssertEqual(Finding.shrinkClass(for: d(alloc, .ok, .err(.ENOSPC))), decision)
        XCTAssertEqual(Finding.shrinkClass(for: d(alloc, .ok, .err(.EINVAL))), "divergence in alloc: kernel EINVAL, model ok")
        let read = Op.read(CgroupPath(["g"]), file: "dmem.current")
        XCTAssertEqual(Finding.shrinkClass(for: d(read, .bytes("a"), .bytes("b"))), "divergence in read dmem.current: different data")
    }

    func testReportMarksTheDivergingOpAndShowsBothOutcomes() {
        let d = Divergence(index: 3, op: trace.steps[3].op, expected: .err(.EINVAL), actual: .ok, modelTree: "/g dmem.max: vgem/region0 max")
        let f = Finding(kind: .divergence, title: Finding.title(for: d), trace: trace, index: 3, divergence: d, splats: [],
                        console: "", modelTree: d.modelTree, kernelState: "== /g dmem.max")
        let r = Report.render(f, manifest: "{\"kernel_release\": \"7.3.4\"}")
        XCTAssertTrue(r.hasPrefix("divergence in write-nonblock dmem.max: kernel ok, model EINVAL\n"))
        // The marked line expects what the model says; what the kernel did is its note.
        XCTAssertTrue(r.contains(">>> write-nonblock /g dmem.max \"vgem/region0 1M\" = EINVAL  # kernel: ok\n"), r)
        XCTAssertTrue(r.contains("  expected (model): EINVAL\n  actual (kernel):  ok\n"))
        XCTAssertTrue(r.contains("\"kernel_release\": \"7.3.4\""))
    }

    func testFindingsAreWrittenAtomicallyAndDeduplicated() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("findings-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FindingStore(root: root)
        let f = Finding(kind: .hang, title: "guest stopped answering", trace: trace, index: 2, divergence: nil, splats: [],
                        console: "log", modelTree: "", kernelState: "")
        let dir = try store.save(f, minimized: trace)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["console.log", "manifest.json", "minimized.trace", "report.txt", "repro.c", "trace.trace"])
        XCTAssertTrue(try store.save(f).hasSuffix("(already known)"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix(".") }, [])
        XCTAssertEqual(try TraceParser().parse(String(contentsOfFile: dir + "/trace.trace", encoding: .utf8)), trace)
    }

    /// A synthetic divergence as `Lockstep` records it: the steps carry the kernel's outcomes, so
    /// the divergent op's step says what the buggy kernel did.
    func syntheticFinding() throws -> Finding {
        let t = try TraceParser().parse("""
        profile 7.3
        register vkms/default 67108864 = ok
        mkdir /p = ok
        write /p dmem.max "vkms/default 8K" = ok
        spawn a1 /p = ok
        alloc a1 vkms/default 4096 b1 = ok
        alloc a1 vkms/default 8192 b2 = ok
        """)
        let d = Divergence(index: 5, op: t.steps[5].op, expected: .err(.ENOSPC), actual: .ok, modelTree: "")
        return Finding(kind: .divergence, title: Finding.title(for: d), trace: t, index: 5, divergence: d, splats: [],
                       console: "", modelTree: "", kernelState: "")
    }

    /// Issue 9: report.txt names what the kernel has that the model does not check.
    func testReportNamesUnmodeledInterfaces() throws {
        var f = try syntheticFinding()
        XCTAssertFalse(Report.render(f, manifest: "{}").contains("kernel interfaces"))
        f.interfaces = Interfaces(listing: "root dmem.capacity\nroot dmem.current\nchild dmem.current\nchild dmem.low\nchild dmem.max\nchild dmem.min\nchild dmem.peak\nchild dmem.events\ncontroller memory\ncontroller dmem\n",
                                  profile: .v7_3, options: []).summary
        XCTAssertTrue(Report.render(f, manifest: "{}").contains("\nkernel interfaces the model does not check: unmodeled: dmem.events (read in the whole-tree reads, not compared)\n"),
                      Report.render(f, manifest: "{}"))
    }

    /// Issue 11 item 1: a finding's trace.trace says unambiguously what the model expects and
    /// what the kernel did, and the reproducer built from it (no minimized.trace) checks the
    /// model's outcome at the divergent op: it fails on the kernel it was found on.
    func testFindingFilesExpectTheModelAndNoteTheKernel() throws {
        let f = try syntheticFinding()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("findings-model-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = try FindingStore(root: root).save(f)
        let text = try String(contentsOfFile: dir + "/trace.trace", encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("# dmemfuzz trace\n# \(Finding.modelOutcomesMarker)\n"), text)
        XCTAssertTrue(text.contains("\nalloc a1 vkms/default 8192 b2 = ENOSPC  # kernel: ok\n"), text)
        let back = try TraceParser().parse(text)
        XCTAssertEqual(back.steps[5].expect, .err(.ENOSPC))
        XCTAssertEqual(back.steps.prefix(5).map(\.expect), f.trace.steps.prefix(5).map(\.expect))
        // The reproducer of it: the divergent op must be ENOSPC to pass, which the buggy kernel
        // (ok) is not; a fixed kernel (ENOSPC, like the model) passes.
        let c = try Repro.c(back)
        XCTAssertTrue(c.contains("report(\"alloc a1 vkms/default 8192 b2\", r, \"ENOSPC\");"), c)
        XCTAssertFalse(c.contains("report(\"alloc a1 vkms/default 8192 b2\", r, \"ok\");"), c)
        // The model agrees with every expectation of the file: replaying it on the model passes.
        var exec = ModelExecutor(profile: .v7_3)
        for st in back.steps { XCTAssertEqual(exec.apply(st.op), st.expect, TracePrinter.step(st)) }
        // The report shows the same line.
        XCTAssertTrue(Report.render(f, manifest: "{}").contains(">>> alloc a1 vkms/default 8192 b2 = ENOSPC  # kernel: ok\n"))
    }

    /// Issue 11 item 12: a campaign's corpus is read in full; a trace in it that does not parse
    /// is an error naming it, not a silent skip on --resume.
    func testCampaignCorpusIsReadInFullOrNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/corpus", withIntermediateDirectories: true)
        try "profile 7.3\nmkdir /g = ok\n".write(toFile: dir + "/corpus/round-0.trace", atomically: true, encoding: .utf8)
        try JSONEncoder().encode(CampaignState(seed: 9)).write(to: URL(fileURLWithPath: dir + "/state.json"))
        let (state, corpus) = try CampaignDriver.load(dir: dir, seed: 1, resume: true)
        XCTAssertEqual(state.seed, 9)
        XCTAssertEqual(corpus.count, 1)
        try "profile 7.3\nfrob /g\n".write(toFile: dir + "/corpus/round-1.trace", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CampaignDriver.load(dir: dir, seed: 1, resume: true)) {
            XCTAssertEqual("\($0)", "\(dir)/corpus/round-1.trace:2:1: unknown op 'frob'")
        }
        try FileManager.default.removeItem(atPath: dir + "/state.json")
        XCTAssertThrowsError(try CampaignDriver.load(dir: dir, seed: 1, resume: true)) {
            XCTAssertEqual("\($0)", "\(dir)/state.json: no campaign to resume (run without --resume to start one)")
        }
    }

    func testCapacityParsing() {
        XCTAssertEqual(KernelExecutor.regions(fromCapacity: "vgem/region0 268435456\nvkms/default 67108864\n"),
                       [.register(region: "vgem/region0", size: 268435456), .register(region: "vkms/default", size: 67108864)])
    }

    /// Sizes come from what the agent asked for: a kernel printing capacity in KiB must not shrink
    /// the model's regions (it must show as a dmem.capacity read mismatch instead).
    func testRegionSizesComeFromTheModuleParametersNotTheCapacityText() {
        let asked = RequestedRegions(vgem: "dmem_regions=2 dmem_size=16777216", vkms: nil)
        XCTAssertEqual(KernelExecutor.regions(fromCapacity: "vgem/region0 16384\nvgem/region1 16384\nvkms/default 65536\ndmem_selftest 268435456\n", requested: asked),
                       [.register(region: "vgem/region0", size: 16 << 20), .register(region: "vgem/region1", size: 16 << 20),
                        .register(region: "vkms/default", size: 64 << 20), .register(region: "dmem_selftest", size: 256 << 20)])
    }
}
