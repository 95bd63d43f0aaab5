import DmemModel
import Trace

extension Generator {
    /// A `fail N op` or `fail nth K op` (issue 9): an op that allocates dmem objects, run with failslab armed for
    /// the task doing it. Mostly where a pool is still missing (a cgroup no limit write or
    /// charge has touched on that region), so that get_cg_pool_unlocked() allocates at all, and
    /// with two or more failures as often as one, so that after a failed GFP_NOWAIT allocation
    /// the GFP_KERNEL preallocation fails too: the path the posted fix "cgroup/dmem: return
    /// -ENOMEM on failed pool preallocation" changed. A fresh mkdir reaches dmemcs_alloc().
    mutating func faultOp(_ m: Model) -> Op? {
        let paths = m.paths
        let regions = m.liveRegionNames
        var inner: Op?
        switch rng.below(11) {
        case 0..<2:
            guard let parent = rng.pick(paths.filter { $0.depth < config.maxDepth }) else { return nil }
            inner = .mkdir(parent.child("c\(rng.below(4))"))
        case 2..<5:
            // A well-formed write to a cgroup without a pool on the region, most of the time.
            guard let r = rng.pick(regions) else { return nil }
            let bare = paths.filter { !$0.isRoot && !m.hasPool($0, region: r) }
            guard let p = rng.pick(rng.chance(80) && !bare.isEmpty ? bare : paths.filter { !$0.isRoot }) else { return nil }
            inner = rng.chance(85)
                ? .write(p, file: rng.pick(["dmem.max", "dmem.min", "dmem.low"])!, data: Array("\(r) \(rng.pick(["max", "0", "16M", "1G"])!)".utf8), nonblock: false)
                : limitWrite(m, p)
        case 5..<8:
            // A first charge of the actor's cgroup on the region, most of the time.
            guard m.buffers.count < config.maxBuffers else { return nil }
            let pairs = m.actors.keys.sorted().flatMap { a in regions.map { (a, $0) } }
            let first = pairs.filter { a, r in m.cgroupOf(actor: a).map { !m.hasPool($0, region: r) } ?? false }
            guard let (a, r) = rng.pick(rng.chance(80) && !first.isEmpty ? first : pairs) else { return nil }
            inner = .alloc(a, region: r, size: UInt64(1 + rng.below(16)) * 4096, buffer: nextBuffer)
        case 8:
            guard let p = rng.pick(paths.filter { m.hasLiveChildren($0) }) else { return nil }
            inner = .write(p, file: "cgroup.subtree_control", data: Array("+dmem".utf8), nonblock: false)
        case 10:
            // A region registered now (a vkms device): dmem_cgroup_register_region()'s two
            // allocations, the second alone with `fail nth 2` (vkms/default's module load is
            // left out: vkms_init() keeps its configfs subsystem after a failed vkms_create(), and
            // the next load hits a list corruption BUG in configfs_register_subsystem()).
            guard let (name, size) = rng.pick(config.dynamicRegions.filter { $0.name.hasPrefix("vkms/") && !regions.contains($0.name) }),
                  regions.contains("vkms/default") else { return nil }
            inner = .register(region: name, size: size)
        default:
            // A transfer creates the receiver's pools (a plain one: no boundary write first).
            let actors = m.actors.keys.sorted()
            let charged = m.buffers.keys.sorted().filter { m.isVgem(buffer: $0) && m.chargedCgroup(buffer: $0) != nil }
            if config.transfer, let b = rng.pick(charged), let owner = m.buffers[b]?.actor, let to = rng.pick(actors) {
                inner = .transfer(owner, buffer: b, to: to)
            } else {
                guard let a = rng.pick(actors), let p = rng.pick(paths.filter { $0.depth < config.maxDepth }) else { return nil }
                inner = .by(a, .mkdir(p.child("c\(rng.below(4))")))
            }
        }
        guard let inner, inner.faultable else { return nil }
        // One time in three the K-th allocation alone (fail-nth): a later one of a sequence
        // fails while the ones before it succeed, which `fail N` (the next N) never does.
        if rng.chance(33) { return .failNth(rng.pick([1, 2, 2, 3])!, inner) }
        return .fail(count: rng.pick([1, 2, 2, 3, 4])!, inner)
    }
}
