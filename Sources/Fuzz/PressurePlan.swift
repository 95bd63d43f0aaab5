import DmemModel
import Trace

/// A protected hierarchy put under pressure, one op at a time.
///
/// Random ops rarely line up the shape that TTM's protection-aware eviction is about
/// (`ttm_bo_evict_alloc()`'s first pass that skips protected buffers, its `try_low` second pass,
/// `ttm_bo_evict_cb()` judging a victim against the common ancestor of evictor and victim,
/// `ttm_bo_evict_cgroup()` stopping at protected buffers when a lowered `dmem.max` reclaims): a
/// cgroup with dmem.min or dmem.low above what it uses, holding an *older* buffer in the region's
/// LRU, an unprotected sibling holding a newer one, and then an allocation or a limit write that
/// must evict. A plan is that recipe as a queue of intents; each intent is made into an op
/// against the model's state at the moment it is emitted (the sizes come from the model's
/// usage, holes and headroom then), and an intent that no longer makes sense is skipped.
///
/// ```
///   parent                    (+dmem in cgroup.subtree_control, optional dmem.max: reclaim)
///   ├── prot   dmem.low|min   (holder actor here, or in prot/d0: protection reached recursively)
///   └── rival                 (rival actor: unprotected, allocates after the holder)
/// ```
struct PressurePlan: Sendable, Equatable {
    enum Role: Sendable, Equatable { case holder, rival, other }
    enum Intent: Sendable, Equatable {
        case enableDmem(CgroupPath)
        case mkdir(CgroupPath)
        case protect
        case place(Role)
        /// An allocation of about `1/divisor` of the region.
        case alloc(Role, divisor: UInt64)
        /// An allocation that cannot be placed without evicting.
        case pressure(Role)
        /// dmem.max on `parent` below its usage: 7.3's reclaim through ttm_bo_evict_cgroup().
        case reclaim
        /// The holder moves to the rival's cgroup and its protected cgroup is removed while its
        /// buffers stay charged to it: dmemcs_offline() must reset min and low, so the dying
        /// cgroup's buffers become evictable.
        case abandon
        case rmdir(CgroupPath)
        /// What the eviction left: a dmem.current, the residency of a holder's buffer.
        case read(CgroupPath)
        case resident(Role, index: Int)
    }

    let parent: CgroupPath
    let protected: CgroupPath
    let holderPath: CgroupPath
    let rival: CgroupPath
    let region: String
    /// dmem.low or dmem.min.
    let file: String
    var intents: [Intent]
    var holder: ActorID?
    var rivalActor: ActorID?

    func actor(_ role: Role) -> ActorID? {
        switch role {
        case .holder: return holder
        case .rival: return rivalActor
        case .other: return nil
        }
    }

    func path(_ role: Role) -> CgroupPath? {
        switch role {
        case .holder: return holderPath
        case .rival: return rival
        case .other: return nil
        }
    }
}

extension Generator {
    /// A new plan on a vgem region (the charge source that evicts), or nil when no cgroup can
    /// take one: the parent and each ancestor below the root must be free of tasks, since
    /// enabling a controller in a cgroup with tasks is EBUSY (cgroup v2's no-internal-process rule).
    mutating func makePressurePlan(_ m: Model) -> PressurePlan? {
        let vgem = m.liveRegionNames.filter { $0.hasPrefix("vgem/") }
        guard let region = rng.pick(vgem.isEmpty ? m.liveRegionNames : vgem) else { return nil }
        func taskFree(_ p: CgroupPath) -> Bool {
            var q: CgroupPath? = p
            while let c = q, !c.isRoot { if m.tasks(in: c) > 0 { return false }; q = c.parent }
            return true
        }
        // Depth: parent/prot/d0 must still fit under maxDepth. Not the root, mostly: when the
        // common ancestor of evictor and victim is the root, dmem_cgroup_state_evict_valuable()
        // returns true before it looks at protection (`!parent_dmemcs(limit_pool->cs)`), so
        // protection only matters under a shared parent below the root.
        let parents = m.paths.filter { !$0.isRoot && $0.depth + 2 <= config.maxDepth && taskFree($0) }
        let parent: CgroupPath
        if rng.chance(10) { parent = .root }
        else if let p = rng.pick(parents), rng.chance(70) { parent = p }
        else { parent = CgroupPath.root.child("c\(rng.below(4))") }
        guard m.isLive(parent) ? taskFree(parent) : parent.depth + 2 <= config.maxDepth else { return nil }
        let prot = parent.child("c\(rng.below(4))")
        var rival = parent.child("c\(rng.below(4))")
        if rival == prot { rival = parent.child(prot.name == "c3" ? "c0" : "c3") }
        let deep = prot.depth < config.maxDepth && m.tasks(in: prot) == 0 && rng.chance(30)
        let holderPath = deep ? prot.child("d0") : prot
        var intents: [PressurePlan.Intent] = []
        var chain: [CgroupPath] = []
        var q: CgroupPath? = parent
        while let c = q { chain.insert(c, at: 0); q = c.parent }
        // dmem enabled from the root down; the parent made first if it is new (a mkdir intent
        // of a live cgroup is skipped).
        for c in chain {
            if c == parent { intents.append(.mkdir(c)) }
            intents.append(.enableDmem(c))
        }
        intents += [.mkdir(prot), .mkdir(rival)]
        if deep { intents += [.enableDmem(prot), .mkdir(holderPath)] }
        intents += [.protect, .place(.holder), .place(.rival)]
        // The holder's buffers first: they are the oldest in the LRU, the ones a walk that
        // ignores protection would take first.
        intents += (0...rng.below(2)).map { _ in .alloc(.holder, divisor: UInt64(3 + rng.below(6))) }
        intents += (0...rng.below(2)).map { _ in .alloc(.rival, divisor: UInt64(3 + rng.below(6))) }
        if rng.chance(25) {
            intents += [.abandon, .rmdir(holderPath)]
            if deep { intents.append(.rmdir(prot)) }
        }
        let who: [PressurePlan.Role] = [.rival, .rival, .holder, .other]
        intents += (0...rng.below(2)).map { _ in .pressure(rng.pick(who)!) }
        if !parent.isRoot && rng.chance(40) { intents.append(.reclaim) }
        intents += [.read(prot), .read(rival), .resident(.holder, index: 0), .resident(.holder, index: 1)]
        return PressurePlan(parent: parent, protected: prot, holderPath: holderPath, rival: rival, region: region,
                            file: rng.chance(50) ? "dmem.low" : "dmem.min", intents: intents)
    }

