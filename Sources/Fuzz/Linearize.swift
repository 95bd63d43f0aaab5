import DmemModel
import Trace

/// The model side of a racing group (`par { ... }`). The kernel runs the group's ops at the same
/// moment; a correct kernel behaves as if it had run them one after another in *some* order
/// (linearizability: every op here takes the kernel's locks for its whole effect, dmem.c's
/// dmemcg_lock and the cgroup mutex, or a page_counter atomic), so the oracle is every order of
/// the group on a copy of the model.
public struct Linearization: Sendable {
    /// Indices into the group, in the order the model ran them.
    public var order: [Int]
    /// The group's outcome, as the guest agent reports it: nil when a member has no model answer.
    public var outcome: Outcome?
    public var after: ModelExecutor
}

extension ModelExecutor {
    /// Runs the group in one order and returns its outcome: the members' outcomes in the group's
    /// own order, without evictions, and as `evicted` the buffers that were resident before the
    /// group, or were allocated in it, and are evicted after it. That is all the guest can see:
    /// it asks every buffer afterwards (VGEM_DMEM_INFO) and cannot tell which member evicted
    /// one, nor whether a dmem.max write's reclaim did.
    ///
    /// `busy`: the buffers the group allocates or frees are busy for every eviction in it (TTM
    /// cannot trylock a BO another CPU is creating or destroying, so its LRU walk skips it and an
    /// allocation that needed it fails ENOSPC). Both are what a kernel may do, so the oracle
    /// tries each order both ways.
    ///
    /// `contended`: members that are not run and fail ENOSPC with no effect (`contentionVariants`).
    public mutating func applyGroup(_ ops: [Op], order: [Int], busy: Bool = false, contended: Set<Int> = []) -> Outcome? {
        applyGroupTracked(ops, order: order, busy: busy, contended: contended).outcome
    }

    /// `applyGroup`, and the members that evicted a buffer themselves.
    ///
    /// `held`: buffers busy for one member only (another member is evicting them while it runs);
    /// `evictFirst`: buffers a member had begun to evict, evicted just before it runs.
    mutating func applyGroupTracked(_ ops: [Op], order: [Int], busy: Bool, contended: Set<Int>, held: [Int: Set<BufferID>] = [:],
                                    evictFirst: [Int: [BufferID]] = [:]) -> (outcome: Outcome?, evictors: Set<Int>) {
        let residentBefore = Set(model.buffers.filter { $0.value.pool != nil }.keys)
        var outcomes = [Outcome?](repeating: nil, count: ops.count)
        var evictors = Set<Int>()
        if busy { model.busy = Set(ops.flatMap { $0.buffers }) }
        for i in contended { outcomes[i] = .err(.ENOSPC) }
        for i in order where !contended.contains(i) {
            let saved = model.busy
            model.busy.formUnion(held[i] ?? [])
            model.evictNow(evictFirst[i] ?? [])
            outcomes[i] = apply(ops[i])
            model.busy = saved
            if outcomes[i]?.evicted.isEmpty == false { evictors.insert(i) }
        }
        model.busy = []
        // Two or more charges at once: the watermarks of every cgroup they charge are unknown.
        let charging = ops.compactMap { op -> ActorID? in
            switch op { case let .alloc(a, _, _, _), let .transfer(a, _, _): return a; default: return nil }
        }
        if charging.count > 1 {
            for a in charging {
                var p = model.cgroupOf(actor: a)
                while let q = p { model.peakUnknown.insert(q); p = q.parent }
            }
        }
        var watched = residentBefore
        for (i, op) in ops.enumerated() {
            if case let .alloc(_, _, _, b) = op, outcomes[i]?.isSuccess == true { watched.insert(b) }
        }
        let evicted = watched.filter { model.buffers[$0].map { $0.pool == nil } ?? false }
        var members: [Outcome] = []
        for o in outcomes {
            guard var o else { return (nil, evictors) }
            o.evicted = []
            members.append(o)
        }
        return (Outcome(evicted: Array(evicted), group: members), evictors)
    }

