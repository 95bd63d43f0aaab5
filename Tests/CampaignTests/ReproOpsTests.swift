import Foundation
import XCTest
import DmemModel
import Trace
@testable import Campaign
import Kernel
import VM

final class ReproOpsTests: XCTestCase {
    let trace = CampaignTests.everyOp

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

    /// A charge racing the move of its task gives `{ ok | ok }` in either order, with the charge in
    /// the old cgroup or the new: the group's outcome does not tell which, so the reproducer
    /// stops checking after it (seen: a looped run charged /p/b where the trace had /p/a, and
    /// the reads after it mismatched). A charge racing a limit write shows its order in its
    /// outcome and is checked on.
    func testAGroupWhoseOrderItsOutcomesDoNotShowEndsTheChecks() throws {
        let t = try TraceParser().parse("""
            profile 7.3
            register vgem/region0 268435456 = ok
            register vkms/default 67108864 = ok
            mkdir /p = ok
            write /p cgroup.subtree_control "+dmem" = ok
            mkdir /p/a = ok
            mkdir /p/b = ok
            spawn a1 /p/a = ok
            spawn a2 /p/b = ok
            par { alloc a1 vgem/region0 65536 b1 | move a1 /p/b } = { ok | ok }
            par { write /p/b dmem.max "vkms/default 8192" | alloc a2 vkms/default 8192 b2 } = { ok | ENOSPC }
            """)
        let c = try Repro.c(t)
        let ambiguous = c.components(separatedBy: "static const char *const ambiguous[] = { ").dropFirst().map { $0.components(separatedBy: " };")[0] }
        XCTAssertEqual(ambiguous, ["\"{ ok | ok }\", NULL", "NULL"])
    }

    /// Every trace of corpora/ has a reproducer, and it compiles as `dmemfuzz repro` builds it.
    func testEveryCorpusTraceHasAReproducerThatCompiles() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else { throw XCTSkip("no gcc") }
        let files = try Self.corpusTraces()
        XCTAssertGreaterThan(files.count, 30)
        for file in files {
            let trace = try TraceParser(file: file.lastPathComponent).parse(String(contentsOf: file, encoding: .utf8))
            let c = try Repro.c(trace)
            do { _ = try await ReproBinary.build(c) } catch { XCTFail("\(file.path): \(error)") }
            // One report line per op it performs, a group() per racing group, a skip comment for the rest.
            let groups = trace.steps.filter { if case .par = $0.op { return true }; return false }.count
            XCTAssertEqual(c.components(separatedBy: "; report(").count - 1, Repro.skipped(trace.steps).filter { !$0 }.count - groups, file.path)
            XCTAssertEqual(c.components(separatedBy: "\t  group(").count - 1, groups, file.path)
        }
    }

    static func corpusTraces() throws -> [URL] {
        let corpora = KernelBuild.packageRoot().appendingPathComponent("corpora")
        let fm = FileManager.default
        var out: [URL] = []
        for dir in try fm.contentsOfDirectory(atPath: corpora.path).sorted() {
            for f in try fm.contentsOfDirectory(atPath: corpora.appendingPathComponent(dir).path).sorted() where f.hasSuffix(".trace") {
                out.append(corpora.appendingPathComponent(dir).appendingPathComponent(f))
            }
        }
        return out
    }

    /// The steps the reproducer skips are the boot prologue's module loads and `evict?`; a
    /// module's unload and load later in the trace (corpora/regress/fault-register) it performs.
    func testSkips() {
        func st(_ op: Op) -> Step { Step(op, expect: nil) }
        let steps = [st(.register(region: "vgem/region0", size: 1)), st(.register(region: "vkms/default", size: 1)),
                     st(.evictQuery(1, region: "vgem/region0", size: 4096)), st(.register(region: "vkms/dev1", size: 1)),
                     st(.unregister(region: "vgem/region0")), st(.failNth(2, .register(region: "vgem/region0", size: 1))),
                     st(.register(region: "vgem/region0", size: 1)), st(.unregister(region: Model.selftestRegion)),
                     st(.mkdir(CgroupPath(["g"])))]
        XCTAssertEqual(Repro.skipped(steps), [true, true, true, false, false, false, false, false, false])
        let c = Repro.cOrError(Trace(profile: .v7_3, steps: steps))
        XCTAssertTrue(c.contains("r = xmodunload(\"vgem\")"), c)
        XCTAssertTrue(c.contains("if (!(r = fail_arm(2, 1, \"dmem_cgroup_register_region\", -1))) { r = xmodload(\"vgem\", \"dmem_regions=1 dmem_size=1\"); fail_disarm(2, 1); }"), c)
    }
}
