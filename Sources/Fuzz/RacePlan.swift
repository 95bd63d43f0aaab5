import DmemModel
import Trace

/// Racing groups on purpose (issue 12): the pairs whose interleavings dmem.c and the cgroup core
/// have to get right, each built from live state so that both members do something.
///
/// - a charge against the removal, move or exit that changes which css it lands on
///   (dmem_cgroup_try_charge() takes the css of the task at the time, get_cg_pool_locked()
///   creates pools under dmemcg_lock while css_offline unlinks them);
/// - an unregister against an allocation on the same region (dmem_cgroup_unregister_region()
///   marks the region dead and unlinks its pools while a charge looks them up under RCU);
/// - a limit write against a charge on the same cgroup (page_counter_set_max() against
///   page_counter_try_charge(): one of them sees the other's value);
/// - a reclaiming limit write or an evicting allocation against a free (TTM's LRU walk against
///   ttm_bo_put());
/// - two charges for the same headroom.
extension Generator {
    mutating func raceGroup(_ m: Model) -> Op? {
        let actors = m.actors.keys.sorted()
        guard let a = rng.pick(actors), let cg = m.cgroupOf(actor: a) else { return nil }
        let region = rng.pick(m.liveRegionNames) ?? "vgem/region0"
        let regionSize = m.regionSize(region) ?? 1 << 20
        func alloc(_ who: ActorID) -> Op {
            let size = (rng.chance(60) ? boundarySize(m, actor: who, region: region) : nil) ?? allocSize(regionSize)
            let b = nextBuffer; nextBuffer += 1
            return .alloc(who, region: region, size: size, buffer: b)
        }
        let others = actors.filter { $0 != a }
        let paths = m.paths
        var ops: [Op]
        // First charges of one cgroup on one region, from two or three of its tasks: the pool
        // is created by whichever gets dmemcg_lock first, and the others must find it.
        if rng.chance(40) {
            let crowd = Dictionary(grouping: actors, by: { m.cgroupOf(actor: $0)! }).filter { $0.value.count > 1 && !$0.key.isRoot }
            if let (p, tasks) = rng.pick(crowd.sorted { $0.key < $1.key }), let r = rng.pick(m.liveRegionNames.filter { !m.hasPool(p, region: $0) }) {
                let ops: [Op] = tasks.prefix(3).map { who in
                    let b = nextBuffer; nextBuffer += 1
                    return .alloc(who, region: r, size: UInt64(1 + rng.below(4)) * 4096, buffer: b)
                }
                // Read back at once what the pool creation left: the buffers may be gone before
                // the next whole-tree read.
                queued = .read(p, file: "dmem.current")
                return .par(ops)
            }
            // None yet: make one, one op per call: a fresh cgroup below a fresh parent, so the
            // first charges also create the parent's pool (get_cg_pool_locked() links the child's
            // pool before its counter has a parent), and two tasks in it.
            if plan == nil && queuedRace.isEmpty {
                let p = CgroupPath(["r\(rng.below(6))"]), c = p.child("c")
                let tasks = min(3, config.maxActors - actors.count)
                if !m.isLive(p) && tasks >= 2, let r = rng.pick(m.liveRegionNames) {
                    let who = (0..<tasks).map { nextActor + $0 }
                    nextActor += tasks
                    let allocs: [Op] = who.map { a in
                        let b = nextBuffer; nextBuffer += 1
                        return .alloc(a, region: r, size: UInt64(1 + rng.below(4)) * 4096, buffer: b)
                    }
                    // The group right after its setup, before other ops move the tasks or charge.
                    queuedRace = [.mkdir(p), .write(p, file: "cgroup.subtree_control", data: Array("+dmem".utf8), nonblock: false), .mkdir(c)]
                        + who.map { .spawn($0, c) } + [.par(allocs), .read(c, file: "dmem.current")]
                    return queuedRace.removeFirst()
                }
            }
        }
        switch rng.below(9) {
        case 0:
            // Charge against the removal of a cgroup next to it: an empty child or sibling.
            let near = paths.filter { !$0.isRoot && $0 != cg && m.tasks(in: $0) == 0 && !m.hasLiveChildren($0)
                && ($0.parent == cg || $0.parent == cg.parent) }
            guard let victim = rng.pick(near) else { return nil }
            ops = [alloc(a), .rmdir(victim)]
        case 1:
            // Charge against the move of the charging task.
            guard let to = rng.pick(paths.filter { $0 != cg }) else { return nil }
            ops = [alloc(a), .move(a, to)]
        case 2:
            // The last other task of the cgroup exits while a charge and the rmdir run.
            guard let b = rng.pick(others), let bcg = m.cgroupOf(actor: b), !bcg.isRoot else { return nil }
            ops = [.exit(b), .rmdir(bcg)]
            if rng.chance(50) { ops.insert(alloc(a), at: 0) }
        case 3:
            // Unregister against an allocation on the same (dynamic) region.
            guard let (name, size) = rng.pick(config.dynamicRegions) else { return nil }
            if !m.liveRegionNames.contains(name) { return .register(region: name, size: size) }
            let b = nextBuffer; nextBuffer += 1
            ops = [.unregister(region: name), .alloc(a, region: name, size: UInt64(1 + rng.below(4)) * 4096, buffer: b)]
        case 4:
            // A limit write against a charge on the same cgroup. A dmem.max write is O_NONBLOCK
            // here: a reclaim racing a charge can evict the charging buffer too (seen on 7.3.4:
            // `par { write /r0/c2 dmem.max … | alloc a5 … b45 }` evicted b35 and b45, where every
            // order evicts b35 alone), an interleaving the oracle does not model yet.
            var w = limitWrite(m, cg)
            if case let .write(p, f, d, _) = w, f == "dmem.max" { w = .write(p, file: f, data: d, nonblock: true) }
            ops = [w, alloc(a)]
            if let b = rng.pick(others) { ops.append(alloc(b)) }
        case 5:
            // Reclaim (a blocking dmem.max write below usage) against a free in the same cgroup,
            // or a limit below usage against a charge.
            let mine = m.buffers.filter { $0.value.actor == a }.keys.sorted()
            guard let used = m.usage(cg, region: region), used > 0 else { return nil }
            let target = used > 4096 ? used / 2 / 4096 * 4096 : 0
            let write = Op.write(cg, file: "dmem.max", data: Array("\(region) \(target)".utf8), nonblock: false)
            // (Against a charge only O_NONBLOCK: see case 4.)
            if let b = rng.pick(mine), rng.chance(50) { ops = [write, .free(b)] }
            else { ops = [.write(cg, file: "dmem.max", data: Array("\(region) \(target)".utf8), nonblock: true), alloc(a)] }
        case 6:
            // An allocation that must evict against the free of a possible victim.
            let theirs = m.buffers.filter { $0.value.actor != a && $0.value.pool != nil }.keys.sorted()
            guard let b = rng.pick(theirs) else { return nil }
            ops = [alloc(a), .free(b)]
        case 7:
            // Two or three charges for the same headroom.
            guard !others.isEmpty else { return nil }
            ops = [alloc(a), alloc(rng.pick(others)!)]
            if others.count > 1, rng.chance(40) { ops.append(alloc(rng.pick(others)!)) }
        default:
            // A move into a cgroup against its removal.
            guard let to = rng.pick(paths.filter { !$0.isRoot && $0 != cg && !m.hasLiveChildren($0) }) else { return nil }
            ops = [.move(a, to), .rmdir(to)]
        }
        if rng.chance(50) { ops.shuffle(using: &rng) }
        guard ops.count >= 2, ops.count <= Op.maxGroup, ops.allSatisfy(\.racing), Op.groupProblem(ops) == nil else { return nil }
        return .par(ops)
    }
}
