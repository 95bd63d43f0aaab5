/// Effective protection and the eviction verdicts of dmem.c.
extension Model {
    /// Top of a pool's counter chain (the root css's pool).
    func rootPool(_ p: Int) -> Int {
        var r = p
        while let parent = pools[r].parent { r = parent }
        return r
    }

    /// emin/elow of `test` as dmem_cgroup_calculate_protection(limit, test) leaves them.
    ///
    /// The kernel walks the limit's subtree in pre-order and updates each pool from its parent's
    /// freshly computed values, stopping at `test`; pools it leaves alone (usage 0) keep stale
    /// values, but a pool with usage 0 has only zero-usage descendants, so the verdicts below
    /// never depend on stale values: recomputing along the limit→test path is exact.
    func effectiveProtection(limit: Int, test: Int) -> (emin: UInt64, elow: UInt64) {
        var path: [Int] = []
        var p = test
        while p != limit, let parent = pools[p].parent { path.append(p); p = parent }
        var emin: UInt64 = 0, elow: UInt64 = 0
        var parent = limit
        for pool in path.reversed() {
            let c = pools[pool].counter
            if pools[pool].parent == limit {
                emin = c.min; elow = c.low
            } else {
                let pc = pools[parent].counter
                var sibMin: UInt64 = 0, sibLow: UInt64 = 0
                for s in pools[parent].children {
                    sibMin &+= pools[s].counter.minUsage
                    sibLow &+= pools[s].counter.lowUsage
                }
                emin = DmemModel.effectiveProtection(usage: c.usage, parentUsage: pc.usage, setting: c.min,
                                                     parentEffective: emin, siblingsProtected: sibMin, arithmetic: arithmetic)
                elow = DmemModel.effectiveProtection(usage: c.usage, parentUsage: pc.usage, setting: c.low,
                                                     parentEffective: elow, siblingsProtected: sibLow, arithmetic: arithmetic)
            }
            parent = pool
        }
        return (emin, elow)
    }

    /// dmem_cgroup_state_evict_valuable().
    func evictValuable(limit: Int?, test: Int, ignoreLow: Bool, hitLow: inout Bool) -> Bool {
        if limit == test { return true }
        let l: Int
        if let limit {
            // "limit pool is the root": anything may be evicted.
            if csses[pools[limit].css].parent == nil { return true }
            var p: Int? = test
            while let q = p, q != limit { p = pools[q].parent }
            // Test pool outside the limit's subtree.
            if p == nil { return false }
            l = limit
        } else {
            l = rootPool(test)
        }
        let used = pools[test].counter.usage
        if used == 0 { return false }  // used <= emin whatever emin holds
        let (emin, elow) = effectiveProtection(limit: l, test: test)
        if used <= emin { return false }
        if !ignoreLow {
            if used > elow { return true }
            hitLow = true
            return false
        }
        return true
    }

    /// 7.3 dmem_cgroup_below_min() / below_low() with root == NULL (global protection).
    func below(_ which: KeyPath<(emin: UInt64, elow: UInt64), UInt64>, test: Int) -> Bool {
        if pools[test].parent == nil { return false }
        let used = pools[test].counter.usage
        if used == 0 { return true }
        return used <= effectiveProtection(limit: rootPool(test), test: test)[keyPath: which]
    }

    /// 7.3 dmem_cgroup_get_common_ancestor(): the pool, on `a`'s region, of the effective css of
    /// the nearest cgroup that contains both pools' cgroups (created if it does not exist yet).
    mutating func commonAncestor(_ a: Int?, _ b: Int?) -> Int? {
        guard let a, let b else { return nil }
        var chainA: [Int] = []
        var c: Int? = csses[pools[a].css].cgroup
        while let x = c { chainA.append(x); c = cgroups[x].parent }
        var y: Int? = csses[pools[b].css].cgroup
        while let x = y, !chainA.contains(x) { y = cgroups[x].parent }
        guard let ancestor = y else { return nil }
        // Charged pools' ancestors exist and are inited, so this never allocates; on an error
        // dmem_cgroup_get_common_ancestor() WARNs and returns NULL.
        return getPool(css: effectiveCss(ancestor), region: pools[a].region)
    }
}
