/// The reference model of the dmem controller plus the cgroup-core and driver behaviour that
/// decides what dmem sees (cgroup lifetime, subtree_control, task placement, vgem's TTM-style
/// eviction). A value type: copying it is how `evictQuery` asks "what if" without side effects.
///
/// Identity follows the kernel, not paths: a cgroup re-created under the same path is a new
/// cgroup with a new css; a region re-registered under the same name is a new region; pools are
/// per (css, region) and outlive rmdir and unregister while charges hold them.
public struct Model: Sendable, Equatable {
    public let profile: KernelProfile
    public let options: ModelOptions
    /// Controllers the kernel under test offers on the root, in ssid order (cgroup_subsys.h).
    public let controllers: [String]
    /// dmem.* files the booted kernel has and the model does not (`Interfaces.files`): a read or
    /// write of one has no model answer, instead of ENOENT.
    public var unmodeledFiles: Set<String> = []

    struct Region: Sendable, Equatable {
        var name: String
        var size: UInt64
        var live: Bool
        /// Resident buffers, least recently added first: the VRAM manager's LRU. TTM adds a
        /// resource at the tail (ttm_resource_init) and vgem never touches it again.
        var lru: [BufferID] = []
        /// vgem: the TTM range manager the region's buffers are placed in; nil for charge-only
        /// regions (vkms, dmem_selftest), which have no eviction and no capacity.
        var mm: RangeManager?
        var evicting: Bool { mm != nil }
        /// dmem_selftest (proposed on the cgroups list): one outstanding charge at a time, made by
        /// writing a size to debugfs, owned by the module rather than by the writer's process.
        var moduleCharge = false
        var pools: [Int] = []
    }
    struct Cgroup: Sendable, Equatable {
        var path: CgroupPath
        var parent: Int?
        var children: [Int] = []       // creation order, live and dying
        var live = true
        var released = false
        var subtree: UInt32 = 0        // subtree_control bitmask over `controllers`
        var css: Int?                  // current dmem css (root: always)
        var oldCss: [Int] = []         // killed csses not yet released (pin the cgroup)
        var tasks = 0
        var dyingDescendants = 0
        var owner = Owners()
    }
    /// uids of a cgroup's nodes (delegation chowns some of them).
    struct Owners: Sendable, Equatable {
        var dir: UInt32 = 0
        var procs: UInt32 = 0
        var subtreeControl: UInt32 = 0
        var dmemFiles: UInt32 = 0
        init(_ uid: UInt32 = 0) { dir = uid; procs = uid; subtreeControl = uid; dmemFiles = uid }
    }
    struct Css: Sendable, Equatable {
        var cgroup: Int
        var parent: Int?
        var children: [Int] = []       // creation order, pre-order walks follow it
        var online = true
        var released = false
        var pools: [Int] = []          // css->pools list (creation order)
        var charges = 0                // outstanding charges hold css references
    }
    struct Pool: Sendable, Equatable {
        var css: Int
        var region: Int
        var parent: Int?
        var counter = PageCounter()
        var onCssList = true           // unregister unlinks pools from their css
        var inited = false             // get_cg_pool_locked() linked it to its parent
        var children: [Int] = []       // counters whose parent is this one
    }
    public struct Actor: Sendable, Equatable {
        public var cgroup: Int
        /// The process's open DRM files (`files`), by card (`Model.card(ofRegion:)`): each opened
        /// by the first op that needed it (an allocation, an fdinfo read), inherited from the
        /// parent for the cards it had open when it forked.
        public var files: [Card: Int] = [:]
        public var creds = Creds.root
    }
    public struct Buffer: Sendable, Equatable {
        /// Who allocated it (whose cgroup was charged); the handle is in the DRM file `file` of
        /// `files` (-1: a dmem_selftest charge, which the module holds).
        public var actor: ActorID
        public var file: Int
        public var region: Int
        public var size: UInt64
        public var pool: Int?           // nil once evicted
        var node: UInt64?               // first page in the region's RangeManager while resident
    }

