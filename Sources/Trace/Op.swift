import DmemModel

/// One step of a trace. Every op is something the guest executor can do against a real kernel,
/// except `evictQuery`, a question only the model can answer without side effects.
public indirect enum Op: Hashable, Sendable {
    /// A driver registers a dmem region (vgem at load, vkms device enable).
    case register(region: String, size: UInt64)
    /// A driver unregisters it (module unload, vkms device disable). Pools stay until uncharged.
    case unregister(region: String)
    case mkdir(CgroupPath)
    case rmdir(CgroupPath)
    /// Raw bytes in one write(2); `nonblock` opens the file with O_NONBLOCK.
    case write(CgroupPath, file: String, data: [UInt8], nonblock: Bool)
    /// One read of the whole file.
    case read(CgroupPath, file: String)
    case spawn(ActorID, CgroupPath)
    case move(ActorID, CgroupPath)
    /// The actor exits; its fds close, and the buffers of its DRM files are freed when no forked
    /// actor shares those files any more.
    case exit(ActorID)
    /// fork(2) of the actor: the new actor `child` is in the same cgroup, with the same
    /// credentials, and shares the parent's open DRM files (the same struct drm_file: its handles,
    /// hence its buffers, live until the last process holding the file exits).
    case fork(ActorID, child: ActorID)
    /// The actor reads /proc/self/fdinfo of its DRM file of the card `region` is on (vgem: one
    /// card for every vgem region): drm_show_fdinfo()'s `drm-` lines, drm-client-id left out (a
    /// global counter), with the drm-*-memory keys of drm_show_memory_stats() that the test
    /// patches' show_fdinfo prints (`requires fdinfo`).
    case fdinfo(ActorID, region: String)
    /// The actor allocates `size` bytes on `region`; success binds buffer id `buffer`.
    case alloc(ActorID, region: String, size: UInt64, buffer: BufferID)
    case free(BufferID)
    /// Charge transfer (`option charge-transfer`, `requires transfer`): `actor`, whose file holds
    /// the vgem buffer, moves its charge to the cgroup of actor `to` (DRM_IOCTL_VGEM_DMEM_TRANSFER,
    /// the project's own reference for the GPU cgroup controller RFC v2).
    case transfer(ActorID, buffer: BufferID, to: ActorID)
    /// Is the buffer still charged (not evicted)?
    case resident(BufferID)
    /// `nr_dying_descendants` of cgroup.stat; the kernel side waits a bounded time for it to settle.
    case dying(CgroupPath)
    /// Which buffers would an allocation of `size` by `actor` evict (model only, no side effects)?
    case evictQuery(ActorID, region: String, size: UInt64)
    /// Delegation to a less privileged user (cgroup-v2.rst "Model of Delegation"): root chowns the
    /// directory and its cgroup.procs, cgroup.threads and cgroup.subtree_control to `uid`.
    case delegate(CgroupPath, uid: UInt32)
    /// The actor calls setuid(2) (from root: all uids change and every capability is dropped).
    case setuid(ActorID, uid: UInt32)
    /// The actor empties all its capability sets with libcap (its uid stays).
    case dropCaps(ActorID)
    /// The actor itself performs a cgroupfs op (mkdir, rmdir, write, read, or writing another
    /// actor's pid to cgroup.procs for `move`) with its own credentials.
    case by(ActorID, Op)
    /// A racing group: its ops (2 to `Op.maxGroup`, each `Op.racing`) are started at the same
    /// moment from different processes, behind a barrier in the guest. The kernel's outcomes and
    /// the state after must be what the model gives for some order of them (the lockstep oracle
    /// tries every order): anything else is "not linearizable".
    case par([Op])
    /// Fault injection (issue 9): the op runs with failslab armed for its task (the agent's
    /// thread, or the actor's process for what an actor does), so that the next `count`
    /// allocations the op makes in the dmem.c function that allocates its objects fail:
    /// dmemcs_alloc() for a css (mkdir, a subtree_control write), get_cg_pool_unlocked() for a
    /// pool (limit writes, charges, transfers). Failures left over when the op returns are
    /// dropped; the outcome says how many were injected (`= ENOMEM injected 2`).
    case fail(count: Int, Op)
    /// syzkaller's fail-nth (Documentation/fault-injection/fault-injection.rst): the `nth`
    /// allocation the op makes in its dmem.c function fails, only that one; the ones before it
    /// succeed. So a later allocation of a sequence fails alone: the region struct after
    /// dmem_cgroup_register_region() allocated the name (the `kfree(region_name)` path), a
    /// parent's pool after the child's. The agent writes `nth` to the task's
    /// /proc/<pid>/fail-nth (counted by should_fail_ex() after the same stack filter) and reads it
    /// back: 0 is `injected 1`.
    case failNth(Int, Op)

    /// Ops an actor can perform itself with `by`.
    public var actorPerformable: Bool {
        switch self {
        case .mkdir, .rmdir, .write, .read, .move: return true
        default: return false
        }
    }

    /// Ops `fail` can wrap: those of one process that reach dmemcs_alloc() or
    /// get_cg_pool_unlocked() (not a group, whose members run in other processes at once).
    public var faultable: Bool {
        switch self {
        case .mkdir, .write, .alloc, .transfer: return true
        // A driver's registration: vgem at module load, a vkms device when configfs enables it,
        // both in the agent's thread (finit_module runs the module's init there).
        case let .register(r, _): return r.hasPrefix("vgem/") || r.hasPrefix("vkms/")
        case let .by(_, inner): return inner.faultable
        default: return false
        }
    }

    /// The dmem.c function a `fail` confines its failures to (failslab's stack filter, set by
    /// the agent and by repro.c): dmemcs_alloc() for the css of a new cgroup or of the children
    /// a subtree_control write enables dmem for; get_cg_pool_unlocked() (alloc_pool_single()
    /// and get_cg_pool_locked() are inlined into it, or called from it) for pools: limit
    /// writes, charges, transfers.
    public var faultFunction: String {
        switch self {
        case .mkdir: return "dmemcs_alloc"
        case let .write(_, f, _, _) where f == "cgroup.subtree_control": return "dmemcs_alloc"
        case .register: return "dmem_cgroup_register_region"
        case let .by(_, inner), let .fail(_, inner), let .failNth(_, inner): return inner.faultFunction
        default: return "get_cg_pool_unlocked"
        }
    }

    /// The actor whose process a `fail` arms failslab for: the one doing the op (an allocation,
    /// a transfer, an `as` op); nil for what the agent does itself.
    public var faultActor: ActorID? {
        switch self {
        case let .by(a, _), let .alloc(a, _, _, _), let .transfer(a, _, _): return a
        default: return nil
        }
    }

    /// `fail nth K op` rather than `fail N op`.
    public var isFailNth: Bool { if case .failNth = self { return true }; return false }

    /// The largest failures one `fail` arms: enough for every pool of the deepest hierarchy
    /// plus the preallocation after a failed GFP_NOWAIT one.
    public static let maxFaults = 8

    /// The largest racing group: every order of it is tried, and 4! = 24 stays cheap.
    public static let maxGroup = 4

    /// Ops a racing group may hold: each is one syscall or ioctl by one process (an actor, or a
    /// runner the agent forks for a root op), so starting them together races them in the
    /// kernel. `spawn` is not (the agent's clone3 creates the process), nor the waiting and
    /// model-only queries, nor a group.
    public var racing: Bool {
        switch self {
        case .mkdir, .rmdir, .write, .read, .move, .exit, .alloc, .free, .transfer, .register, .unregister: return true
        case let .by(_, inner): return inner.actorPerformable
        default: return false
        }
    }

    /// Why these ops cannot form a group, or nil. Besides `racing`: an allocation binds its buffer
    /// id when it returns, so no other op of the same group can name that id (which handle would
    /// it free?), and two allocations cannot bind the same one.
    public static func groupProblem(_ ops: [Op]) -> String? {
        var bound = Set<BufferID>()
        for op in ops { if case let .alloc(_, _, _, b) = op, !bound.insert(b).inserted { return "two ops of a group allocate b\(b)" } }
        for op in ops {
            switch op {
            case let .free(b), let .transfer(_, b, _):
                if bound.contains(b) { return "b\(b) is allocated in the same group: no op of it can use it" }
            default: break
            }
        }
        return nil
    }

    /// The ops a step holds: a group's members, or the op itself.
    public var members: [Op] {
        if case let .par(ops) = self { return ops }
        return [self]
    }
}

