/// Charging, uncharging, and the driver-side allocation that vgem's test patch runs through TTM
/// (ttm_bo_init_reserved → ttm_bo_validate → ttm_bo_alloc_resource → ttm_bo_evict_alloc →
/// ttm_bo_evict_cb in drivers/gpu/drm/ttm/ttm_bo.c, with no ww ticket, one VRAM placement in a
/// range manager of the region's size; eviction moves a buffer to uncharged system placement).
extension Model {
    /// page_counter_try_charge() on the pool chain; returns the failing pool if any.
    mutating func tryCharge(pool: Int, size: UInt64) -> Int? {
        var c: Int? = pool
        var fail: Int?
        while let p = c {
            if pools[p].counter.exceeds(adding: size) { fail = p; break }
            let new = pools[p].counter.usage &+ size
            pools[p].counter.usage = new
            if new > pools[p].counter.watermark { pools[p].counter.watermark = new }
            c = pools[p].parent
        }
        if let fail {
            var q: Int? = pool
            while let p = q, p != fail { pools[p].counter.usage &-= size; q = pools[p].parent }
            return fail
        }
        csses[pools[pool].css].charges += 1
        return nil
    }

    mutating func uncharge(pool: Int, size: UInt64) {
        var c: Int? = pool
        while let p = c { pools[p].counter.usage &-= size; c = pools[p].parent }
        let css = pools[pool].css
        csses[css].charges -= 1
        if csses[css].charges == 0 && !csses[css].online { release(css: css) }
    }

    mutating func commit(buffer: BufferID, pool: Int, node: UInt64? = nil) {
        let r = buffers[buffer]!.region
        buffers[buffer]!.pool = pool
        buffers[buffer]!.node = node
        regions[r].lru.append(buffer)
    }

    /// ttm_range_man_alloc(): PFN_UP(size) pages, best fit; nil is its -ENOSPC.
    mutating func managerAlloc(region: Int, size: UInt64) -> UInt64? {
        regions[region].mm!.alloc(pages: (size &+ 4095) / 4096)
    }

    /// ttm_resource_free() of the buffer's resource: the manager's node, then the uncharge.
    mutating func evict(_ buffer: BufferID) {
        guard let b = buffers[buffer], let pool = b.pool else { return }
        buffers[buffer]!.pool = nil
        buffers[buffer]!.node = nil
        regions[b.region].lru.removeAll { $0 == buffer }
        if let node = b.node { regions[b.region].mm!.free(start: node) }
        uncharge(pool: pool, size: b.size)
    }

    public mutating func free(_ buffer: BufferID) -> Errno? {
        guard let b = buffers[buffer] else { return .ENOENT }
        evict(buffer)
        buffers[buffer] = nil
        actors[b.actor]?.buffers.removeAll { $0 == buffer }
        return nil
    }

    public func resident(_ buffer: BufferID) -> Result<Bool, Errno> {
        guard let b = buffers[buffer] else { return .failure(.ENOENT) }
        return .success(b.pool != nil)
    }

    /// A driver allocation. Evicted buffers are reported in eviction order and stay evicted even
    /// when the allocation fails in the end.
    public mutating func alloc(_ actor: ActorID, region name: String, size: UInt64, buffer: BufferID) -> (Errno?, [BufferID]) {
        guard let a = actors[actor] else { return (.ESRCH, []) }
        guard buffers[buffer] == nil else { return (.EEXIST, []) }
        if name == Model.selftestRegion {
            return (selftestCharge(actor, region: liveRegion(named: name), size: size, buffer: buffer), [])
        }
        guard let region = liveRegion(named: name) else { return (.ENODEV, []) }
        if size == 0 || size % 4096 != 0 { return (.EINVAL, []) }
        buffers[buffer] = Buffer(actor: actor, region: region, size: size, pool: nil)
        var alloc = Allocation(buffer: buffer, region: region, size: size, css: effectiveCss(a.cgroup))
        let err: Errno?
        if !regions[region].evicting {
            // vkms: charge only, no eviction, no capacity.
            let pool = getPool(css: alloc.css, region: region)
            if tryCharge(pool: pool, size: size) == nil { commit(buffer: buffer, pool: pool); err = nil } else { err = .ENOSPC }
        } else {
            err = memSpace(&alloc)
        }
        if err != nil { buffers[buffer] = nil } else { actors[actor]!.buffers.append(buffer) }
        return (err, alloc.evicted)
    }

