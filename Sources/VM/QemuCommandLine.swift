import Foundation
import Kernel

/// The qemu-system-x86_64 argv of one guest. `guest` is what the guest sees (and what a snapshot
/// of it depends on: SnapshotStore keys on it); `host` the host-side ends (console file, agent
/// socket, QMP socket) in the machine's work directory, which a snapshot does not depend on.
public struct QemuCommandLine: Equatable, Sendable {
    public static let binary = "/usr/bin/qemu-system-x86_64"
    public var guest: [String]
    public var host: [String]
    public let workDir: URL

    public let consoleURL: URL
    public let agentSocket: String
    public let qmpSocket: String

    public init(config: QemuConfig, accel: Accel, workDir: URL) {
        self.workDir = workDir
        consoleURL = workDir.appendingPathComponent("console.log")
        agentSocket = workDir.appendingPathComponent("agent.sock").path
        qmpSocket = workDir.appendingPathComponent("qmp.sock").path
        guest = [
            "-accel", Self.accel(accel), "-m", "\(config.memoryMB)", "-smp", Self.smp(config.cpus),
            "-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
            "-kernel", config.kernel.bzImage.path, "-initrd", config.initramfs.path, "-append", Self.append(config),
            "-device", "virtio-serial-pci,id=vs0",
            "-device", "virtserialport,bus=vs0.0,chardev=agent,name=dmemfuzz",
        ]
        host = [
            "-chardev", "file,id=con0,path=\(consoleURL.path),append=on", "-serial", "chardev:con0",
            "-chardev", "socket,id=agent,path=\(agentSocket),server=on,wait=off",
            "-qmp", "unix:\(qmpSocket),server=on,wait=off",
        ]
    }

    /// One socket per vCPU: the guest kernel has no ACPI, so SeaBIOS's MP table is all it sees of
    /// the CPUs, and SeaBIOS lists only the first CPU of each package there (`-smp 2` alone
    /// booted with one CPU online).
    public static func smp(_ cpus: Int) -> String { "\(cpus),sockets=\(cpus),cores=1,threads=1" }

    /// TCG with one host thread per vCPU, so a racing group's members really run at once.
    public static func accel(_ a: Accel) -> String { a == .tcg ? "tcg,thread=multi" : a.rawValue }

    /// The kernel command line: the serial console, no reboot on panic, the agent as init, the
    /// module parameters as dmemfuzz.vgem=/vkms= (the agent reads them), then the config's extras.
    public static func append(_ config: QemuConfig) -> String {
        let params = [("vgem", config.vgemParams), ("vkms", config.vkmsParams)].compactMap { m, p in p.map { "dmemfuzz.\(m)=\"\($0)\"" } }
        return (["console=ttyS0", "panic=-1", "loglevel=7", "printk.time=1", "rdinit=/init"] + params + config.cmdline)
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// QEMU's arguments (without argv[0]): a boot, or with `restoring` a start from the saved state.
    public func arguments(restoring state: URL? = nil) -> [String] {
        guest + host + (state.map { ["-incoming", "exec:cat '\($0.path)'"] } ?? [])
    }
}
