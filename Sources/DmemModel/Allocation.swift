/// The driver-side allocation that vgem's test patch runs through TTM (ttm_bo_init_reserved →
/// ttm_bo_validate → ttm_bo_alloc_resource → ttm_bo_evict_alloc → ttm_bo_evict_cb in
/// drivers/gpu/drm/ttm/ttm_bo.c, with no ww ticket, one VRAM placement in a range manager of the
/// region's size; eviction moves a buffer to uncharged system placement), 7.2 and 7.3 paths.
extension Model {
    /// A driver allocation. Evicted buffers are reported in eviction order and stay evicted even
    /// when the allocation fails in the end.
    public mutating func alloc(_ actor: ActorID, region name: String, size: UInt64, buffer: BufferID) -> (Errno?, [BufferID]) {
        guard let a = actors[actor] else { return (.ESRCH, []) }
        guard buffers[buffer] == nil else { return (.EEXIST, []) }
        if name == Model.selftestRegion {
            return (selftestCharge(actor, region: liveRegion(named: name), size: size, buffer: buffer), [])
        }
        guard let region = liveRegion(named: name) else { return (.ENODEV, []) }
        // The actor opens the card first (vkms: once the size is whole rows, the agent's check).
        if regions[region].evicting { _ = openFile(actor, region: region) }
        if size == 0 || size % 4096 != 0 { return (.EINVAL, []) }
        let file = openFile(actor, region: region)
        buffers[buffer] = Buffer(actor: actor, file: file, region: region, size: size, pool: nil)
        var alloc = Allocation(buffer: buffer, region: region, size: size, css: effectiveCss(a.cgroup))
        let err: Errno?
        if !regions[region].evicting {
            // vkms: charge only, no eviction, no capacity.
            // vkms_dumb_create(): -EAGAIN at a limit is -ENOSPC; other errors (-ENOMEM) as they are.
            if let pool = getPool(css: alloc.css, region: region) {
                if tryCharge(pool: pool, size: size) == nil { commit(buffer: buffer, pool: pool); err = nil } else { err = .ENOSPC }
            } else {
                err = .ENOMEM
            }
        } else {
            err = memSpace(&alloc)
        }
        if err != nil { buffers[buffer] = nil } else { files[file]!.buffers.append(buffer) }
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
    static let ENOSPC = -Int(Errno.ENOSPC.rawValue), EBUSY = -Int(Errno.EBUSY.rawValue), ENOMEM = -Int(Errno.ENOMEM.rawValue)

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
        // dmem_cgroup_try_charge()'s -ENOMEM (no pool) is not a charge failure: no limit pool.
        guard let pool = getPool(css: a.css, region: a.region) else { return (Model.ENOMEM, nil) }
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
        // ttm_bo_alloc_resource(): an error other than -ENOSPC/-EAGAIN ends the allocation.
        if ret == Model.ENOMEM { return ret }
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
        for bo in regions[a.region].lru where !busy.contains(bo) {
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
            // ttm_resource_try_charge() failing for want of a pool (-ENOMEM) sets may_try_low like
            // a charge failure and is returned as it is: ttm_bo_alloc_resource() and
            // ttm_bo_validate() pass it up, so the allocation fails with ENOMEM.
            guard let pool = getPool(css: a.css, region: a.region) else {
                if !a.inEvict { a.mayTryLow = mayEvict }
                return Model.ENOMEM
            }
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

    /// What would the allocation evict? Runs it on a copy.
    public func evictQuery(_ actor: ActorID, region: String, size: UInt64) -> (Errno?, [BufferID]) {
        var copy = self
        // An id no trace uses: past the largest, or -1 (ids parse as N >= 0) when that overflows.
        let (past, overflow) = (buffers.keys.max() ?? 0).addingReportingOverflow(1_000_000)
        let id = overflow ? -1 : past
        return copy.alloc(actor, region: region, size: size, buffer: id)
    }
}
