import XCTest
import DmemModel
@testable import Fuzz
import Trace
@testable import Campaign
import Foundation

final class CampaignTests: XCTestCase {
    let trace = try! TraceParser().parse("""
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

    /// The reproducer must be a C program gcc accepts as is, for every op kind.
    func testReproducerCompiles() throws {
        let gcc = "/usr/bin/gcc"
        guard FileManager.default.isExecutableFile(atPath: gcc) else { throw XCTSkip("no gcc") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("repro-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("repro.c")
        try Repro.c(trace).write(to: src, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gcc)
        p.arguments = ["-Wall", "-Werror", "-Wno-unused-result", "-O2", "-o", dir.appendingPathComponent("repro").path, src.path]
        let err = Pipe(); p.standardError = err
        try p.run(); p.waitUntilExit()
        let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, msg)
    }

    func testReportMarksTheDivergingOpAndShowsBothOutcomes() {
        let d = Divergence(index: 3, op: trace.steps[3].op, expected: .err(.EINVAL), actual: .ok, modelTree: "/g dmem.max: vgem/region0 max")
        let f = Finding(kind: .divergence, title: Finding.title(for: d), trace: trace, index: 3, divergence: d, splats: [],
                        console: "", modelTree: d.modelTree, kernelState: "== /g dmem.max")
        let r = Report.render(f, manifest: "{\"kernel_release\": \"7.3.4\"}")
        XCTAssertTrue(r.hasPrefix("divergence in write-nonblock dmem.max: kernel ok, model EINVAL\n"))
        XCTAssertTrue(r.contains(">>> write-nonblock /g dmem.max \"vgem/region0 1M\" = ok\n"))
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

    func testCapacityParsing() {
        XCTAssertEqual(KernelExecutor.regions(fromCapacity: "vgem/region0 268435456\nvkms/default 67108864\n"),
                       [.register(region: "vgem/region0", size: 268435456), .register(region: "vkms/default", size: 67108864)])
    }

    /// Sizes come from what the agent asked for: a kernel printing capacity in KiB must not shrink
    /// the model's regions (it must show as a dmem.capacity read mismatch instead).
    func testRegionSizesComeFromTheModuleParametersNotTheCapacityText() {
        let asked = RequestedRegions(vgem: "dmem_regions=2 dmem_size=16777216", vkms: nil)
        XCTAssertEqual(KernelExecutor.regions(fromCapacity: "vgem/region0 16384
vgem/region1 16384
vkms/default 65536
dmem_selftest 268435456
", requested: asked),
                       [.register(region: "vgem/region0", size: 16 << 20), .register(region: "vgem/region1", size: 16 << 20),
                        .register(region: "vkms/default", size: 64 << 20), .register(region: "dmem_selftest", size: 256 << 20)])
    }
}