/// What an op returned. `errno == nil` is success.
public struct Outcome: Hashable, Sendable {
    public var errno: Errno?
    /// Bytes of a successful read.
    public var data: [UInt8]?
    /// Numeric answers: `dying`, `resident` (1/0).
    public var value: UInt64?
    /// Buffers evicted by an `alloc` (also on failure: evictions stay done) or named by `evictQuery`.
    /// A set, kept ascending: the agent can only ask each buffer afterwards, not see the order TTM
    /// walked its LRU in, so the model's eviction order must not count.
    public var evicted: [BufferID]
    /// A racing group's outcomes, one per member, each without evictions: which member evicted
    /// a buffer is not observable, so the group's `evicted` says which buffers that were
    /// resident before the group (or allocated in it) are evicted after it.
    public var group: [Outcome]?
    /// A `fail` op's count of failures failslab injected (the armed count minus what was left).
    public var injected: Int?

    public init(errno: Errno? = nil, data: [UInt8]? = nil, value: UInt64? = nil, evicted: [BufferID] = [], group: [Outcome]? = nil, injected: Int? = nil) {
        self.errno = errno; self.data = data; self.value = value; self.evicted = evicted.sorted(); self.group = group; self.injected = injected
    }
    public static let ok = Outcome()
    public static func err(_ e: Errno) -> Outcome { Outcome(errno: e) }
    public static func bytes(_ d: [UInt8]) -> Outcome { Outcome(data: d) }
    public static func bytes(_ s: String) -> Outcome { Outcome(data: Array(s.utf8)) }
    public static func number(_ v: UInt64) -> Outcome { Outcome(value: v) }
    public var isSuccess: Bool { errno == nil }
}

