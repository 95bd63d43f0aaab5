import Foundation
import Shell

/// Which kernel text counts for KCOV coverage: the functions of kernel/cgroup/dmem.c and
/// mm/page_counter.c. vmlinux's symbol table groups each file's local symbols after an STT_FILE
/// entry; global functions are not grouped, so those are the ones the source file defines.
public enum KcovRanges {
    public static let files = ["kernel/cgroup/dmem.c", "mm/page_counter.c"]

    /// `files` and the C files a `--series` changed: the fuzzer gets coverage of the series' code
    /// and the coverage page shows its lines. Module files have no symbols in vmlinux and so no
    /// ranges (KCOV PCs of modules move with their load address).
    public static func files(for kernel: KernelBuild) -> [String] {
        let applied: [KernelManifest.AppliedPatch] = (try? kernel.manifest())?.appliedPatches ?? []
        let series = applied.filter { $0.kind == "series" }.flatMap { $0.paths ?? [] }
        return files + Set(series.filter { $0.hasSuffix(".c") }).subtracting(files).sorted()
    }

    /// `start end` hex lines for the agent's `kcov` request; empty when the build has no vmlinux
    /// or readelf fails (the campaign then runs on op signatures alone). Every boot needs them and
    /// the build never changes: they are kept beside the build, where `cached` reads them.
    public static func text(for kernel: KernelBuild) async -> String {
        if let t = cached(for: kernel) { return t }
        let t = await compute(kernel)
        if !t.isEmpty { try? t.write(to: cacheFile(kernel), atomically: true, encoding: .utf8) }
        return t
    }

    /// The ranges `text` computed for this build, without running anything (a guest's session
    /// reads them; `QemuConfig.prepare` computed them before the first guest started).
    public static func cached(for kernel: KernelBuild) -> String? {
        try? String(contentsOf: cacheFile(kernel), encoding: .utf8)
    }

    static func cacheFile(_ kernel: KernelBuild) -> URL { kernel.dir.appendingPathComponent("kcov-ranges") }

    static func compute(_ kernel: KernelBuild) async -> String {
        let vmlinux = kernel.dir.appendingPathComponent("vmlinux")
        guard FileManager.default.fileExists(atPath: vmlinux.path),
              let symtab = try? await Shell.run(["readelf", "-sW", vmlinux.path]) else { return "" }
        var defined: [String: Set<String>] = [:]
        for f in files(for: kernel) {
            let src = kernel.dir.appendingPathComponent("src").appendingPathComponent(f)
            let base = (f as NSString).lastPathComponent
            defined[base] = definitions(in: (try? String(contentsOf: src, encoding: .utf8)) ?? "")
        }
        return ranges(readelf: symtab, files: defined).map { String($0.0, radix: 16) + " " + String($0.1, radix: 16) }
            .joined(separator: "\n")
    }

    /// Names of functions a C file defines: a line at column 0 that names an identifier followed
    /// by `(` and does not end a declaration (kernel style puts the return type on that line).
    static func definitions(in source: String) -> Set<String> {
        var out = Set<String>()
        for line in source.split(separator: "\n") {
            guard let c = line.first, c.isLetter || c == "_", !line.hasSuffix(";"), let paren = line.firstIndex(of: "(") else { continue }
            let head = line[..<paren]
            let name = head.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !name.isEmpty { out.insert(String(name.reversed())) }
        }
        return out
    }

    /// [start, end) of each function: locals listed after `FILE <base>` and global functions named
    /// in `files[base]`, from `readelf -sW` output.
    static func ranges(readelf: String, files: [String: Set<String>]) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        var inFile = false
        for line in readelf.split(separator: "\n") {
            // Num: Value Size Type Bind Vis Ndx Name
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 8, f[0].hasSuffix(":") else { continue }
            if f[3] == "FILE" { inFile = files[String(f[7])] != nil; continue }
            guard f[3] == "FUNC", let value = UInt64(f[1], radix: 16), let size = UInt64(f[2]), size > 0 else { continue }
            let name = String(f[7])
            let global = f[4] == "GLOBAL" && files.values.contains { $0.contains(name) }
            if (inFile && f[4] == "LOCAL") || global { out.append((value, value + size)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }
}
