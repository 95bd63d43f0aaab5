import Foundation
import Kernel
import Shell
#if canImport(Glibc)
import Glibc
#endif

public enum Accel: String, CaseIterable, Sendable {
    case kvm, tcg

    /// $DMEMFUZZ_ACCEL's choice: nil when unset or empty; a value that is neither is a setup
    /// error (it used to be ignored, so a typo silently meant "probe").
    public static func fromEnvironment(_ value: String?) throws -> Accel? {
        guard let value, !value.isEmpty else { return nil }
        guard let a = Accel(rawValue: value) else { throw VMError.setup("DMEMFUZZ_ACCEL='\(value)': want kvm or tcg") }
        return a
    }

    /// KVM if it works here, else TCG. Nested KVM can hang in SeaBIOS, so a KVM boot must print
    /// "Linux version" within `deadline` seconds. The verdict is cached per host kernel + QEMU
    /// (`qemuVersion`). $DMEMFUZZ_ACCEL=kvm|tcg overrides.
    public static func probe(kernel: KernelBuild, qemuVersion: String, deadline: Double = 3) async throws -> Accel {
        let env = ProcessInfo.processInfo.environment
        if let a = try fromEnvironment(env["DMEMFUZZ_ACCEL"]) { return a }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return .tcg }
        var u = utsname(); uname(&u)
        let host = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let key = "\(host)|\(qemuVersion)"
        let cacheDir = URL(fileURLWithPath: env["DMEMFUZZ_CACHE"] ?? (NSHomeDirectory() + "/.cache/dmemfuzz"))
        let cacheFile = cacheDir.appendingPathComponent("accel-verdict")
        if let text = try? String(contentsOf: cacheFile, encoding: .utf8) {
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\t")
            if parts.count == 2 && parts[0] == key, let a = Accel(rawValue: parts[1]) { return a }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-kvmprobe-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("console.log")
        let argv = [QemuMachine.qemuBinary, "-accel", "kvm", "-m", "256", "-smp", "1", "-display", "none", "-monitor", "none",
                    "-serial", "file:\(log.path)", "-no-reboot", "-nic", "none",
                    "-kernel", kernel.bzImage.path, "-append", "console=ttyS0 panic=-1"]
        let booted = await Shell.watch(argv, deadline: .milliseconds(Int(deadline * 1000)), started: { VMReaper.add($0) }) {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("Linux version")
        }
        let verdict: Accel = booted ? .kvm : .tcg
        try? FileManager.default.createDirectory(at: cacheDir, withIntermediateDirectories: true)
        try? "\(key)\t\(verdict.rawValue)\n".write(to: cacheFile, atomically: true, encoding: .utf8)
        return verdict
    }
}
