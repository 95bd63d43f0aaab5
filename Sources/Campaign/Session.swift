import DmemModel
import Fuzz
import Trace
import Kernel
import VM

/// One running guest (a `Machine` of any pool) plus the model that mirrors it. A trace run in a session starts from the
/// state the guest booted in: the regions its drivers registered.
public final class Session {
    public let vm: any Machine
    public let kernel: KernelExecutor
    public let profile: KernelProfile
    public let bootRegions: [Op]
    public let release: String
    /// KCOV edges of dmem.c/page_counter.c are reported (the kernel has KCOV and a vmlinux).
    public let kcov: Bool
    /// Modules the booted kernel's build has, plus its features (`transfer`): what a trace's
    /// `requires` may name (read once per boot, asked every round).
    public let modules: Set<String>
    /// What the kernel offers beyond the model (files a series added, other controllers).
    public let interfaces: Interfaces

    /// `machine`: a started guest (`MachinePool.create`). `kcov: false` leaves KCOV off even when
    /// the kernel has it (`dmemfuzz bench lockstep` measures the difference).
    public init(machine vm: any Machine, profile override: KernelProfile? = nil, kcov wantKcov: Bool = true) throws {
        self.vm = vm
        let hello = try vm.agent.hello()
        release = hello.release
        guard let p = override ?? KernelProfile.forRelease(hello.release) else {
            vm.stop()
            throw CampaignError("kernel \(hello.release): no model profile for it (known: 7.2, 7.3); pass --profile")
        }
        profile = p
        kernel = KernelExecutor(vm: vm)
        bootRegions = KernelExecutor.regions(fromCapacity: hello.capacity,
                                             requested: RequestedRegions(vgem: vm.vgemParams, vkms: vm.vkmsParams))
        modules = vm.kernel.moduleNames().union(vm.kernel.features())
        interfaces = Interfaces(listing: try vm.agent.interfaces(), profile: p, options: [])
        let ranges = wantKcov ? (KcovRanges.cached(for: vm.kernel) ?? "") : ""
        kcov = !ranges.isEmpty && (try? vm.agent.kcov(ranges: ranges)) == true
    }

    /// A model in the guest's boot state.
    public func freshModel(options: ModelOptions) -> ModelExecutor {
        var m = ModelExecutor(profile: profile, options: options)
        m.model.unmodeledFiles = Set(interfaces.files)
        for op in bootRegions { _ = m.apply(op) }
        // The guest may have run rounds before (a reset keeps the boot regions and their root pools).
        m.model.markRootPoolsUnknown()
        return m
    }

    /// A trace's leading `register` ops that the booted kernel already did (they are for the model).
    public func splitPrologue(_ steps: [Step]) -> (prologue: [Step], rest: [Step]) {
        var i = 0
        var remaining = bootRegions
        while i < steps.count, case .register = steps[i].op, let k = remaining.firstIndex(of: steps[i].op) {
            remaining.remove(at: k); i += 1
        }
        return (Array(steps[..<i]), Array(steps[i...]))
    }

    /// Warnings in the series' C files under W=1 that the base tree does not have (the build's
    /// manifest, vm/series-warnings.py): said in the progress output, KTAP and report.txt.
    public var seriesWarnings: [String] { ((try? vm.kernel.manifest())?.seriesWarnings) ?? [] }

    public func stop() { vm.poweroff() }
}
