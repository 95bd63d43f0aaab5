/// cgroup-core behaviour that shapes what dmem sees: creation, removal, controller enablement,
/// task placement, and when dying cgroups are finally released.
extension Model {
    /// mkdir(2): the path walk (ENOENT), may_create() (EEXIST, then write+search on the parent
    /// directory: EACCES), then cgroup_mkdir(). The new nodes belong to the creator's fsuid.
    public mutating func mkdir(_ path: CgroupPath, by creds: Creds = .root) -> Errno? {
        guard let parentPath = path.parent else { return .EEXIST }
        guard let parent = livePaths[parentPath] else { return .ENOENT }
        if livePaths[path] != nil { return .EEXIST }
        if !mayWriteDirectory(creds, parent) { return .EACCES }
        let id = cgroups.count
        var c = Cgroup(path: path, parent: parent)
        c.owner = Owners(creds.uid)
        cgroups.append(c)
        cgroups[parent].children.append(id)
        livePaths[path] = id
        if cgroups[parent].subtree & dmemBit != 0 {
            // dmemcs_alloc() failing: cgroup_mkdir() destroys the new cgroup
            // (cgroup_destroy_locked(), so it is a dying descendant until released) and fails.
            guard allocates() else { destroy(id); return .ENOMEM }
            attachNewCss(id, uid: creds.uid)
        }
        return nil
    }

    mutating func attachNewCss(_ cg: Int, uid: UInt32) {
        cgroups[cg].owner.dmemFiles = uid
        let parentCss = cgroups[cgroups[cg].parent!].css!
        let css = csses.count
        csses.append(Css(cgroup: cg, parent: parentCss))
        csses[parentCss].children.append(css)
        cgroups[cg].css = css
    }

    /// rmdir(2): may_delete() wants write+search on the parent directory (for the mount root
    /// that is sysfs's /sys/fs) before the mount point or cgroup_rmdir() can say EBUSY.
    public mutating func rmdir(_ path: CgroupPath, by creds: Creds = .root) -> Errno? {
        guard let cg = livePaths[path] else { return .ENOENT }
        if !mayWriteDirectory(creds, cgroups[cg].parent) { return .EACCES }
        if path.isRoot { return .EBUSY }  // the mount point
        if cgroups[cg].tasks > 0 || cgroups[cg].children.contains(where: { cgroups[$0].live }) { return .EBUSY }
        destroy(cg)
        return nil
    }

    /// cgroup_destroy_locked(): the cgroup is dying (counted in its ancestors'
    /// nr_dying_descendants), its css is killed, and what nothing pins is released.
    mutating func destroy(_ cg: Int) {
        let path = cgroups[cg].path
        cgroups[cg].live = false
        livePaths[path] = nil
        var a = cgroups[cg].parent
        while let p = a { cgroups[p].dyingDescendants += 1; a = cgroups[p].parent }
        if let css = killCss(of: cg) { release(css: css) }
        release(cgroup: cg)
    }

    /// kill_css(): dmemcs_offline resets min/low/max of every pool; usage stays until uncharged.
    /// The kernel runs the offline later (after an RCU grace period, from a workqueue); with
    /// `deferOffline` the reset waits in `pendingOffline` for `completeOffline()` when it can
    /// matter (a pool with protection), so the lockstep driver can try both sides of it.
    @discardableResult
    mutating func killCss(of cg: Int) -> Int? {
        guard let css = cgroups[cg].css else { return nil }
        cgroups[cg].css = nil
        cgroups[cg].oldCss.append(css)
        csses[css].online = false
        let protected = csses[css].pools.contains { pools[$0].counter.min > 0 || pools[$0].counter.low > 0 }
        if deferOffline && protected { pendingOffline.append(css) } else { offline(css: css) }
        return css
    }

    /// dmemcs_offline(): reset_all_resource_limits() of every pool of the css.
    mutating func offline(css: Int) {
        for p in csses[css].pools {
            pools[p].counter.min = 0
            pools[p].counter.low = 0
            pools[p].counter.max = PageCounter.max
        }
    }

    /// The offline work of every css killed so far has run.
    public mutating func completeOffline() {
        for css in pendingOffline { offline(css: css) }
        pendingOffline = []
        opsSinceKill = 0
    }

    /// Releases what nothing pins any more, leaves first, walking up from what just changed (the
    /// kernel does this from RCU/workqueue callbacks; the lockstep side waits for it when reading
    /// nr_dying_descendants).
    mutating func release(css: Int) {
        guard !csses[css].online, !csses[css].released, csses[css].charges == 0,
              csses[css].children.isEmpty else { return }
        csses[css].released = true
        if let p = csses[css].parent { csses[p].children.removeAll { $0 == css } }
        for pool in csses[css].pools {
            if let parent = pools[pool].parent { pools[parent].children.removeAll { $0 == pool } }
        }
        let cg = csses[css].cgroup
        cgroups[cg].oldCss.removeAll { $0 == css }
        release(cgroup: cg)
        if let p = csses[css].parent { release(css: p) }
    }

    mutating func release(cgroup cg: Int) {
        guard !cgroups[cg].live, !cgroups[cg].released, cgroups[cg].oldCss.isEmpty,
              cgroups[cg].children.isEmpty else { return }
        cgroups[cg].released = true
        var a = cgroups[cg].parent
        while let p = a { cgroups[p].dyingDescendants -= 1; a = cgroups[p].parent }
        if let p = cgroups[cg].parent {
            cgroups[p].children.removeAll { $0 == cg }
            release(cgroup: p)
        }
    }

