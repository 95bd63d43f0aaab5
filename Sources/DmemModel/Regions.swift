/// Regions coming and going: dmem_cgroup_register_region() / dmem_cgroup_unregister_region(),
/// and the dmem_selftest module's direct charges.
extension Model {
    public mutating func register(_ name: String, size: UInt64) -> Errno? {
        let selftest = name == Model.selftestRegion
        // modprobe of a loaded module: the agent refuses, as it does for vgem and vkms.
        if selftest && liveRegion(named: name) != nil { return .EEXIST }
        if size == 0 { return nil }  // dmem_cgroup_register_region() returns NULL, registers nothing
        // dmem_cgroup_register_region(): kvasprintf() of the name, then kzalloc_obj() of the
        // region (kfree(region_name) when that fails). Either failing is ERR_PTR(-ENOMEM), which
        // the driver's init returns (vgem_dmem_init() after vgem_dmem_fini(), vkms_create()), so
        // the module load or the configfs `enabled` write fails with it and nothing is registered.
        guard allocates(), allocates() else { return .ENOMEM }
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
        guard let pool = getPool(css: effectiveCss(actors[actor]!.cgroup), region: region) else { return .ENOMEM }
        if tryCharge(pool: pool, size: size) != nil { return .EAGAIN }
        // The module holds the charge: the actor's exit leaves it, `free` writes uncharge.
        buffers[buffer] = Buffer(actor: actor, file: -1, region: region, size: size, pool: nil)
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
}
