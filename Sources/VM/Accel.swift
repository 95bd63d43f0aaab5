import Foundation
import Kernel
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
    /// "Linux version" within `deadline` seconds. The verdict is cached per host kernel + QEMU.
    /// $DMEMFUZZ_ACCEL=kvm|tcg overrides.
    public static func probe(kernel: KernelBuild, deadline: Double = 3) throws -> Accel {
        let env = ProcessInfo.processInfo.environment
        if let a = try fromEnvironment(env["DMEMFUZZ_ACCEL"]) { return a }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return .tcg }
        var u = utsname(); uname(&u)
        let host = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let key = "\(host)|\(QemuMachine.qemuVersion)"
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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: QemuMachine.qemuBinary)
        p.arguments = ["-accel", "kvm", "-m", "256", "-smp", "1", "-display", "none", "-monitor", "none",
                       "-serial", "file:\(log.path)", "-no-reboot", "-nic", "none",
                       "-kernel", kernel.bzImage.path, "-append", "console=ttyS0 panic=-1"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        var verdict = Accel.tcg
        if (try? p.run()) != nil {
            VMReaper.add(p.processIdentifier)
            let end = Date().addingTimeInterval(deadline)
            while Date() < end && p.isRunning {
                if let t = try? String(contentsOf: log, encoding: .utf8), t.contains("Linux version") { verdict = .kvm; break }
                usleep(50_000)
            }
            QemuProcess.terminate(p, grace: 0)  // a KVM guest stuck in firmware ignores SIGTERM for long
        }
        try? FileManager.default.createDirectory(at: cacheDir, withIntermediateDirectories: true)
        try? "\(key)\t\(verdict.rawValue)\n".write(to: cacheFile, atomically: true, encoding: .utf8)
        return verdict
    }
}
