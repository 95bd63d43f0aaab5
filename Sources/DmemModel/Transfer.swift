/// Charge transfer, `option charge-transfer`: the semantics of the GPU cgroup controller RFC v2
/// (T.J. Mercier, 2022-02, "[RFC v2 5/6] dmabuf: Add gpu cgroup charge transfer function") on
/// dmem pools, as the project's own reference patch implements them (vm/patches/7.3/0001-…:
/// vgem_dmem_transfer_ioctl() → dmem_cgroup_transfer_charge() in kernel/cgroup/dmem.c).
extension Model {
    /// `actor` moves the charge of its vgem buffer to the cgroup of actor `receiver`.
    ///
    /// In the order the C checks: the agent needs the actor (ESRCH) and the handle must be a vgem
    /// object of the actor's file (ENOENT: the agent has no handle to pass otherwise). Without
    /// the option vgem has no such ioctl: drm_ioctl() says EINVAL. Then vgem_dmem_transfer_ioctl():
    /// get_pid_task() of the receiver (ESRCH; the agent passes pid 0 for an actor that is gone),
    /// an evicted buffer has no charge (EINVAL). dmem_cgroup_transfer_charge(): the caller's
    /// effective css must be the charged pool's (EPERM, the RFC's `current_gpucg != dmabuf->gpucg`),
    /// get_cg_pool_unlocked() on the receiver's css (ENODEV once the region is unregistered;
    /// it creates the receiver's pools even when the charge then fails), page_counter_try_charge()
    /// on the receiver's whole chain (ENOMEM, the RFC's errno; counters charged before the failing
    /// one keep their raised watermark, so dmem.peak may move while nothing moved), and only then
    /// dmem_cgroup_uncharge() of the sender. Ancestors common to both chains carry the size twice
    /// between the two, so they need the headroom and their peak shows it. The buffer stays on the
    /// actor's file and its place on the LRU; its free or eviction uncharges the receiver.
    public mutating func transfer(_ actor: ActorID, buffer: BufferID, to receiver: ActorID) -> Errno? {
        guard let a = actors[actor] else { return .ESRCH }
        guard let b = buffers[buffer], a.files.values.contains(b.file), regions[b.region].evicting else { return .ENOENT }
        guard options.contains(.chargeTransfer) else { return .EINVAL }
        guard let to = actors[receiver] else { return .ESRCH }
        guard let pool = b.pool else { return .EINVAL }
        if effectiveCss(a.cgroup) != pools[pool].css { return .EPERM }
        guard regions[b.region].live else { return .ENODEV }
        guard let newPool = getPool(css: effectiveCss(to.cgroup), region: b.region) else { return .ENOMEM }
        if tryCharge(pool: newPool, size: b.size) != nil { return .ENOMEM }
        uncharge(pool: pool, size: b.size)
        buffers[buffer]!.pool = newPool
        return nil
    }
}
