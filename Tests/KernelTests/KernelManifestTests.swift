import Foundation
import XCTest
@testable import Kernel

final class KernelManifestTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A manifest as build-kernel.sh writes one (json.dump, indent 2) for a build with one series.
    static let sample = """
    {
      "key": "6ebbe86aec189c78acf5",
      "kernel_release": "7.3.4-dmemfuzz",
      "kernel_version": "7.3",
      "source": "debian linux-source-7.3 7.3.4-1",
      "source_path": "/root/.cache/dmemfuzz/src/linux-source-7.3",
      "source_identity": "sha256:0123",
      "debian_version": null,
      "series": [{"path": "/tmp/v2.mbox", "sha256": "ab12"}],
      "applied_patches": [
        {"fuzzed_hunks": [], "file": "/tmp/v2.mbox", "how": "exact", "kind": "series", "mail": 1,
         "message_id": "<x@y>", "offset_hunks": ["kernel/cgroup/dmem.c hunk 1 at 40 offset 2"], "subject": "cgroup/dmem: fix"},
        {"fuzzed_hunks": [], "file": "/tmp/v2.mbox", "how": "skipped", "kind": "skipped", "mail": 0,
         "message_id": null, "offset_hunks": [], "reason": "cover letter", "subject": "[PATCH 0/1] x"}
      ],
      "config_fragment_sha256": "cd34",
      "test_patches": [{"file": "0001-vgem-dmem.patch", "sha256": "ef56", "applied": true}],
      "build_time_seconds": 1480,
      "make_time_seconds": 1302,
      "bzImage": "/b/bzImage",
      "modroot": "/b/modroot",
      "modules_dir": "/b/modroot/lib/modules/7.3.4-dmemfuzz",
      "vmlinux": "/b/vmlinux",
      "work_dir": "/w"
    }

    """

    func testSample() throws {
        let m = try KernelManifest(json: Data(Self.sample.utf8))
        XCTAssertEqual(m.kernelRelease, "7.3.4-dmemfuzz")
        XCTAssertNil(m.debianVersion)
        XCTAssertEqual(m.series, [.init(path: "/tmp/v2.mbox", sha256: "ab12")])
        XCTAssertEqual(m.appliedPatches.map(\.how), ["exact", "skipped"])
        XCTAssertEqual(m.appliedPatches[0].messageID, "<x@y>")
        XCTAssertEqual(m.appliedPatches[0].offsetHunks, ["kernel/cgroup/dmem.c hunk 1 at 40 offset 2"])
        XCTAssertEqual(m.appliedPatches[1].reason, "cover letter")
        XCTAssertEqual(m.testPatches.first?.applied, true)
        XCTAssertEqual(m.buildTimeSeconds, 1480)
        XCTAssertEqual(m.makeTimeSeconds, 1302)
        XCTAssertEqual(m.modulesDir, "/b/modroot/lib/modules/7.3.4-dmemfuzz")
        XCTAssertEqual(m.workDir, "/w")
        // What the reader decodes it writes back the same.
        XCTAssertEqual(try KernelManifest(json: JSONEncoder().encode(m)), m)
    }

    /// The writer and the reader agree: build-kernel.sh's own manifest step (its python heredoc,
    /// taken from the script) run on a fake build dir gives a manifest the reader decodes.
    func testBuildKernelShWritesWhatTheReaderReads() throws {
        let script = try String(contentsOf: Self.package.appendingPathComponent("vm/build-kernel.sh"), encoding: .utf8)
        let lines = script.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("python3 - ") && $0.hasSuffix("<<'PY'") }, "build-kernel.sh: no manifest heredoc")
        let end = try XCTUnwrap(lines[start...].firstIndex { $0 == "PY" })
        let heredoc = lines[(start + 1)..<end].joined(separator: "\n") + "\n"

        let b = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: b) }
        let tp = b.appendingPathComponent("tp")
        try FileManager.default.createDirectory(at: b.appendingPathComponent("src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tp, withIntermediateDirectories: true)
        try Data("diff\n".utf8).write(to: tp.appendingPathComponent("0001-vgem.patch"))
        let applied = #"{"file": "\#(tp.path)/0001-vgem.patch", "fuzzed_hunks": [], "how": "exact", "kind": "test", "mail": null, "message_id": null, "offset_hunks": [], "subject": "vgem: dmem"}"#
        try Data((applied + "\n").utf8).write(to: b.appendingPathComponent("src/.dmemfuzz-applied"))
        try Data("kernel/cgroup/x.c:3:5: warning: unused variable ‘y’ [-Wunused-variable] (in f)\n".utf8)
            .write(to: b.appendingPathComponent("series-warnings.txt"))

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-", "1", "/tmp/s.patch", "ab12"]
        p.environment = ProcessInfo.processInfo.environment.merging([
            "M_REL": "7.3.4-dmemfuzz", "M_SRC": "debian", "M_SRCPATH": "/src", "M_IDENT": "id", "M_DEB": "", "M_KVER": "7.3",
            "M_FRAG": "cd34", "M_KEY": "k", "M_TIME": "12", "M_MAKE": "10", "M_B": b.path, "M_W": "/w", "M_TPDIR": tp.path,
        ]) { $1 }
        let input = Pipe()
        p.standardInput = input
        try p.run()
        try input.fileHandleForWriting.write(contentsOf: Data(heredoc.utf8))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)

        let m = try KernelManifest.read(dir: b)
        XCTAssertEqual(m.kernelRelease, "7.3.4-dmemfuzz")
        XCTAssertNil(m.debianVersion, "an empty M_DEB is null")
        XCTAssertEqual(m.series, [.init(path: "/tmp/s.patch", sha256: "ab12")])
        XCTAssertEqual(m.appliedPatches.map(\.subject), ["vgem: dmem"])
        XCTAssertEqual(m.testPatches.map(\.file), ["0001-vgem.patch"])
        XCTAssertEqual(m.testPatches.map(\.applied), [true])
        XCTAssertEqual(m.seriesWarnings, ["kernel/cgroup/x.c:3:5: warning: unused variable ‘y’ [-Wunused-variable] (in f)"])
        XCTAssertEqual(m.buildTimeSeconds, 12)
        XCTAssertEqual(m.modulesDir, b.path + "/modroot/lib/modules/7.3.4-dmemfuzz")
    }

    /// The manifest of the kernel built on this machine, if there is one, decodes.
    func testTheBuiltKernelsManifestDecodes() throws {
        guard let kb = KernelBuild.existing() else { throw XCTSkip("no kernel build on this machine") }
        let m = try kb.manifest()
        XCTAssertEqual(m.kernelRelease, kb.release)
        XCTAssertFalse(m.testPatches.isEmpty)
    }

    /// A manifest that is not one is an error naming the file and what is missing.
    func testMalformedManifestsNameFileAndField() throws {
        let b = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: b) }
        let file = b.appendingPathComponent("manifest.json").path
        func message(_ text: String?) -> String {
            if let text { _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8)) }
            do { _ = try KernelManifest.read(dir: b); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(nil).hasPrefix("setup: \(file): "), message(nil))
        XCTAssertEqual(message("{"), "setup: \(file): not JSON")
        XCTAssertEqual(message(Self.sample.replacingOccurrences(of: "\"build_time_seconds\": 1480,", with: "")), "setup: \(file): no build_time_seconds")
        XCTAssertTrue(message(Self.sample.replacingOccurrences(of: "\"how\": \"exact\"", with: "\"how\": 3")).hasPrefix("setup: \(file): applied_patches[0].how: "))
    }

    /// The cache fallback of `KernelBuild.existing` takes the newest build of the version that
    /// carries no user series: a mutant's build, newer, is not "the 7.3 kernel" of later tests.
    func testTheCachesKernelIsTheNewestBuildWithoutASeries() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("kb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        func build(_ key: String, series: Bool, age: TimeInterval) throws {
            let d = cache.appendingPathComponent("build/\(key)")
            try FileManager.default.createDirectory(at: d.appendingPathComponent("modroot/lib/modules/7.3.4"), withIntermediateDirectories: true)
            var json = Self.sample.replacingOccurrences(of: "6ebbe86aec189c78acf5", with: key)
            if !series { json = json.replacingOccurrences(of: #"[{"path": "/tmp/v2.mbox", "sha256": "ab12"}]"#, with: "[]") }
            try Data(json.utf8).write(to: d.appendingPathComponent("manifest.json"))
            let bz = d.appendingPathComponent("bzImage")
            try Data().write(to: bz)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: bz.path)
        }
        try build("base", series: false, age: 3600)
        try build("mutant", series: true, age: 60)
        let env = ["DMEMFUZZ_CACHE": cache.path]
        XCTAssertEqual(KernelBuild.existing(root: cache, version: "7.3", environment: env)?.dir.lastPathComponent, "base")
        XCTAssertNil(KernelBuild.existing(root: cache, version: "7.2", environment: env))
    }
}
