import AgentProtocol
import DmemModel
import Fuzz
import Trace
import VM

/// The real kernel as an executor: ops go to the guest agent as trace lines, outcomes come back
/// in the same text form. Only the agent touches the kernel; nothing here imitates it.
public final class KernelExecutor: Executor {
    public let vm: any Machine
    public init(vm: any Machine) { self.vm = vm }

    public func execute(_ ops: [Op]) async throws -> [Outcome?] {
        let replies = try vm.agent.batch(ops, timeout: 120)
        return try zip(ops, replies).map { op, reply in
            if case .evictQuery = op { return nil }  // a question only the model answers
            switch reply {
            case let .outcome(o): return o
            case let .fail(m): throw VMError.protocolError("agent refused '\(TracePrinter.op(op))': \(m)")
            default: throw VMError.protocolError("unreadable outcome '\(reply.wire)' for '\(TracePrinter.op(op))'")
            }
        }
    }

    /// KCOV edges in dmem.c/page_counter.c since the last call (`kcov` must have been accepted).
    public func coverage() throws -> [UInt64] { try vm.agent.cover() }

    /// The regions the booted kernel registered, as `register` ops for the model: names and order
    /// from dmem.capacity (registration order), sizes from what the agent asked the test patches
    /// for (`requested`), never from the kernel's own capacity text, so a kernel that prints a
    /// wrong capacity shows up as `read dmem.capacity: different data` instead of resizing the
    /// model. Regions no module parameter describes (a series' own driver, dmem_selftest) keep
    /// the size the kernel printed: nothing else says what it should be.
    public static func regions(fromCapacity text: String, requested: RequestedRegions = RequestedRegions()) -> [Op] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 2, let printed = UInt64(f[1]) else { return nil }
            let name = String(f[0])
            return .register(region: name, size: requested.size(of: name) ?? printed)
        }
    }
}

/// The region sizes the agent asks vgem and vkms for: their `dmem_size` module parameter, or the
/// test patches' defaults (vm/patches/README.md).
public struct RequestedRegions: Sendable, Equatable {
    public var vgemSize: UInt64 = 268_435_456
    public var vkmsSize: UInt64 = 67_108_864

    public init() {}
    /// From the module parameter strings the guest was booted with (`dmem_regions=2 dmem_size=N`).
    public init(vgem: String?, vkms: String?) {
        if let v = vgem.flatMap({ Self.param("dmem_size", in: $0) }) { vgemSize = v }
        if let v = vkms.flatMap({ Self.param("dmem_size", in: $0) }) { vkmsSize = v }
    }

    static func param(_ key: String, in text: String) -> UInt64? {
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            let kv = word.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == key { return UInt64(kv[1]) }
        }
        return nil
    }

    public func size(of region: String) -> UInt64? {
        if region.hasPrefix("vgem/") { return vgemSize }
        if region.hasPrefix("vkms/") { return vkmsSize }
        return nil
    }
}