    struct Allocation {
        let buffer: BufferID, region: Int, size: UInt64, css: Int
        var evicted: [BufferID] = []
        // 7.3 struct ttm_bo_alloc_state
        var chargePool: Int?
        var limitPool: Int?
        var inEvict = false
        var mayTryLow = false
        // struct ttm_bo_evict_walk
        var tryLow = false
        var hitLow = false
    }

    // Kernel return codes inside the TTM emulation: 0, or -errno; walks return progress >= 0.
    static let ENOSPC = -Int(Errno.ENOSPC.rawValue), EBUSY = -Int(Errno.EBUSY.rawValue)

    /// ttm_bo_mem_space(): without forcing space first, then with.
    mutating func memSpace(_ a: inout Allocation) -> Errno? {
        var force = false
        var ret: Int
        repeat {
            ret = profile.protectionAwareAllocation ? allocResource73(&a, force: force) : allocResource72(&a, force: force)
            force.toggle()
        } while ret == Model.ENOSPC && force
        return ret == 0 ? nil : Errno(Int32(-ret))
    }

    /// ttm_resource_alloc() of 7.2: charge (limit pool only when asked), then the manager.
    mutating func resourceAlloc72(_ a: inout Allocation, wantLimit: Bool) -> (Int, Int?) {
        let pool = getPool(css: a.css, region: a.region)
        if let fail = tryCharge(pool: pool, size: a.size) { return (Model.ENOSPC, wantLimit ? fail : nil) }
        guard let node = managerAlloc(region: a.region, size: a.size) else {
            uncharge(pool: pool, size: a.size)
            return (Model.ENOSPC, nil)
        }
        commit(buffer: a.buffer, pool: pool, node: node)
        return (0, nil)
    }

    mutating func allocResource72(_ a: inout Allocation, force: Bool) -> Int {
        let (ret, limit) = resourceAlloc72(&a, wantLimit: force)
        if ret == 0 { return 0 }
        if !force { return Model.ENOSPC }
        a.limitPool = limit
        a.tryLow = false; a.hitLow = false
        var lret = walk(&a, target: 1)
        if lret == 0 && a.hitLow { a.tryLow = true; lret = walk(&a, target: 1) }
        if lret < 0 { return lret == Model.EBUSY ? Model.ENOSPC : lret }
        return lret == 0 ? Model.ENOSPC : 0
    }

    mutating func evictCallback72(_ a: inout Allocation, _ bo: BufferID) -> Int {
        guard let victim = buffers[bo]?.pool else { return 0 }
        if !evictValuable(limit: a.limitPool, test: victim, ignoreLow: a.tryLow, hitLow: &a.hitLow) { return 0 }
        evict(bo); a.evicted.append(bo)
        let (ret, _) = resourceAlloc72(&a, wantLimit: false)
        if ret == 0 { return 1 }
        return ret == Model.ENOSPC ? Model.EBUSY : ret
    }

    /// ttm_lru_walk_for_evict() over a snapshot of the LRU (eviction only removes entries, and
    /// the evictor joins the LRU only when the walk is about to stop).
    mutating func walk(_ a: inout Allocation, target: Int) -> Int {
        var progress = 0
        for bo in regions[a.region].lru {
            var lret = profile.protectionAwareAllocation ? evictCallback73(&a, bo) : evictCallback72(&a, bo)
            if lret == Model.EBUSY { lret = 0 }
            progress = lret < 0 ? lret : progress + lret
            if progress < 0 || progress >= target { break }
        }
        return progress
    }

