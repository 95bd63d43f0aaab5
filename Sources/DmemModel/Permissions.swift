/// Who performs a cgroupfs op, as far as permission checks on cgroupfs go: the fsuid, and whether
/// the task holds capabilities (CAP_DAC_OVERRIDE, CAP_SETUID). Actors only ever have all or none:
/// they start as root and may drop everything (libcap) or setuid away from root.
public struct Creds: Hashable, Sendable {
    public var uid: UInt32
    public var caps: Bool
    public init(uid: UInt32, caps: Bool) { self.uid = uid; self.caps = caps }
    public static let root = Creds(uid: 0, caps: true)
}

/// cgroupfs permissions as generic_permission() applies them to kernfs nodes. Every cgroup node's
/// group is the creator's fsgid, which is 0 for every actor (they never setgid), and no cgroup node
/// grants group or other write, so write access is "owner with an owner-write bit, or
/// CAP_DAC_OVERRIDE". Reads never fail: every file the model knows is readable by all.
extension Model {
    static func mayWrite(_ c: Creds, owner: UInt32, ownerWritable: Bool = true) -> Bool {
        c.caps || (c.uid == owner && ownerWritable)
    }

    /// May `c` create or remove entries in the directory of `cg`? Cgroup directories are 0755
    /// (mkdir's mode under init's 022 umask), except the hierarchy's root: kernfs_create_root()
    /// makes it 0555, so there even its owner needs CAP_DAC_OVERRIDE. Above the mount root is
    /// sysfs's /sys/fs, 0755 root.
    func mayWriteDirectory(_ c: Creds, _ cg: Int?) -> Bool {
        guard let cg else { return Model.mayWrite(c, owner: 0) }
        return Model.mayWrite(c, owner: cgroups[cg].owner.dir, ownerWritable: cgroups[cg].parent != nil)
    }

    /// Owner of `file` on a cgroup, for the files the model knows. Files are created with the
    /// fsuid of whoever made them appear: the core files by mkdir, a controller's files by mkdir
    /// or by the subtree_control write that enabled it on the parent (cgroup_add_file()).
    func owner(of f: DmemFile, on cg: Int) -> UInt32 {
        f == .subtreeControl ? cgroups[cg].owner.subtreeControl : cgroups[cg].owner.dmemFiles
    }

    public func creds(of actor: ActorID) -> Creds? { actors[actor]?.creds }

    /// The documented way to delegate a subtree: chown(2) of the directory and its cgroup.procs,
    /// cgroup.threads and cgroup.subtree_control (root does it; group unchanged).
    public mutating func delegate(_ path: CgroupPath, to uid: UInt32) -> Errno? {
        guard let cg = livePaths[path] else { return .ENOENT }
        cgroups[cg].owner.dir = uid
        cgroups[cg].owner.procs = uid
        cgroups[cg].owner.subtreeControl = uid
        return nil
    }

    /// setuid(2): with CAP_SETUID every uid becomes `uid`, and leaving uid 0 clears the capability
    /// sets (cap_emulate_setxuid(), no SECBIT_KEEP_CAPS); without it only the current real/saved
    /// uid is allowed, which our actors always have equal to the effective one.
    public mutating func setuid(_ actor: ActorID, _ uid: UInt32) -> Errno? {
        guard var c = actors[actor]?.creds else { return .ESRCH }
        if c.caps {
            c.uid = uid
            if uid != 0 { c.caps = false }
        } else if uid != c.uid {
            return .EPERM
        }
        actors[actor]!.creds = c
        return nil
    }

    /// cap_set_proc() of an empty set: lowering capabilities always succeeds.
    public mutating func dropCaps(_ actor: ActorID) -> Errno? {
        guard actors[actor] != nil else { return .ESRCH }
        actors[actor]!.creds.caps = false
        return nil
    }

    /// The nearest cgroup that has both `a` and `b` in its subtree.
    func commonAncestor(_ a: Int, _ b: Int) -> Int {
        var x: Int? = a
        while let c = x {
            var y: Int? = b
            while let d = y { if d == c { return c }; y = cgroups[d].parent }
            x = cgroups[c].parent
        }
        return 0
    }
}

extension Model {
    /// The uid owning a live cgroup's directory (nil if there is none).
    public func owner(ofDirectory path: CgroupPath) -> UInt32? { livePaths[path].map { cgroups[$0].owner.dir } }
}
