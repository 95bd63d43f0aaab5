import Foundation
import Kernel
import Shell
import Log
import Logging

/// What a QEMU guest is made of: the kernel, the initramfs, its size and its command line.
public struct QemuConfig: Sendable {
    public var kernel: KernelBuild
    public var initramfs: URL
    public var memoryMB = 1024
    /// Where the VM's own messages go (a snapshot not restored or not saved).
    public var log: Logger = .dmemfuzz()
    public var cpus = 2
    /// Module parameters the agent loads vgem and vkms with (`dmem_regions=2 dmem_size=268435456`);
    /// nil: the test patches' defaults. They go on the kernel command line as dmemfuzz.vgem=/vkms=.
    public var vgemParams: String?
    public var vkmsParams: String?
    /// Extra kernel command line words.
    public var cmdline: [String] = []
    /// The accelerator asked for (nil: probe for it in `prepare`).
    public var accel: Accel? = nil
    /// What running the host's QEMU found out (`prepare`); a machine cannot start without it.
    public private(set) var host: QemuHost?
    /// Start from (and save) a snapshot of the booted guest instead of booting every time.
    public var snapshots = true
    /// Boot (QEMU start to agent `ready`) deadline, seconds.
    public var readyTimeout: Double = 180
    public init(kernel: KernelBuild, initramfs: URL) { self.kernel = kernel; self.initramfs = initramfs }

    /// Runs, once and before any guest of this configuration starts, every child process a guest
    /// needs besides QEMU: `qemu --version`, the accelerator probe, readelf for the KCOV ranges
    /// (cached beside the build for `Session`). So a guest's start, which runs in synchronous code
    /// on the cooperative pool (a campaign's reboot), spawns QEMU alone.
    public mutating func prepare() async throws {
        if host != nil { return }
        let first = (try? await Shell.run([QemuMachine.qemuBinary, "--version"]))?.split(separator: "\n").first
        let version = first.map(String.init) ?? "?"
        let a: Accel
        if let accel { a = accel } else { a = try await Accel.probe(kernel: kernel, qemuVersion: version) }
        _ = await KcovRanges.text(for: kernel)
        host = QemuHost(accel: a, qemuVersion: version)
    }

    /// This configuration, prepared.
    public func prepared() async throws -> QemuConfig {
        var c = self
        try await c.prepare()
        return c
    }
}

/// The host's QEMU as `QemuConfig.prepare` found it: the accelerator guests use and the version
/// (both are part of a snapshot's key).
public struct QemuHost: Sendable, Equatable {
    public var accel: Accel
    public var qemuVersion: String
    public init(accel: Accel, qemuVersion: String) { self.accel = accel; self.qemuVersion = qemuVersion }
}