    var regions: [Region] = []
    /// Registration order of the live regions: the order every dmem file lists them in.
    var liveRegions: [Int] = []
    var cgroups: [Cgroup] = []
    var csses: [Css] = []
    var pools: [Pool] = []
    var livePaths: [CgroupPath: Int] = [:]
    public internal(set) var actors: [ActorID: Actor] = [:]
    public internal(set) var buffers: [BufferID: Buffer] = [:]
    /// A DRM device node: vgem's one card (every vgem region), or a vkms device (the region
    /// instance: a device enabled again is a new device).
    public enum Card: Hashable, Sendable { case vgem, vkms(region: Int) }
    /// Open DRM files (struct drm_file), shared by a process and the actors forked from it
    /// after it opened them: the buffers whose handles they hold, in handle order, and how many
    /// live processes hold them. Ids are unique (`nextFile`).
    public struct DrmFile: Sendable, Equatable {
        public var buffers: [BufferID] = []
        public var holders = 1
    }
    public internal(set) var files: [Int: DrmFile] = [:]
    var nextFile = 0
    /// Buffers the LRU walk skips, as ttm_lru_walk_for_evict() skips a BO whose reservation it
    /// cannot trylock: only inside a racing group, for the buffers its other ops are allocating
    /// or freeing at that moment (Fuzz/Linearize.swift); empty otherwise.
    public var busy: Set<BufferID> = []
    /// Cgroups whose dmem.peak a racing group made unknowable: two charges in flight at once
    /// (one still holding a victim's charge while TTM evicts for it, the other already added)
    /// reach a usage no order of them does, and page_counter's watermark keeps it. Reads of
    /// their dmem.peak have no model answer until the cgroup is removed (Fuzz/Linearize.swift).
    public var peakUnknown: Set<CgroupPath> = []
    /// Killed csses whose dmemcs_offline() (the limit reset) may not have run yet, and how many
    /// ops ago the oldest was killed (Cgroups.swift killCss). Only when `deferOffline` is set,
    /// which the lockstep driver does: a model on its own offlines at once.
    public var deferOffline = false
    public internal(set) var pendingOffline: [Int] = []
    public var opsSinceKill = 0

    var dmemBit: UInt32 { 1 << UInt32(controllers.firstIndex(of: "dmem")!) }
    var arithmetic: ProtectionArithmetic { profile == .v7_2 ? .wrapping64 : .wide128 }

    public init(profile: KernelProfile, options: ModelOptions = [], controllers: [String] = ["memory", "dmem"]) {
        precondition(controllers.contains("dmem"))
        self.profile = profile
        self.options = options
        self.controllers = controllers
        cgroups.append(Cgroup(path: .root, parent: nil))
        csses.append(Css(cgroup: 0, parent: nil))
        cgroups[0].css = 0
        livePaths[.root] = 0
        // The guest agent enables dmem for the root's children at boot, as the kernel tests do.
        cgroups[0].subtree = dmemBit
    }

    // MARK: lookups

    func cgroupID(_ path: CgroupPath) -> Int? { livePaths[path] }
    func liveRegion(named name: String) -> Int? {
        liveRegions.first { regions[$0].name == name }
    }
    /// The css a task in `cg` charges: its own dmem css or the nearest ancestor's (cgroup_e_css).
    func effectiveCss(_ cg: Int) -> Int {
        var c = cg
        while cgroups[c].css == nil { c = cgroups[c].parent! }
        return cgroups[c].css!
    }
    func findPool(css: Int, region: Int) -> Int? {
        for p in csses[css].pools where pools[p].region == region && pools[p].onCssList { return p }
        return nil
    }
    // MARK: pools

    /// failslab failures still armed for the op being applied (`Op.fail`): while one is left,
    /// each allocation dmem.c makes for a css or a pool fails instead and uses it up.
    public var faults = 0
    /// Allocations that succeed before the armed ones (`fail nth K`: K-1 of them, then one
    /// failure): fail-nth counts every allocation that passes the stack filter.
    public var faultsPassing = 0

    /// Regions whose root pool may exist or not: the boot regions of a guest that ran rounds
    /// before (the root css never dies, and a pool lives as long as its region), where nothing
    /// visible tells. Only a failing allocation does (`fail`): when one may or may not have to
    /// make such a root pool, `rootPoolAsked` names the region and the lockstep driver tries the
    /// op again with the pool there (`assumeRootPool`), keeping what the kernel agrees with.
    public var rootPoolUnknown: Set<Int> = []
    public var rootPoolAsked: Int?

    /// Every live region's root pool is unknown from now on (Session.freshModel).
    public mutating func markRootPoolsUnknown() {
        rootPoolUnknown = Set(liveRegions.filter { findPool(css: 0, region: $0) == nil })
    }

    /// The root pool of `region` exists (made by an earlier round).
    public mutating func assumeRootPool(_ region: Int) {
        rootPoolUnknown.remove(region)
        if findPool(css: 0, region: region) == nil { _ = allocPoolSingle(css: 0, region: region) }
    }