    /// Every order of the group (at most `Op.maxGroup`! = 24), with what it gives. Orders that
    /// end in the same outcome and the same state are one: the caller keeps alternatives apart
    /// only where the kernel could still tell them apart.
    public func linearizations(_ ops: [Op]) -> [Linearization] {
        var out: [Linearization] = []
        func add(_ l: Linearization) {
            if !out.contains(where: { $0.outcome == l.outcome && $0.after.model == l.after.model }) { out.append(l) }
        }
        // Busy buffers matter only where the group both evicts and allocates or frees.
        let evicting = ops.contains { if case .alloc = $0 { return true }; if case .write = $0 { return true }; return false }
        let named = ops.contains { !$0.buffers.isEmpty }
        for busy in evicting && named ? [false, true] : [false] {
            for order in Model.permutations(ops.count) {
                var m = self
                let o = m.applyGroup(ops, order: order, busy: busy)
                let lruOrders = m.model.lruOrders(of: Self.allocated(ops, o))
                for v in Self.enodevVariants(ops, order: order, outcome: o) {
                    for lru in lruOrders {
                        var after = m
                        after.model = lru
                        add(Linearization(order: order, outcome: v, after: after))
                    }
                }
            }
        }
        contentionVariants(ops).forEach(add)
        return out
    }

    /// The buffers the group's successful allocations made (Model.lruOrders: they may have joined
    /// the LRU in another order than they were placed).
    static func allocated(_ ops: [Op], _ outcome: Outcome?) -> [BufferID] {
        guard let group = outcome?.group else { return [] }
        return zip(ops, group).compactMap { op, o in
            if case let .alloc(_, _, _, b) = op, o.isSuccess { return b }
            return nil
        }
    }

    /// An allocation racing another allocation of its region that evicts may fail ENOSPC with no
    /// effect (the charge undone, no buffer): TTM's eviction walk first only trylocks each BO
    /// (`ttm_bo_evict_alloc()`, `trylock_only`; the test drivers pass no ww ticket, so there is
    /// no second, blocking walk), so the BO the other member is evicting, reserved by it, is
    /// skipped, the walk finds nothing else and the allocation fails, where one after the other
    /// it would have fitted in the space the eviction freed. Seen on 7.3.4: `par { alloc a8
    /// vgem/region0 4096 b32 | alloc a9 vgem/region0 12288 b33 }` on a full region gave
    /// `{ ENOSPC | ok } evicted b28`. For each one member that fails so, every order of the
    /// others in which another allocation of its region evicts.
    func contentionVariants(_ ops: [Op]) -> [Linearization] {
        func region(_ i: Int) -> String? { if case let .alloc(_, r, _, _) = ops[i] { return r }; return nil }
        let allocs = ops.indices.filter { region($0) != nil }
        guard allocs.count >= 2 else { return [] }
        var out: [Linearization] = []
        for failing in allocs where allocs.contains(where: { $0 != failing && region($0) == region(failing) }) {
            let rest = ops.indices.filter { $0 != failing }
            for perm in Model.permutations(rest.count) {
                let order = perm.map { rest[$0] }
                var m = self
                let (o, evictors) = m.applyGroupTracked(ops, order: order, busy: false, contended: [failing])
                if evictors.contains(where: { region($0) == region(failing) }) {
                    out.append(Linearization(order: order + [failing], outcome: o, after: m))
                }
            }
        }
        // The walk goes on past the skipped BO: the contended member evicts the next victims
        // instead, while the other still holds the space of the ones it is evicting, and both
        // may succeed, with more evicted than any order evicts. Seen on 7.3.4: `par { alloc a2
        // vgem/region0 98304 b28 | alloc a8 vgem/region0 524288 b29 }` gave `{ ok | ok } evicted
        // b25 b27` where one after the other evicts b25 alone. For each pair of allocations of a
        // region where the other (`evictor`, run alone first) evicts: the contended one runs with
        // those victims busy, then the evictor, its victims evicted (it had begun to), then the
        // rest in every order.
        // Each allocation run alone, once: its victims, and whether it walks and takes nothing.
        var alone: [Int: Outcome?] = [:]
        for i in allocs { var probe = self; alone[i] = probe.apply(ops[i]) }
        for contended in allocs {
            for evictor in allocs where evictor != contended && region(evictor) == region(contended) {
                guard let victims = alone[evictor]??.evicted, !victims.isEmpty else { continue }
                let rest = ops.indices.filter { $0 != contended && $0 != evictor }
                for perm in Model.permutations(rest.count) {
                    let order = [contended, evictor] + perm.map { rest[$0] }
                    var m = self
                    let (o, _) = m.applyGroupTracked(ops, order: order, busy: false, contended: [], held: [contended: Set(victims)], evictFirst: [evictor: victims])
                    out.append(Linearization(order: order, outcome: o, after: m))
                }
            }
        }
        // A walking allocation reserves every BO it looks at, also the ones it does not evict:
        // ttm_lru_walk_for_evict() trylocks each BO (ttm_bo_lru_for_each_reserved_guarded)
        // before ttm_bo_evict_cb() asks dmem_cgroup_state_evict_valuable() whether it may take
        // it. So an allocation that walks the LRU and takes nothing (run alone it fails ENOSPC
        // and evicts nothing: no BO is valuable to it) can hold any one BO of the region just
        // when another member's walk reaches it, and that member skips it: evicts the next
        // victim instead, or fails. (A walker that evicts is the evictor above.) Seen
        // in a fresh-clone `check` on 7.3.4: `par { alloc a5 vgem/region0 67125248 b41 | alloc
        // a6 vgem/region0 0 b42 | alloc a6 vgem/region0 1572864 b43 }`, a6's cgroup at
        // dmem.max 0 (its walk finds nothing valuable and fails), was not linearizable. For each
        // such pair and each resident BO of the region: the skipping member first, that BO busy
        // for it, then the rest in every order.
        let walks = allocs.filter { alone[$0]??.errno == .ENOSPC && alone[$0]??.evicted.isEmpty == true }
        for walker in walks {
            guard let r = region(walker) else { continue }
            let held = model.lruResident(region: r)
            for skipping in allocs where skipping != walker && region(skipping) == r {
                let rest = ops.indices.filter { $0 != skipping }
                for bo in held {
                    for perm in Model.permutations(rest.count) {
                        let order = [skipping] + perm.map { rest[$0] }
                        var m = self
                        let (o, _) = m.applyGroupTracked(ops, order: order, busy: false, contended: [], held: [skipping: [bo]])
                        out.append(Linearization(order: order, outcome: o, after: m))
                    }
                }
            }
        }
        return out
    }