/// A trace line: an op and, optionally, the outcome it must have.
public struct Step: Hashable, Sendable {
    public var op: Op
    public var expect: Outcome?
    public init(_ op: Op, expect: Outcome? = nil) { self.op = op; self.expect = expect }
}

/// A whole trace: the kernel profiles and model options it holds for, and its steps.
public struct Trace: Hashable, Sendable {
    /// The profile the trace was written for; the model replays it under this one by default.
    public var profile: KernelProfile
    /// Further profiles whose kernels give exactly the same outcomes, so one file pins a
    /// behaviour that did not change between versions instead of a copy per version.
    public var alsoHoldsFor: [KernelProfile]
    public var options: ModelOptions
    /// Kernel modules the trace needs beyond vgem/vkms (`requires dmem_selftest`): kernels
    /// without them skip it.
    public var requires: [String] = []
    public var steps: [Step]
    public init(profile: KernelProfile, alsoHoldsFor: [KernelProfile] = [], options: ModelOptions = [], steps: [Step] = []) {
        self.profile = profile; self.alsoHoldsFor = alsoHoldsFor; self.options = options; self.steps = steps
    }
    public var profiles: [KernelProfile] { [profile] + alsoHoldsFor }
    public func holds(for p: KernelProfile) -> Bool { profile == p || alsoHoldsFor.contains(p) }
}
