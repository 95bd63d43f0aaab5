import Foundation
import Kernel
#if canImport(Glibc)
import Glibc
#endif

/// A booted guest saved at the agent's `ready` line, so later guests of the same configuration
/// start from it instead of booting (issue 14; `bench boot` here: a cold boot under TCG 28.5 s, a
/// restore 1.1 s).
///
/// The save is QEMU's own migration to a file (QMP `stop`, `migrate "exec:cat > FILE"`, poll
/// `query-migrate` until `completed`, `cont`), the restore `-incoming "exec:cat FILE"` with the same
/// machine and devices. The key covers everything the saved state depends on: the QEMU binary,
/// the accelerator, the guest-visible command line (kernel, initramfs, memory, CPUs, devices,
/// kernel parameters) and the kernel image's size and mtime; the host-side paths (console, agent
/// socket) are not part of it. Files live beside the kernel build, one `.mig` + one `.console`
/// (the boot log, prepended to a restored guest's console so a finding's log still starts at boot).
public struct SnapshotStore: Sendable {
    public let dir: URL

    public init(kernel: KernelBuild) { dir = kernel.dir.appendingPathComponent("snapshots") }

    public struct Entry: Sendable {
        public let state: URL
        public let console: URL
        public var exists: Bool { FileManager.default.fileExists(atPath: state.path) && FileManager.default.fileExists(atPath: console.path) }
    }

    /// Snapshots kept per kernel build: every agent rebuild (a new initramfs) and every other set
    /// of module parameters has its own, at ~240 MB each.
    public static let keep = 4

    /// Marks `entry` used (its mtime), so `prune` keeps the snapshots in use.
    public func touch(_ entry: Entry) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: entry.state.path)
    }

    /// Removes all but the `keep` most recently used snapshots.
    public func prune() {
        let fm = FileManager.default
        let migs = ((try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.contentModificationDateKey])) ?? [])
            .filter { $0.pathExtension == "mig" }
            .map { ($0, (try? $0.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast) }
            .sorted { $0.1 > $1.1 }
        for (url, _) in migs.dropFirst(Self.keep) {
            try? fm.removeItem(at: url)
            try? fm.removeItem(at: url.deletingPathExtension().appendingPathExtension("console"))
        }
    }

    /// The entry for a guest started with `guestArgs` (QEMU arguments without host paths).
    public func entry(guestArgs: [String], host: QemuHost, kernel: KernelBuild) -> Entry {
        var h: UInt64 = 0xcbf29ce484222325
        let attrs = try? FileManager.default.attributesOfItem(atPath: kernel.bzImage.path)
        let stamp = "\((attrs?[.size] as? Int) ?? 0)|\((attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        for part in [host.qemuVersion, host.accel.rawValue, stamp, "v1"] + guestArgs {
            Initramfs.fnv(Data(part.utf8), &h); Initramfs.fnv(Data([0]), &h)
        }
        let name = String(h, radix: 16)
        return Entry(state: dir.appendingPathComponent("\(name).mig"), console: dir.appendingPathComponent("\(name).console"))
    }
}

/// A QMP connection (QEMU Machine Protocol, docs/interop/qmp-spec): one JSON object per line;
/// replies carry "return" or "error", asynchronous events carry "event" and are skipped.
struct QMP {
    let fd: Int32

    init(path: String, deadline: Double = 10) throws {
        fd = try QemuMachine.connect(path, deadline: deadline)
        _ = try reply(timeout: deadline)  // the greeting
        _ = try execute("qmp_capabilities")
    }

    func close() { Glibc.close(fd) }

    /// Runs `command` and returns its reply object.
    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any]? = nil, timeout: Double = 30) throws -> [String: Any] {
        var msg: [String: Any] = ["execute": command]
        if let arguments { msg["arguments"] = arguments }
        var data = try JSONSerialization.data(withJSONObject: msg)
        data.append(10)
        let ok = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count }
        guard ok else { throw VMError.protocolError("qmp \(command): send failed") }
        let r = try reply(timeout: timeout)
        if let e = r["error"] as? [String: Any] { throw VMError.protocolError("qmp \(command): \(e["desc"] ?? e)") }
        return r
    }

    private func reply(timeout: Double) throws -> [String: Any] {
        let end = Date().addingTimeInterval(timeout)
        var buf: [UInt8] = []
        while true {
            while let i = buf.firstIndex(of: 10) {
                let line = Array(buf[..<i]); buf.removeFirst(i + 1)
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
                if obj["event"] != nil { continue }
                return obj
            }
            let left = end.timeIntervalSinceNow
            if left <= 0 { throw VMError.timeout("qmp: no reply within \(timeout) s") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(left * 1000) + 1) > 0 {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { throw VMError.protocolError("qmp: connection closed") }
                buf += chunk[..<n]
            }
        }
    }
}

extension QemuMachine {
    /// Lets a guest restored with `-incoming` run once the state is loaded: the saved guest was
    /// stopped for its save, and a migration target adopts the source's run state.
    func resumeRestored(qmpPath: String, timeout: Double = 60) throws {
        let q = try QMP(path: qmpPath)
        defer { q.close() }
        let end = Date().addingTimeInterval(timeout)
        while true {
            let r = try q.execute("query-status")
            let status = (r["return"] as? [String: Any])?["status"] as? String ?? "?"
            if status == "running" { return }
            if status != "inmigrate" { try q.execute("cont"); return }
            if Date() > end { throw VMError.timeout("snapshot: still loading after \(Int(timeout)) s") }
            usleep(20_000)
        }
    }

    /// Saves the running guest into `entry` (atomically: temporary files, then rename) and lets it
    /// run on. Failure leaves no entry behind and the guest running.
    func saveSnapshot(_ entry: SnapshotStore.Entry, qmpPath: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: entry.state.deletingLastPathComponent(), withIntermediateDirectories: true)
        let tmp = entry.state.path + ".tmp-\(getpid())"
        defer { try? fm.removeItem(atPath: tmp) }
        let q = try QMP(path: qmpPath)
        defer { q.close() }
        try q.execute("stop")
        defer { _ = try? q.execute("cont") }
        try q.execute("migrate", ["uri": "exec:cat > '\(tmp)'"])
        let end = Date().addingTimeInterval(120)
        while true {
            let r = try q.execute("query-migrate")
            let status = (r["return"] as? [String: Any])?["status"] as? String ?? "?"
            if status == "completed" { break }
            if status == "failed" || status == "cancelled" { throw VMError.protocolError("snapshot: migration \(status)") }
            if Date() > end { throw VMError.timeout("snapshot: migration still \(status) after 120 s") }
            usleep(50_000)
        }
        let consoleTmp = entry.console.path + ".tmp-\(getpid())"
        try Data(console.utf8).write(to: URL(fileURLWithPath: consoleTmp))
        guard rename(consoleTmp, entry.console.path) == 0, rename(tmp, entry.state.path) == 0 else {
            try? fm.removeItem(atPath: consoleTmp)
            throw VMError.protocolError("snapshot: rename into \(entry.state.deletingLastPathComponent().path) failed: errno \(errno)")
        }
        SnapshotStore(kernel: config.kernel).prune()
    }
}
