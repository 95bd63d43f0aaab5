/// Charging and uncharging a pool chain (mm/page_counter.c through dmem_cgroup_try_charge /
/// dmem_cgroup_uncharge), and a buffer's life around it: commit, eviction, free. The allocation
/// that decides what to charge and evict is Allocation.swift; reclaim, Reclaim.swift.
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

    /// Every state in which `buffers` (allocated at the same time, resident) joined their
    /// regions' LRUs in another order, keeping where each was placed: ttm_range_man_alloc() adds
    /// the resource at the LRU tail (ttm_resource_init(), under the device's lru_lock) before it
    /// places the node (drm_mm_insert_node_in_range(), under the manager's own lock), so two
    /// allocations at once may join the LRU in one order and be placed in the other. Seen on
    /// 7.3.4: after `par { alloc b36 | alloc b37 }`, b37 placed first and b36 first on the LRU,
    /// an eviction took b36 and then b37 to free the hole b37 blocked. The state itself first.
    public func lruOrders(of buffers: [BufferID]) -> [Model] {
        var byRegion: [Int: [BufferID]] = [:]
        // Only an evicting region's LRU is ever walked (vkms's charge-only regions have none to
        // tell apart: their orders would only multiply the states).
        for b in buffers { if let x = self.buffers[b], x.pool != nil, regions[x.region].evicting { byRegion[x.region, default: []].append(b) } }
        var out = [self]
        for (r, bs) in byRegion.sorted(by: { $0.key < $1.key }) where bs.count > 1 {
            let slots = regions[r].lru.indices.filter { bs.contains(regions[r].lru[$0]) }
            let order = slots.map { regions[r].lru[$0] }
            out = out.flatMap { m in
                Self.permutations(order.count).map { perm in
                    var v = m
                    for (slot, i) in zip(slots, perm) { v.regions[r].lru[slot] = order[i] }
                    return v
                }
            }
        }
        return out
    }

    /// The resident buffers of a live evicting region, in LRU order (what an eviction walk there
    /// reserves in turn); none for a charge-only region.
    public func lruResident(region name: String) -> [BufferID] {
        guard let r = liveRegion(named: name), regions[r].evicting else { return [] }
        return regions[r].lru.filter { buffers[$0]?.pool != nil }
    }

    /// 0..<n in every order, the identity first: the orders of a racing group (Fuzz/Linearize.swift)
    /// and of its allocations on the LRU (`lruOrders`) (Heap's algorithm would not keep it first).
    public static func permutations(_ n: Int) -> [[Int]] {
        guard n > 1 else { return [Array(0..<n)] }
        var out: [[Int]] = []
        for rest in permutations(n - 1) {
            for at in 0...rest.count {
                var p = rest; p.insert(n - 1, at: rest.count - at)
                out.append(p)
            }
        }
        return out
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

    /// Evicts the buffers now, as an eviction already under way when a racing op ran
    /// (Fuzz/Linearize.swift's contention variants).
    public mutating func evictNow(_ buffers: [BufferID]) {
        for b in buffers { evict(b) }
    }

    public mutating func free(_ buffer: BufferID) -> Errno? {
        guard let b = buffers[buffer] else { return .ENOENT }
        evict(buffer)
        buffers[buffer] = nil
        files[b.file]?.buffers.removeAll { $0 == buffer }
        return nil
    }

    public func resident(_ buffer: BufferID) -> Result<Bool, Errno> {
        guard let b = buffers[buffer] else { return .failure(.ENOENT) }
        return .success(b.pool != nil)
    }
}
