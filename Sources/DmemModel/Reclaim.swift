/// Reclaim when a dmem.max write lowers the limit below usage (7.3): the region's callback,
/// ttm_resource_manager_dmem_reclaim() → ttm_bo_evict_cgroup().
extension Model {
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
}