    /// One kzalloc() of a dmem object (dmemcs_alloc(), alloc_pool_single(), the preallocation of
    /// get_cg_pool_unlocked()): false when an armed failure makes it return NULL.
    mutating func allocates() -> Bool {
        if faultsPassing > 0 { faultsPassing -= 1; return true }
        if faults > 0 { faults -= 1; return false }
        return true
    }

    /// get_cg_pool_unlocked(): an existing pool that is inited, without the lock; else
    /// get_cg_pool_locked() under dmemcg_lock, and when one of its GFP_NOWAIT allocations
    /// fails, one GFP_KERNEL preallocation outside the lock and another round, which hands it to
    /// the first pool still missing. nil: -ENOMEM, when the preallocation fails too (what the
    /// posted fix "cgroup/dmem: return -ENOMEM on failed pool preallocation" returns; before it,
    /// the loop went round again). Pools created before the failure stay, not inited.
    mutating func getPool(css: Int, region: Int) -> Int? {
        if let p = findPool(css: css, region: region), pools[p].inited { return p }
        var prealloc = false
        while true {
            if let p = getPoolLocked(css: css, region: region, prealloc: &prealloc) { return p }
            guard allocates() else { return nil }
            prealloc = true
        }
    }

    /// get_cg_pool_locked(): walks up from `css` creating each missing pool (alloc_pool_single)
    /// until a pool that is inited, then links the new ones to their parents and marks them
    /// inited, bottom up. nil: a GFP_NOWAIT allocation failed (-ENOMEM).
    mutating func getPoolLocked(css: Int, region: Int, prealloc: inout Bool) -> Int? {
        var c: Int? = css
        while let p = c {
            let pool: Int
            if let found = findPool(css: p, region: region) {
                pool = found
            } else {
                if p == 0, rootPoolUnknown.remove(region) != nil, faults > 0 { rootPoolAsked = region }
                if prealloc { prealloc = false } else if !allocates() { return nil }
                pool = allocPoolSingle(css: p, region: region)
            }
            if pools[pool].inited { if p == css { return pool }; break }
            c = csses[p].parent
        }
        let ret = findPool(css: css, region: region)!
        var pool = ret, p = css
        while let pp = csses[p].parent, !pools[pool].inited {
            // The first loop created the parent's pool if it was missing.
            let ppool = findPool(css: pp, region: region)!
            link(pool, to: ppool)
            pools[pool].inited = true
            pool = ppool; p = pp
        }
        return ret
    }

    /// alloc_pool_single() after its allocation: linked to the parent css's pool if there is one,
    /// and inited when it is the root's or its parent pool is inited.
    mutating func allocPoolSingle(css: Int, region: Int) -> Int {
        let parent = csses[css].parent
        let ppool = parent.flatMap { findPool(css: $0, region: region) }
        let id = pools.count
        pools.append(Pool(css: css, region: region, parent: nil))
        csses[css].pools.append(id)
        regions[region].pools.append(id)
        if let ppool { link(id, to: ppool) }
        pools[id].inited = parent == nil || ppool.map { pools[$0].inited } == true
        return id
    }

    mutating func link(_ pool: Int, to parent: Int) {
        guard pools[pool].parent == nil else { return }
        pools[pool].parent = parent
        pools[parent].children.append(pool)
    }
    public var paths: [CgroupPath] { livePaths.keys.sorted() }
    public var liveRegionNames: [String] { liveRegions.map { regions[$0].name } }
    public func cgroupOf(actor: ActorID) -> CgroupPath? { actors[actor].map { cgroups[$0.cgroup].path } }
    public func isLive(_ path: CgroupPath) -> Bool { livePaths[path] != nil }
    public func tasks(in path: CgroupPath) -> Int { livePaths[path].map { cgroups[$0].tasks } ?? 0 }
    public func hasLiveChildren(_ path: CgroupPath) -> Bool {
        guard let c = livePaths[path] else { return false }
        return cgroups[c].children.contains { cgroups[$0].live }
    }
    public func subtreeHasDmem(_ path: CgroupPath) -> Bool {
        livePaths[path].map { cgroups[$0].subtree & dmemBit != 0 } ?? false
    }
    public func regionSize(_ name: String) -> UInt64? { liveRegion(named: name).map { regions[$0].size } }
    /// The buffers whose handles the actor's DRM files hold, in handle order.
    public func buffers(of actor: ActorID) -> [BufferID]? {
        actors[actor].map { a in a.files.sorted { $0.value < $1.value }.flatMap { files[$0.value]?.buffers ?? [] } }
    }
    public var residentBuffers: [BufferID] { buffers.filter { $0.value.pool != nil }.map(\.key).sorted() }
}