    /// cgroup_subtree_control_write(): tokens split on single spaces after strstrip; "+name" or
    /// "-name"; the first failing controller in ssid order decides the errno.
    mutating func writeSubtreeControl(_ cg: Int, _ text: ArraySlice<UInt8>, uid: UInt32) -> Errno? {
        var enable: UInt32 = 0, disable: UInt32 = 0
        var rest: ArraySlice<UInt8>? = KernelString.strstrip(text)
        while let r = rest {
            let tok: ArraySlice<UInt8>
            if let i = r.firstIndex(of: 0x20) { tok = r[r.startIndex..<i]; rest = r[(i + 1)...] } else { tok = r; rest = nil }
            if tok.isEmpty { continue }
            guard let ssid = controllers.firstIndex(where: { tok.dropFirst().elementsEqual($0.utf8) }) else { return .EINVAL }
            let bit: UInt32 = 1 << UInt32(ssid)
            switch tok.first! {
            case 0x2b: enable |= bit; disable &= ~bit
            case 0x2d: disable |= bit; enable &= ~bit
            default: return .EINVAL
            }
        }
        let control: UInt32 = cgroups[cg].parent.map { cgroups[$0].subtree } ?? UInt32((1 << controllers.count) - 1)
        for ssid in controllers.indices {
            let bit: UInt32 = 1 << UInt32(ssid)
            if enable & bit != 0 {
                if cgroups[cg].subtree & bit != 0 { enable &= ~bit; continue }
                if control & bit == 0 { return .ENOENT }
            } else if disable & bit != 0 {
                if cgroups[cg].subtree & bit == 0 { disable &= ~bit; continue }
                if cgroups[cg].children.contains(where: { cgroups[$0].live && cgroups[$0].subtree & bit != 0 }) { return .EBUSY }
            }
        }
        if enable == 0 && disable == 0 { return nil }
        // cgroup_vet_subtree_control_enable(): the no-internal-process rule (root is mixable).
        if enable != 0 && cgroups[cg].parent != nil && cgroups[cg].tasks > 0 { return .EBUSY }
        let live = cgroups[cg].children.filter { cgroups[$0].live }
        // cgroup_apply_control_enable() creates the children's csses in order, one dmemcs_alloc()
        // each; when one fails, cgroup_finalize_control() restores the old masks and kills the
        // csses made so far (new, poolless, nothing visible): ENOMEM and no change. (Which one
        // fails matters to `fail nth K`: with two live children, K = 2 fails the second.)
        if enable & dmemBit != 0 { for _ in live where !allocates() { return .ENOMEM } }
        cgroups[cg].subtree |= enable
        cgroups[cg].subtree &= ~disable
        if enable & dmemBit != 0 { for c in live { attachNewCss(c, uid: uid) } }
        if disable & dmemBit != 0 { for c in live { if let css = killCss(of: c) { release(css: css) } } }
        return nil
    }

    /// cgroup_migrate_vet_dst(): a non-root cgroup with controllers enabled for its children
    /// cannot hold tasks.
    func vetDestination(_ cg: Int) -> Errno? {
        cgroups[cg].parent != nil && cgroups[cg].subtree != 0 ? .EBUSY : nil
    }

    public mutating func spawn(_ actor: ActorID, _ path: CgroupPath) -> Errno? {
        guard actors[actor] == nil else { return .EEXIST }
        guard let cg = livePaths[path] else { return .ENOENT }
        if let e = vetDestination(cg) { return e }
        actors[actor] = Actor(cgroup: cg)
        cgroups[cg].tasks += 1
        return nil
    }

    /// Writing the actor's pid to `path`/cgroup.procs: opening the file (ENOENT, EACCES), then
    /// cgroup_attach_permissions(): write access to cgroup.procs of the common ancestor of source
    /// and destination (the delegation containment rule), then cgroup_migrate_vet_dst().
    public mutating func move(_ actor: ActorID, _ path: CgroupPath, by creds: Creds = .root) -> Errno? {
        guard let a = actors[actor] else { return .ESRCH }
        guard let cg = livePaths[path] else { return .ENOENT }
        if !Model.mayWrite(creds, owner: cgroups[cg].owner.procs) { return .EACCES }
        if !Model.mayWrite(creds, owner: cgroups[commonAncestor(a.cgroup, cg)].owner.procs) { return .EACCES }
        if let e = vetDestination(cg) { return e }
        cgroups[a.cgroup].tasks -= 1
        cgroups[cg].tasks += 1
        actors[actor]!.cgroup = cg
        return nil
    }

    /// The actor exits: it closes its DRM files, and the last holder of one frees its buffers (in
    /// allocation order).
    public mutating func exit(_ actor: ActorID) -> Errno? {
        guard let a = actors[actor] else { return .ESRCH }
        // The last close of a DRM file: drm_file_free() -> drm_gem_release() closes its handles.
        for f in a.files.values.sorted() {
            files[f]!.holders -= 1
            if files[f]!.holders == 0 {
                for b in files[f]!.buffers { _ = free(b) }
                files[f] = nil
            }
        }
        cgroups[a.cgroup].tasks -= 1
        actors[actor] = nil
        return nil
    }

    /// nr_dying_descendants of cgroup.stat once asynchronous releases have settled.
    public func dying(_ path: CgroupPath) -> Result<UInt64, Errno> {
        guard let cg = livePaths[path] else { return .failure(.ENOENT) }
        return .success(UInt64(cgroups[cg].dyingDescendants))
    }
}