    /// ttm_bo_alloc_resource() of 7.3 for the single placement.
    mutating func allocResource73(_ a: inout Allocation, force: Bool) -> Int {
        a.chargePool = nil; a.limitPool = nil; a.inEvict = false; a.mayTryLow = false
        var ret = allocAtPlace73(&a, force: force)
        if ret == Model.EBUSY {
            a.inEvict = true
            a.tryLow = false; a.hitLow = false
            var lret = walk(&a, target: 1)
            if lret == 0 && a.hitLow && a.mayTryLow { a.tryLow = true; lret = walk(&a, target: 1) }
            a.inEvict = false
            ret = lret < 0 ? lret : (lret == 0 ? Model.EBUSY : 0)
            if ret == Model.EBUSY { ret = Model.ENOSPC }
        }
        if ret != 0, let pool = a.chargePool { uncharge(pool: pool, size: a.size); a.chargePool = nil }
        return ret
    }

    /// ttm_bo_alloc_at_place() of 7.3.
    mutating func allocAtPlace73(_ a: inout Allocation, force: Bool) -> Int {
        var mayEvict = !a.inEvict && force
        if a.chargePool == nil {
            let pool = getPool(css: a.css, region: a.region)
            if let fail = tryCharge(pool: pool, size: a.size) {
                if !a.inEvict { a.mayTryLow = mayEvict }
                if force { a.limitPool = fail }
                return mayEvict ? Model.EBUSY : Model.ENOSPC
            }
            a.chargePool = pool
        }
        if !a.inEvict {
            mayEvict = mayEvict || below(\.emin, test: a.chargePool!)
            a.mayTryLow = mayEvict
            mayEvict = mayEvict || below(\.elow, test: a.chargePool!)
        }
        guard let node = managerAlloc(region: a.region, size: a.size) else {
            return mayEvict ? Model.EBUSY : Model.ENOSPC
        }
        commit(buffer: a.buffer, pool: a.chargePool!, node: node)
        a.chargePool = nil
        return 0
    }

    mutating func evictCallback73(_ a: inout Allocation, _ bo: BufferID) -> Int {
        guard let victim = buffers[bo]?.pool else { return 0 }
        if !a.mayTryLow && victim == a.chargePool { return 0 }
        let limit = a.limitPool ?? commonAncestor(victim, a.chargePool)
        if !evictValuable(limit: limit, test: victim, ignoreLow: a.tryLow, hitLow: &a.hitLow) { return 0 }
        evict(bo); a.evicted.append(bo)
        let ret = allocAtPlace73(&a, force: false)
        if ret == 0 { return 1 }
        return ret == Model.ENOSPC ? Model.EBUSY : ret
    }

    /// 7.3 set_resource_max() after the xchg: call the region's reclaim callback until usage fits;
    /// -ENOSPC (no progress) would repeat identically, so the bounded retries end it at once.
    mutating func reclaim(pool: Int, limit: UInt64) {
        while pools[pool].counter.usage > limit {
            if evictCgroup(limit: pool, target: pools[pool].counter.usage - limit) == 0 { break }
        }
    }

    /// ttm_resource_manager_dmem_reclaim() → ttm_bo_evict_cgroup() in drain mode (no evictor, no
    /// place, alloc_state {limit_pool, in_evict}); returns bytes freed. Every pass is kept,
    /// though with one op at a time every trylock succeeds: protection is recomputed from current
    /// usage at each victim, so after evictions a later pass can find victims an earlier one
    /// could not.
    mutating func evictCgroup(limit: Int, target: UInt64) -> UInt64 {
        let region = pools[limit].region
        var tryLow = false, hitLow = false, evicted = 0
        // ttm_lru_walk_for_evict() with ttm_bo_evict_cb() returning the victim's size.
        func pass(_ m: inout Model, target: UInt64) -> UInt64 {
            var progress: UInt64 = 0
            for bo in m.regions[region].lru {
                guard let victim = m.buffers[bo]?.pool else { continue }
                if !m.evictValuable(limit: limit, test: victim, ignoreLow: tryLow, hitLow: &hitLow) { continue }
                let size = m.buffers[bo]!.size
                m.evict(bo)
                evicted += 1
                progress += size
                if progress >= target { break }
            }
            return progress
        }
        // Pass 1: trylock only.
        var lret = pass(&self, target: target)
        if lret >= target { return lret }
        // Pass 2: also BOs at the low watermark.
        if hitLow {
            tryLow = true
            lret += pass(&self, target: target - lret)
            if lret >= target { return lret }
        }
        // Sleeping-lock passes while they make progress, once more with try_low if they hit low.
        tryLow = false; hitLow = false
        while true {
            repeat {
                evicted = 0
                lret += pass(&self, target: target - lret)
            } while lret < target && evicted > 0
            if lret < target && hitLow && !tryLow { tryLow = true; continue }
            return lret
        }
    }

