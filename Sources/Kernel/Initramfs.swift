import Foundation
import Shell

/// Builds the guest initramfs: an uncompressed newc cpio with the stripped agent as /init, its
/// shared libraries (ldd), busybox-static + applet links, and the modules vgem/vkms (+ deps) need.
/// Cached next to the kernel build, keyed by the agent binary, module set and busybox.
public enum Initramfs {
    /// dmem_selftest is there only when the kernel carries the proposed module.
    public static let defaultModules = ["vgem", "vkms", "lkdtm", "dmem_selftest"]

    /// The release agent binary: $DMEMFUZZ_AGENT, else <root>/.build-agent-static/release/dmemfuzz-agent
    /// (its own scratch path: `swift test --scratch-path .build-agent` holds that one's lock),
    /// (re)built with --static-swift-stdlib when missing or older than its sources.
    public static func agentBinary(root: URL = KernelBuild.packageRoot()) async throws -> URL {
        if let p = ProcessInfo.processInfo.environment["DMEMFUZZ_AGENT"] { return URL(fileURLWithPath: p) }
        let bin = root.appendingPathComponent(".build-agent-static/release/dmemfuzz-agent")
        let fm = FileManager.default
        let binDate = (try? fm.attributesOfItem(atPath: bin.path)[.modificationDate] as? Date) ?? nil
        var stale = binDate == nil
        if let binDate {
            for dir in ["Sources/GuestAgent", "Sources/AgentCore", "Sources/AgentProtocol", "Sources/Trace", "Sources/DmemModel", "Sources/CKmod", "Sources/CCap"] {
                let d = root.appendingPathComponent(dir)
                for f in (try? fm.contentsOfDirectory(atPath: d.path)) ?? [] {
                    if let m = try? fm.attributesOfItem(atPath: d.appendingPathComponent(f).path)[.modificationDate] as? Date, m > binDate { stale = true }
                }
            }
        }
        if stale {
            try await Shell.run(["swift", "build", "-c", "release", "--product", "dmemfuzz-agent", "--static-swift-stdlib",
                           "--scratch-path", root.appendingPathComponent(".build-agent-static").path],
                          mergeStderr: true, cwd: root)
        }
        return bin
    }