    /// The plan's next op, or nil when the plan is used up. Intents already satisfied (dmem
    /// already enabled, cgroup already there) or no longer possible (an actor exited) are skipped.
    mutating func nextPlanned(_ plan: inout PressurePlan, _ m: Model) -> Op? {
        let page: UInt64 = 4096
        func aligned(_ v: UInt64) -> UInt64 { max(page, v / page * page) }
        let plus = Generator.saturatingSum
        while !plan.intents.isEmpty {
            let intent = plan.intents.removeFirst()
            switch intent {
            case let .enableDmem(p):
                guard m.isLive(p), !m.subtreeHasDmem(p) else { continue }
                return .write(p, file: "cgroup.subtree_control", data: Array("+dmem".utf8), nonblock: false)
            case let .mkdir(p):
                guard !m.isLive(p) else { continue }
                return .mkdir(p)
            case .protect:
                guard m.isLive(plan.protected), let size = m.regionSize(plan.region) else { continue }
                let used = m.usage(plan.protected, region: plan.region) ?? 0
                let room = rng.pick([size / 4, size / 2, size / 8, size])!
                let value = plus(used, room)
                return .write(plan.protected, file: plan.file, data: Array("\(plan.region) \(value)".utf8), nonblock: false)
            case let .place(role):
                guard let target = plan.path(role), m.isLive(target) else { continue }
                let taken = [plan.holder, plan.rivalActor].compactMap { $0 }
                let id: ActorID
                let op: Op
                if m.actors.count < config.maxActors {
                    id = nextActor; op = .spawn(id, target)
                } else if let a = rng.pick(m.actors.keys.sorted().filter { !taken.contains($0) }) {
                    id = a; op = .move(a, target)
                } else { continue }
                if role == .holder { plan.holder = id } else { plan.rivalActor = id }
                return op
            case let .alloc(role, divisor):
                guard let a = plan.actor(role), m.actors[a] != nil, let size = m.regionSize(plan.region) else { continue }
                let jitter = UInt64(rng.below(4)) * page
                return .alloc(a, region: plan.region, size: plus(aligned(size / divisor), jitter), buffer: nextBuffer)
            case let .pressure(role):
                let a = plan.actor(role) ?? rng.pick(m.actors.keys.sorted())
                guard let a, m.actors[a] != nil, let size = m.regionSize(plan.region) else { continue }
                let free = m.largestFreeBlock(region: plan.region) ?? 0
                let resident = m.residentSizes(region: plan.region)
                let over = plus(free / page * page, page)
                let candidates = [over, over, size / 2, size, plus(rng.pick(resident) ?? page, page)]
                return .alloc(a, region: plan.region, size: min(size, aligned(rng.pick(candidates)!)), buffer: nextBuffer)
            case .abandon:
                guard let h = plan.holder, m.actors[h] != nil, m.isLive(plan.rival) else { continue }
                return .move(h, plan.rival)
            case let .rmdir(p):
                guard m.isLive(p), m.tasks(in: p) == 0, !m.hasLiveChildren(p) else { continue }
                return .rmdir(p)
            case .reclaim:
                guard m.isLive(plan.parent) else { continue }
                let used = m.usage(plan.parent, region: plan.region) ?? 0
                guard used > 0 else { continue }
                let value = rng.pick([used / 2, used - min(used, page), 0, used / 4])!
                return .write(plan.parent, file: "dmem.max", data: Array("\(plan.region) \(value)".utf8), nonblock: false)
            case let .read(p):
                guard m.isLive(p) else { continue }
                return .read(p, file: "dmem.current")
            case let .resident(role, index):
                guard let a = plan.actor(role), let bs = m.buffers(of: a), index < bs.count else { continue }
                return .resident(bs[index])
            }
        }
        return nil
    }
}
