/// Read-only questions the generator asks to aim at exact boundaries: how much a cgroup uses,
/// how much an actor may still charge before a dmem.max fails, how large an allocation the
/// region's range manager can still place. Random sizes almost never hit these values, and the
/// bugs that matter (a `>` for a `>=`, protection off by one level) live exactly there.
extension Model {
    /// dmem.current of `path` on `region` (0 when the pool does not exist yet).
    public func usage(_ path: CgroupPath, region name: String) -> UInt64? {
        guard let cg = cgroupID(path), let r = liveRegion(named: name), let css = cgroups[cg].css else { return nil }
        return findPool(css: css, region: r).map { pools[$0].counter.usage } ?? 0
    }

    /// The largest charge `actor` can make on `region` without page_counter_try_charge() failing
    /// at any ancestor: min over the pool chain of max - usage (pools that do not exist yet are
    /// at max with no usage).
    public func headroom(actor: ActorID, region name: String) -> UInt64? {
        guard let a = actors[actor], let r = liveRegion(named: name) else { return nil }
        var room = PageCounter.max
        var css: Int? = effectiveCss(a.cgroup)
        while let c = css {
            if let p = findPool(css: c, region: r) {
                let cnt = pools[p].counter
                room = Swift.min(room, cnt.max > cnt.usage ? cnt.max - cnt.usage : 0)
            }
            css = csses[c].parent
        }
        return room
    }

    /// The largest allocation vgem's range manager can place on `region` now, in bytes.
    public func largestFreeBlock(region name: String) -> UInt64? {
        guard let r = liveRegion(named: name), let mm = regions[r].mm else { return nil }
        return mm.largestHole &* 4096
    }

    /// Sizes of the resident buffers on `region`, in LRU order.
    public func residentSizes(region name: String) -> [UInt64] {
        guard let r = liveRegion(named: name) else { return [] }
        return regions[r].lru.compactMap { buffers[$0]?.size }
    }
}


extension Model {
    /// What an eviction did, asked before the op that evicted (`evicted` are its victims):
    /// how many buffers went, whether any belonged to another cgroup than the allocating actor's
    /// (`cross`) or all to its own (`own`), and whether some other cgroup on the region had
    /// dmem.min or dmem.low set and usage (`prot`). Campaign signatures use it, so a round that
    /// first makes TTM evict across cgroups, reclaim several buffers or pass a protected sibling
    /// is kept in the corpus.
    public func evictionShape(actor: ActorID?, evicted: [BufferID]) -> String {
        guard let first = evicted.first, let r = buffers[first]?.region else { return "" }
        let count = evicted.count == 1 ? "n1" : "n2+"
        let own = actor.flatMap { actors[$0] }.map { effectiveCss($0.cgroup) }
        let victims = Set(evicted.compactMap { buffers[$0]?.pool.map { pools[$0].css } })
        let who = own.map { victims == [$0] ? " own" : " cross" } ?? ""
        let prot = regions[r].pools.contains { p in
            pools[p].css != own && pools[p].counter.usage > 0 && (pools[p].counter.min > 0 || pools[p].counter.low > 0)
        }
        return " \(count)\(who)\(prot ? " prot" : "")"
    }
}

extension Model {
    /// The cgroup whose pool `actor` charges (its own, or the nearest ancestor with a dmem css).
    public func chargedCgroup(actor: ActorID) -> CgroupPath? {
        actors[actor].map { cgroups[csses[effectiveCss($0.cgroup)].cgroup].path }
    }

    /// The cgroup a buffer's charge is on now (nil when evicted or unknown).
    public func chargedCgroup(buffer: BufferID) -> CgroupPath? {
        buffers[buffer]?.pool.map { cgroups[csses[pools[$0].css].cgroup].path }
    }

    /// The name of the region a buffer was allocated on.
    /// Whether the cgroup's css has a pool on the region yet (get_cg_pool_locked() creates one at
    /// its first charge or limit write): racing first charges are what pool creation must get right.
    public func hasPool(_ path: CgroupPath, region name: String) -> Bool {
        guard let cg = livePaths[path], let r = liveRegion(named: name) else { return false }
        return findPool(css: effectiveCss(cg), region: r) != nil
    }

    public func regionName(buffer: BufferID) -> String? { buffers[buffer].map { regions[$0.region].name } }

    /// Whether a buffer lives on a vgem (TTM) region, the only kind `transfer` moves.
    public func isVgem(buffer: BufferID) -> Bool { buffers[buffer].map { regions[$0.region].evicting } ?? false }
}