    /// Module names needed to load `names` (transitive, from modules.dep), as paths relative to the tree.
    static func moduleClosure(_ names: [String], dep: String) -> [String] {
        var deps: [String: [String]] = [:]
        for line in dep.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard let path = parts.first else { continue }
            deps[String(path)] = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
        }
        func modName(_ path: String) -> String {
            var b = String(path.split(separator: "/").last ?? "")
            for ext in [".xz", ".zst", ".gz", ".ko"] where b.hasSuffix(ext) { b = String(b.dropLast(ext.count)) }
            return b.replacingOccurrences(of: "-", with: "_")
        }
        var want: [String] = []
        var queue = deps.keys.filter { names.map { $0.replacingOccurrences(of: "-", with: "_") }.contains(modName($0)) }
        while let p = queue.popLast() {
            if want.contains(p) { continue }
            want.append(p)
            queue.append(contentsOf: deps[p] ?? [])
        }
        return want.sorted()
    }

    /// libkmod links libcrypto (4.7 MB) only to decode module signatures (kmod_module_get_info),
    /// never while loading. Every byte of the uncompressed initramfs costs unpack time under TCG
    /// (~0.1 s/MB with KASAN), so the guest gets a stub exporting the same versioned symbols that
    /// return NULL/0. $DMEMFUZZ_REAL_LIBCRYPTO=1 ships the real library.
    static func cryptoStub(in dir: URL, libkmod: String = "/lib/x86_64-linux-gnu/libkmod.so.2") async throws -> URL {
        let nm = try await Shell.run(["/usr/bin/nm", "-D", "--undefined-only", "--with-symbol-versions", libkmod])
        var syms: [String: [String]] = [:]
        for line in nm.split(separator: "\n") {
            guard let field = line.split(separator: " ").last, let at = field.firstIndex(of: "@") else { continue }
            let name = String(field[..<at]), version = String(field[at...].drop(while: { $0 == "@" }))
            if version.hasPrefix("OPENSSL_") { syms[version, default: []].append(name) }
        }
        guard !syms.isEmpty else { throw KernelError.setup("libkmod imports nothing from libcrypto") }
        let c = syms.values.flatMap { $0 }.sorted().map { "void *\($0)(void) { return 0; }" }.joined(separator: "\n")
        let vs = syms.keys.sorted().map { "\($0) { global: \(syms[$0]!.sorted().joined(separator: "; ")); };" }.joined(separator: "\n")
        let src = dir.appendingPathComponent("crypto-stub.c"), map = dir.appendingPathComponent("crypto-stub.map")
        let out = dir.appendingPathComponent("libcrypto.so.3")
        try c.write(to: src, atomically: true, encoding: .utf8)
        try vs.write(to: map, atomically: true, encoding: .utf8)
        try await Shell.run(["/usr/bin/gcc", "-shared", "-fPIC", "-O2", "-s", "-o", out.path, src.path,
                       "-Wl,--version-script=\(map.path)", "-Wl,-soname,libcrypto.so.3"])
        return out
    }

    package static func fnv(_ data: Data, _ h: inout UInt64) {
        for b in data { h ^= UInt64(b); h = h &* 0x100000001b3 }
    }

    /// Returns the cached (or freshly written) cpio for `kernel` + `agent`.
    public static func build(kernel: KernelBuild, agent: URL, modules: [String] = defaultModules,
                             busybox: String = "/bin/busybox") async throws -> URL {
        let fm = FileManager.default
        let agentData = try Data(contentsOf: agent)
        let busyboxData = try Data(contentsOf: URL(fileURLWithPath: busybox))
        var h: UInt64 = 0xcbf29ce484222325
        fnv(agentData, &h); fnv(busyboxData, &h); fnv(Data((modules.joined(separator: ",") + kernel.release + "v2"
            + (ProcessInfo.processInfo.environment["DMEMFUZZ_REAL_LIBCRYPTO"] == nil ? "stub" : "real")).utf8), &h)
        let out = kernel.dir.appendingPathComponent("initramfs-\(String(h, radix: 16)).cpio")
        if fm.fileExists(atPath: out.path) { return out }

        // Stripped copy of the agent.
        let tmp = fm.temporaryDirectory.appendingPathComponent("dmemfuzz-initramfs-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: tmp) }
        let stripped = tmp.appendingPathComponent("init")
        try fm.copyItem(at: agent, to: stripped)
        try await Shell.run(["strip", stripped.path])

        var c = CpioWriter()
        for d in ["/bin", "/sbin", "/dev", "/proc", "/sys", "/tmp", "/lib", "/lib64", "/etc", "/root", "/usr", "/usr/bin", "/usr/sbin",
                  "/lib/modules", "/lib/x86_64-linux-gnu"] { c.directory(d) }
        c.charDevice("/dev/console", major: 5, minor: 1)
        c.charDevice("/dev/null", major: 1, minor: 3, mode: 0o666)
        c.file("/init", contents: try Data(contentsOf: stripped))

        // Shared libraries of the agent (glibc, libkmod + its compressors, libcap, libstdc++).
        let ldd = try await Shell.run(["ldd", agent.path])
        for line in ldd.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            var path: String?
            if let r = t.range(of: "=> ") { path = t[r.upperBound...].split(separator: " ").first.map(String.init) }
            else if t.hasPrefix("/") { path = t.split(separator: " ").first.map(String.init) }
            guard let p = path, p.hasPrefix("/") else { continue }
            var real = URL(fileURLWithPath: p).resolvingSymlinksInPath()
            if URL(fileURLWithPath: p).lastPathComponent == "libcrypto.so.3",
               ProcessInfo.processInfo.environment["DMEMFUZZ_REAL_LIBCRYPTO"] == nil,
               let stub = try? await cryptoStub(in: tmp) {
                real = stub
            }
            c.file(p.hasPrefix("/lib64/") ? p : "/lib/x86_64-linux-gnu/" + URL(fileURLWithPath: p).lastPathComponent,
                   contents: try Data(contentsOf: real))
        }

        // busybox and its applets.
        c.file("/bin/busybox", contents: busyboxData)
        let applets = (try? await Shell.run([busybox, "--list-full"])) ?? ""
        for a in applets.split(separator: "\n") where !a.isEmpty && a != "bin/busybox" {
            c.symlink("/" + a, target: "/bin/busybox")
        }

        // Modules: the closure of `modules` and the index files (libkmod reads modules.dep.bin etc).
        let mdir = kernel.modulesDir
        let rel = "/lib/modules/\(kernel.release)"
        c.directory(rel)
        let dep = (try? String(contentsOf: mdir.appendingPathComponent("modules.dep"), encoding: .utf8)) ?? ""
        var made: Set<String> = [rel]
        for m in moduleClosure(modules, dep: dep) {
            var dir = rel
            for comp in m.split(separator: "/").dropLast() {
                dir += "/" + comp
                if made.insert(dir).inserted { c.directory(dir) }
            }
            c.file(rel + "/" + m, contents: try Data(contentsOf: mdir.appendingPathComponent(m)), mode: 0o644)
        }
        for f in (try? fm.contentsOfDirectory(atPath: mdir.path)) ?? [] where f.hasPrefix("modules.") {
            c.file(rel + "/" + f, contents: try Data(contentsOf: mdir.appendingPathComponent(f)), mode: 0o644)
        }
        let data = c.finish()
        let part = out.appendingPathExtension("part\(getpid())")
        try data.write(to: part)
        try? fm.removeItem(at: out)
        try fm.moveItem(at: part, to: out)
        // Keep one initramfs per kernel build (a running QEMU has already read its -initrd).
        for f in (try? fm.contentsOfDirectory(atPath: kernel.dir.path)) ?? []
        where f.hasPrefix("initramfs-") && f.hasSuffix(".cpio") && f != out.lastPathComponent {
            try? fm.removeItem(at: kernel.dir.appendingPathComponent(f))
        }
        return out
    }
}
