import Foundation
import Log
import Logging
import Shell

/// A kernel build directory of vm/build-kernel.sh: bzImage, modroot/lib/modules/<release>/, manifest.json.
public struct KernelBuild: Sendable {
    public let dir: URL
    public let release: String
    public var bzImage: URL { dir.appendingPathComponent("bzImage") }
    public var modulesDir: URL { dir.appendingPathComponent("modroot/lib/modules/\(release)") }

    public init(dir: URL) throws {
        self.dir = dir
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("bzImage").path) else {
            throw KernelError.setup("\(dir.path): no bzImage")
        }
        let mods = dir.appendingPathComponent("modroot/lib/modules")
        let rels = (try? FileManager.default.contentsOfDirectory(atPath: mods.path))?.sorted() ?? []
        guard let rel = rels.last else { throw KernelError.setup("\(mods.path): no module tree") }
        self.release = rel
    }

    /// The modules the build has (modules.dep), by name: `dmem_selftest` for `.../dmem_selftest.ko[.xz]`.
    public func moduleNames() -> Set<String> { Set(modules().map(\.name)) }

    /// Each module of modules.dep: its name and its path in the module tree.
    func modules() -> [(name: String, path: String)] {
        guard let dep = try? String(contentsOf: modulesDir.appendingPathComponent("modules.dep"), encoding: .utf8) else { return [] }
        return dep.split(separator: "\n").compactMap { line in
            let path = line.prefix { $0 != ":" }
            let file = path.split(separator: "/").last ?? ""
            guard let ko = file.range(of: ".ko") else { return nil }
            return (String(file[..<ko.lowerBound]), modulesDir.appendingPathComponent(String(path)).path)
        }
    }

    /// What `requires` lines can name beyond modules: `transfer` when the kernel has the charge
    /// transfer of the vgem test patch (System.map names dmem_cgroup_transfer_charge; a user
    /// series that brings its own vgem skips that test patch and so has none); `failslab` when
    /// its config has failslab with the stack filter the `fail` ops need.
    public func features() -> Set<String> {
        // Each posted patch the build applied, by Message-ID: `requires series:<id>` in a trace
        // pins a behaviour to the kernel carrying that series (corpora/series/).
        let applied = ((try? manifest())?.appliedPatches ?? []).filter { $0.kind == "series" }
        let series = applied.compactMap(\.messageID).map { "series:" + $0.trimmingCharacters(in: CharacterSet(charactersIn: "<>")) }
        let config = (try? String(contentsOf: dir.appendingPathComponent("config"), encoding: .utf8)) ?? ""
        let failslab: Set<String> = config.contains("\nCONFIG_FAILSLAB=y\n") && config.contains("\nCONFIG_FAULT_INJECTION_STACKTRACE_FILTER=y\n") ? ["failslab"] : []
        let found = Set(series).union(failslab).union(fdinfo ? ["fdinfo"] : [])
        guard let map = try? String(contentsOf: dir.appendingPathComponent("System.map"), encoding: .utf8) else { return found }
        return found.union(map.contains(" dmem_cgroup_transfer_charge\n") ? ["transfer"] : [])
    }

    /// Both test drivers print the drm fdinfo memory keys: vgem.ko and vkms.ko carry the test
    /// patches' show_fdinfo callbacks (their symbol names are in the modules' symbol tables).
    var fdinfo: Bool {
        let mods = modules()
        return ["vgem", "vkms"].allSatisfy { name in
            guard let ko = mods.first(where: { $0.name == name && $0.path.hasSuffix("/\(name).ko") })?.path, let data = FileManager.default.contents(atPath: ko) else { return false }
            return data.range(of: Data("\(name)_show_fdinfo".utf8)) != nil
        }
    }

    /// The package root (where Package.swift and vm/ are), from a source file path.
    public static func packageRoot(from file: String = #filePath) -> URL {
        var u = URL(fileURLWithPath: file).deletingLastPathComponent()
        while u.path != "/" {
            if FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) { return u }
            u = u.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// An already built kernel, without building: $DMEMFUZZ_KERNEL, vm/KERNEL_READY, then the newest
    /// complete build in the cache whose release starts with `version` (if given) and that carries
    /// no user series: a mutant's or a posted series' build is the kernel of that run alone (a
    /// test run after selftest once booted mutant 25's build as "the 7.3 kernel").
    public static func existing(root: URL = packageRoot(), version: String? = nil,
                                environment env: [String: String] = ProcessInfo.processInfo.environment) -> KernelBuild? {
        if let d = env["DMEMFUZZ_KERNEL"], let b = try? KernelBuild(dir: URL(fileURLWithPath: d)) { return b }
        if let text = try? String(contentsOf: root.appendingPathComponent("vm/KERNEL_READY"), encoding: .utf8) {
            let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if let b = try? KernelBuild(dir: URL(fileURLWithPath: path)), version == nil || b.release.hasPrefix(version!) { return b }
        }
        let cache = URL(fileURLWithPath: env["DMEMFUZZ_CACHE"] ?? (NSHomeDirectory() + "/.cache/dmemfuzz")).appendingPathComponent("build")
        let dirs = (try? FileManager.default.contentsOfDirectory(at: cache, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let builds = dirs.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
            .compactMap { try? KernelBuild(dir: $0) }
            .filter { version == nil || $0.release.hasPrefix(version!) }
            .filter { (try? $0.manifest())?.series.isEmpty ?? false }
        return builds.max { a, b in
            let da = (try? a.dir.appendingPathComponent("bzImage").resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let db = (try? b.dir.appendingPathComponent("bzImage").resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return da < db
        }
    }

    /// The one line vm/apply-series.sh --check prints for the first series that would contribute
    /// nothing (missing, empty, binary, no diff, a directory without patch files), or nil when
    /// every series has something to apply. Cheap: nothing is fetched or built.
    public static func seriesProblem(root: URL = packageRoot(), _ series: [String]) async -> String? {
        guard !series.isEmpty else { return nil }
        let script = root.appendingPathComponent("vm/apply-series.sh").path
        do { try await Shell.run([script, "--check"] + series) } catch let e as ShellError {
            return e.output.split(separator: "\n").first.map(String.init) ?? "apply-series.sh --check \(e.how)"
        } catch { return "\(script): cannot run (\(error))" }
        return nil
    }

    /// Runs vm/build-kernel.sh (cheap when cached: it prints the build dir and exits). Its
    /// progress goes to stderr as it comes, except the script's last line when it fails: that one
    /// is the error (`KernelError.build`), so a refused series or a failed make is said once.
    public static func build(root: URL = packageRoot(), version: String, series: [String] = [], tree: String? = nil,
                             config: [String] = [], allowFuzz: Bool = false, sanitizer: Sanitizer = .kasan,
                             log: Logger = .dmemfuzz()) async throws -> KernelBuild {
        var argv: [String] = [root.appendingPathComponent("vm/build-kernel.sh").path]
        argv += tree.map { ["--kernel-tree", $0] } ?? ["--kernel-version", version]
        argv += series.flatMap { ["--series", $0] }
        if allowFuzz { argv.append("--allow-fuzz") }
        argv += config.flatMap { ["--config", $0] }
        if sanitizer != .kasan { argv += ["--sanitizer", sanitizer.rawValue] }
        // stderr: each line is said once the next one arrives; the last one is held back
        var held: String?
        let r: (ended: Termination, stdout: String)
        do {
            r = try await Shell.streamingStderr(argv) { line in
                if let l = held { log.info("\(l)") }
                held = line
            }
        } catch { throw KernelError.setup("\(argv[0]): cannot run (\(error))") }
        guard r.ended.isSuccess else {
            throw KernelError.build(status: r.ended.code ?? -1, line: held ?? "\(argv[0]) \(r.ended)")
        }
        if let l = held { log.info("\(l)") }
        guard let last = r.stdout.split(separator: "\n").last else { throw KernelError.setup("build-kernel.sh printed nothing") }
        return try KernelBuild(dir: URL(fileURLWithPath: String(last)))
    }
}

/// What went wrong describing or building the guest kernel and its initramfs.
public enum KernelError: Error, CustomStringConvertible {
    /// A build directory, manifest or agent binary that is not what dmemfuzz needs.
    case setup(String)
    /// vm/build-kernel.sh failed; `line` is its last line on stderr (exit 2: a refused series).
    case build(status: Int32, line: String)
    public var description: String {
        switch self {
        case .setup(let s): return "setup: \(s)"
        case .build(_, let line): return line
        }
    }
}

/// The guest kernel's memory or concurrency sanitizer (`--sanitizer`): KASAN by default (with
/// lockdep, vm/dmemfuzz.config), or KCSAN (vm/sanitizers/kcsan.config) for the data races that
/// racing groups provoke; the two exclude each other. Each has its own cache key and work tree.
public enum Sanitizer: String, CaseIterable, Sendable {
    case kasan, kcsan
}
