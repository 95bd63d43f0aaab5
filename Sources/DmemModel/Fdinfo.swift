/// Per-process attribution of GEM memory (issue 10: the GEM buffer memory tracking RFC, Stach
/// 2022-09, became the drm fdinfo memory keys of Documentation/gpu/drm-usage-stats.rst), and the
/// case raised in its review: a fork shares the DRM files the parent has open, so both processes
/// show the same memory, and it stays allocated (and charged) until the last of them closes the
/// file. A card opened after the fork is each process's own (seen on 7.3.4: a buffer the parent
/// allocated on a card it first opened after forking is not in the child's fdinfo).
extension Model {
    /// fork(2): the child is in the parent's cgroup (cgroup_post_fork() puts it in the parent's
    /// css_set), has its credentials, and gets the parent's file table (dup of every fd: the same
    /// struct file, so the same drm_file and its handles).
    public mutating func fork(_ actor: ActorID, child: ActorID) -> Errno? {
        guard let a = actors[actor] else { return .ESRCH }
        guard actors[child] == nil else { return .EEXIST }
        actors[child] = a
        for f in a.files.values { files[f]!.holders += 1 }
        cgroups[a.cgroup].tasks += 1
        return nil
    }

    /// The drm lines of the actor's /proc/self/fdinfo/<fd> of the card `region` is on, as
    /// drm_show_fdinfo() prints them (drm-client-id left out: a global counter), then the test
    /// patches' show_fdinfo, drm_show_memory_stats():
    ///
    /// - every object with a handle in the file counts once with obj->size: in drm-shared-memory
    ///   when drm_gem_object_is_shared_for_memory_stats() (handle_count > 1 or a dma_buf), else in
    ///   the private sum; drm-total-memory is both (no object here is shared: nothing exports or
    ///   imports, and a fork shares the file, not the handle);
    /// - drm-resident-memory only when some object's status callback said RESIDENT (vgem's dmem
    ///   objects while placed in VRAM; vkms's shmem dumb buffers have no status callback), and
    ///   then the resident objects' sizes;
    /// - no drm-active-memory: no object has an unsignaled fence (dma_resv_test_signaled).
    ///
    /// vgem's regions share one card, so its file lists the buffers of every vgem region; a vkms
    /// region is one device. ENODEV: no live region of a test driver by that name (the agent finds
    /// no card for it); ESRCH: no such actor.
    public mutating func fdinfo(_ actor: ActorID, region name: String) -> Result<[UInt8], Errno> {
        guard actors[actor] != nil else { return .failure(.ESRCH) }
        guard let r = liveRegion(named: name), let driver = Model.drmDriver(ofRegion: name) else { return .failure(.ENODEV) }
        let held = files[openFile(actor, region: r)]!.buffers.compactMap { buffers[$0] }
        var out = "drm-driver:\t\(driver)\n"
        let total = held.reduce(UInt64(0)) { $0 + $1.size }
        out += Model.fdinfoSize("total", total) + Model.fdinfoSize("shared", 0)
        // A vgem dmem object is resident while it has its VRAM placement (its charge).
        let resident = held.filter { regions[$0.region].evicting && $0.pool != nil }
        if !resident.isEmpty { out += Model.fdinfoSize("resident", resident.reduce(UInt64(0)) { $0 + $1.size }) }
        return .success(Array(out.utf8))
    }

    /// The card region `r` is on.
    func card(ofRegion r: Int) -> Card { regions[r].name.hasPrefix("vgem/") ? .vgem : .vkms(region: r) }

    /// The actor's file of the card `region` is on, opened now if it has none (a fork before
    /// this does not share it).
    mutating func openFile(_ actor: ActorID, region r: Int) -> Int {
        let c = card(ofRegion: r)
        if let f = actors[actor]!.files[c] { return f }
        let f = nextFile
        nextFile += 1
        files[f] = DrmFile()
        actors[actor]!.files[c] = f
        return f
    }

    /// The DRM driver whose card a test region is on: vgem's regions `vgem/regionN`, vkms's
    /// `vkms/<device>`.
    public static func drmDriver(ofRegion name: String) -> String? {
        if name.hasPrefix("vgem/") { return "vgem" }
        if name.hasPrefix("vkms/") { return "vkms" }
        return nil
    }

    /// drm_fdinfo_print_size() for the "memory" region: the size in the largest of B, KiB, MiB
    /// that divides it exactly (0 stays "0").
    static func fdinfoSize(_ stat: String, _ bytes: UInt64) -> String {
        var sz = bytes, unit = ""
        for u in [" KiB", " MiB"] {
            if sz == 0 || sz % 1024 != 0 { break }
            sz /= 1024; unit = u
        }
        return "drm-\(stat)-memory:\t\(sz)\(unit)\n"
    }
}
