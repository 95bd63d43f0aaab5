import Foundation
import Kernel
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
    public var accel: Accel? = nil
    /// Start from (and save) a snapshot of the booted guest instead of booting every time.
    public var snapshots = true
    /// Boot (QEMU start to agent `ready`) deadline, seconds.
    public var readyTimeout: Double = 180
    public init(kernel: KernelBuild, initramfs: URL) { self.kernel = kernel; self.initramfs = initramfs }
}
