import DmemModel
import Trace

/// `transfer` ops (`GeneratorConfig.transfer`: the kernel has the vgem charge transfer).
///
/// A random receiver almost never sits at the edge that matters: dmem_cgroup_transfer_charge()
/// charges the receiver's whole chain before it uncharges the sender, so a limit with exactly
/// the buffer's size of headroom must let it through and one page less must fail with ENOMEM and
/// move nothing, also when the limit is on an ancestor both cgroups share (which carries the
/// size twice for a moment). So most transfers come after a dmem.max write that sets exactly
/// that headroom on the receiver's charged cgroup or one of its ancestors; the transfer itself
/// is queued and emitted as the next op.
extension Generator {
    mutating func transferOp(_ m: Model) -> Op? {
        let actors = m.actors.keys.sorted()
        let vgem = m.buffers.keys.sorted().filter { m.isVgem(buffer: $0) }
        guard let b = rng.pick(rng.chance(80) ? vgem.filter { m.chargedCgroup(buffer: $0) != nil } : m.buffers.keys.sorted()),
              let owner = m.buffers[b]?.actor, let to = rng.pick(actors) else { return nil }
        // Mostly the owner (its file holds the handle); sometimes another actor (ENOENT).
        let sender = rng.chance(92) ? owner : rng.pick(actors)!
        let op = Op.transfer(sender, buffer: b, to: to)
        guard rng.chance(60), let limit = boundaryLimit(m, buffer: b, to: to) else { return op }
        queued = op
        return limit
    }

    /// dmem.max on the receiver's charged cgroup or a non-root ancestor of it, at its usage plus
    /// the buffer's size (the transfer just fits) or one page less (it fails at that counter).
    mutating func boundaryLimit(_ m: Model, buffer b: BufferID, to: ActorID) -> Op? {
        guard let size = m.buffers[b]?.size, let region = m.regionName(buffer: b),
              let charged = m.chargedCgroup(actor: to), !charged.isRoot else { return nil }
        var candidates: [CgroupPath] = []
        var p: CgroupPath? = charged
        while let q = p, !q.isRoot { candidates.append(q); p = q.parent }
        guard let target = rng.pick(candidates), let used = m.usage(target, region: region) else { return nil }
        let (fit, overflow) = used.addingReportingOverflow(size)
        if overflow { return nil }
        let value = rng.chance(50) ? fit : fit - min(size, 4096)
        return .write(target, file: "dmem.max", data: Array("\(region) \(value)".utf8), nonblock: false)
    }
}
