import Foundation
import Kernel

/// QEMU guests of one configuration (the kernel build, the initramfs with the agent, the module
/// parameters): each `create` starts a new QemuMachine, restored from the configuration's
/// snapshot when one is saved and snapshots are on, booted (and then saved) otherwise.
public final class QemuPool: MachinePool {
    public let config: QemuConfig
    public init(config: QemuConfig) { self.config = config }

    public var kernel: KernelBuild { config.kernel }
    public var vgemParams: String? { config.vgemParams }
    public var vkmsParams: String? { config.vkmsParams }
    public var canRestore: Bool { config.snapshots }

    /// A machine not started yet (`dmemfuzz boot` reports a failed start with its console path).
    public func machine() -> QemuMachine { QemuMachine(config: config) }

    public func create() throws -> any Machine {
        let m = machine()
        try m.start()
        return m
    }
}