    /// A member that resolved its path before another member removed that cgroup fails ENODEV
    /// where, one after the other, it would have failed ENOENT, with the same lack of effect:
    /// the open file's write or read finds the kernfs node deactivated (kernfs_get_active()), a
    /// mkdir or rmdir finds its parent dead (cgroup_kn_lock_live()). So in an order where a
    /// successful rmdir of its cgroup (or of a mkdir's parent) comes first, each such ENOENT may
    /// be ENODEV instead: every combination, the order's own outcome first.
    static func enodevVariants(_ ops: [Op], order: [Int], outcome: Outcome?) -> [Outcome?] {
        guard var o = outcome, let group = o.group else { return [outcome] }
        func dirs(_ op: Op) -> [CgroupPath] {
            switch op {
            case let .write(p, _, _, _), let .read(p, _), let .move(_, p): return [p]
            case let .mkdir(p): return p.parent.map { [$0] } ?? []
            case let .rmdir(p): return [p] + (p.parent.map { [$0] } ?? [])
            case let .by(_, inner): return dirs(inner)
            default: return []
            }
        }
        var removed = Set<CgroupPath>(), candidates: [Int] = []
        for i in order {
            if group[i].errno == .ENOENT, dirs(ops[i]).contains(where: removed.contains) { candidates.append(i) }
            if case let .rmdir(p) = ops[i], group[i].isSuccess { removed.insert(p) }
        }
        guard !candidates.isEmpty else { return [outcome] }
        var out: [Outcome?] = []
        for mask in 0..<(1 << candidates.count) {
            var g = group
            for (k, i) in candidates.enumerated() where mask & (1 << k) != 0 { g[i] = .err(.ENODEV) }
            o.group = g
            out.append(o)
        }
        return out
    }

    /// Applies a step whose outcome was recorded: a group takes the first order that gives the
    /// recorded outcome (another order would have been another kernel run, not another
    /// kernel); without one, or for any other op, the step runs as `apply` runs it.
    public mutating func apply(_ op: Op, recorded: Outcome?) -> Outcome? {
        guard case let .par(ops) = op, let recorded else { return apply(op) }
        if let l = linearizations(ops).first(where: { $0.outcome == recorded }) {
            self = l.after
            return l.outcome
        }
        return apply(op)
    }
}