    // MARK: regions

    public mutating func register(_ name: String, size: UInt64) -> Errno? {
        let selftest = name == Model.selftestRegion
        // modprobe of a loaded module: the agent refuses, as it does for vgem and vkms.
        if selftest && liveRegion(named: name) != nil { return .EEXIST }
        if size == 0 { return nil }  // dmem_cgroup_register_region() returns NULL, registers nothing
        // vgem regions are TTM VRAM range managers (eviction; on 7.3 TTM reclaim behind dmem.max).
        liveRegions.append(regions.count)
        var r = Region(name: name, size: size, live: true)
        if name.hasPrefix("vgem/") { r.mm = RangeManager(pages: size / 4096) }
        r.moduleCharge = selftest
        regions.append(r)
        return nil
    }

    /// The region the dmem_selftest module registers (256 MiB, debugfs dmem_selftest/charge and
    /// uncharge), from "[PATCH v4 1/4] cgroup: Add dmem_selftest module" on the cgroups list.
    public static let selftestRegion = "dmem_selftest"

    /// dmem_selftest_charge_write() as the actor: the path walk into /sys/kernel/debug (0700
    /// root) and the 0200 root file, then kstrtou64, zero, the single outstanding charge, and
    /// dmem_cgroup_try_charge()'s -EAGAIN at a limit. No eviction, no capacity check.
    mutating func selftestCharge(_ actor: ActorID, region: Int?, size: UInt64, buffer: BufferID) -> Errno? {
        guard let creds = actors[actor]?.creds, creds.caps || creds.uid == 0 else { return .EACCES }
        guard let region else { return .ENOENT }  // module not loaded: no debugfs directory
        if size == 0 { return .EINVAL }
        if buffers.values.contains(where: { $0.region == region }) { return .EBUSY }
        let pool = getPool(css: effectiveCss(actors[actor]!.cgroup), region: region)
        if tryCharge(pool: pool, size: size) != nil { return .EAGAIN }
        // The module holds the charge: the actor's exit leaves it, `free` writes uncharge.
        buffers[buffer] = Buffer(actor: actor, region: region, size: size, pool: nil)
        commit(buffer: buffer, pool: pool)
        return nil
    }

    /// Unlinks every pool from its css; charged pools live on until their last uncharge.
    public mutating func unregister(_ name: String) -> Errno? {
        guard let r = liveRegion(named: name) else { return .ENOENT }
        regions[r].live = false
        liveRegions.removeAll { $0 == r }
        // list_del_rcu(&pool->css_node): the css's list forgets them (or the root css's list would
        // grow with every vkms device ever enabled, and every lookup with it).
        for p in regions[r].pools {
            pools[p].onCssList = false
            csses[pools[p].css].pools.removeAll { $0 == p }
        }
        // dmem_selftest_remove(): unregister first, then drop the outstanding charge.
        if regions[r].moduleCharge {
            for b in buffers.keys.sorted() where buffers[b]!.region == r { _ = free(b) }
        }
        return nil
    }

    /// What would the allocation evict? Runs it on a copy.
    public func evictQuery(_ actor: ActorID, region: String, size: UInt64) -> (Errno?, [BufferID]) {
        var copy = self
        // An id no trace uses: past the largest, or -1 (ids parse as N >= 0) when that overflows.
        let (past, overflow) = (buffers.keys.max() ?? 0).addingReportingOverflow(1_000_000)
        let id = overflow ? -1 : past
        return copy.alloc(actor, region: region, size: size, buffer: id)
    }
}
