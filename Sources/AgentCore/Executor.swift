// Executes one trace Op against the running kernel and returns its exact Outcome.
import Glibc
import DmemModel
import Trace
import CKmod

final class Executor {
    let actors = ActorTable()
    let kmod: Kmod
    /// Module options from the kernel command line (`dmemfuzz.vgem="..."`), used by `register`.
    var moduleOptions: [String: String]

    struct Buffer {
        var actor: ActorID; var card: Int; var handle: UInt32; var region: String; var vgem: Bool; var resident: Bool
        /// A dmem_selftest charge: the module holds it, not the actor's fds.
        var selftest = false
        /// The open DRM file its handle is in (`cardFiles`).
        var file = -1
    }
    static let selftestDir = "/sys/kernel/debug/dmem_selftest"
    var buffers: [BufferID: Buffer] = [:]
    var faults = FaultInjector()
    /// The DRM files each live actor has open, by card minor: an id per open file, given when
    /// the actor first uses the card (the actor opens it then, ActorChild.card), and shared with
    /// the actors forked from it afterwards. A buffer's `actor` is a live holder of its file, who
    /// issues its ioctls.
    var cardFiles: [ActorID: [Int: Int]] = [:]
    var nextFile = 0

    /// The actor's file of `card`, as the actor is about to open it if it has none.
    func opened(_ a: ActorID, card: Int) -> Int {
        if let f = cardFiles[a]?[card] { return f }
        nextFile += 1
        cardFiles[a, default: [:]][card] = nextFile
        return nextFile
    }

    /// Whether actor `a` holds the file buffer `b`'s handle is in.
    func holds(_ a: ActorID, _ b: Buffer) -> Bool { cardFiles[a]?[b.card] == b.file }

    /// The actor is gone: its buffers pass to another holder of their file, or are freed with it.
    func exited(_ a: ActorID) {
        cardFiles[a] = nil
        for (id, b) in buffers where b.actor == a && !b.selftest {
            if let heir = cardFiles.keys.sorted().first(where: { holds($0, b) }) { buffers[id]!.actor = heir } else { buffers[id] = nil }
        }
    }

    init(kmod: Kmod, moduleOptions: [String: String]) { self.kmod = kmod; self.moduleOptions = moduleOptions }

    static func dir(_ p: CgroupPath) -> String { p.isRoot ? cgroupRoot : cgroupRoot + p.description }
    static func file(_ p: CgroupPath, _ f: String) -> String { dir(p) + "/" + f }

    static func e(_ code: Int32) -> Outcome { code == 0 ? .ok : .err(Errno(code)) }

    func execute(_ op: Op) -> Outcome {
        let o = executeOnce(op)
        if Self.killsCss(op, o) { settleOffline(after: op) }
        return o
    }

    /// The cgroups whose cgroup.subtree_control the op wrote.
    static func subtreeWrites(_ op: Op) -> [CgroupPath] {
        switch op {
        case let .write(p, f, _, _) where f == "cgroup.subtree_control": return [p]
        case let .by(_, inner), let .fail(_, inner), let .failNth(_, inner): return subtreeWrites(inner)
        case let .par(ops): return ops.flatMap(subtreeWrites)
        default: return []
        }
    }

    /// Whether a finished op killed a dmem css: a removed cgroup, or a subtree_control write
    /// (which may disable dmem below). kill_css() takes the css offline asynchronously, after an
    /// RCU grace period and a workqueue item (css_killed_ref_fn, css_killed_work_fn), and
    /// dmemcs_offline() resets the pools' min, low and max only then; the model does it at the op.
    static func killsCss(_ op: Op, _ o: Outcome) -> Bool {
        switch op {
        case .rmdir: return o.isSuccess
        case let .write(_, f, _, _): return f == "cgroup.subtree_control" && o.isSuccess
        case let .by(_, inner), let .fail(_, inner), let .failNth(_, inner): return killsCss(inner, o)
        case let .par(ops):
            guard let g = o.group else { return false }
            return zip(ops, g).contains { killsCss($0, $1) }
        default: return false
        }
    }

    /// Waits for the offline of what the op killed: synchronize_rcu() (membarrier), after which
    /// the confirm callback has queued css_killed_work_fn, then a few milliseconds for the
    /// kworker. With one vCPU the grace period ended before the next op anyway; with two, an
    /// allocation right after an rmdir still saw the removed cgroup's dmem.min (a campaign on
    /// 7.3.4 under load).
    ///
    /// After a subtree_control write the wait is exact: a write of no tokens to the same file
    /// changes nothing but takes cgroup_kn_lock_live(..., drain_offline = true), and
    /// cgroup_lock_and_drain_offline() sleeps until every css killed below that cgroup is offline.
    /// (The 7.3.4 corpus trace eviction-after-offline failed on two vCPUs with the timed wait
    /// alone.) A removed cgroup is no live descendant of anything, so an rmdir keeps the timed one:
    /// 20 ms, since after 5 ms a replay on 7.3.4 (two vCPUs, TCG) still found the removed
    /// cgroup's dmem.min in force, and a campaign saw the offline land inside the next
    /// allocation's eviction walk (b2 skipped as protected, b3 of the same cgroup evicted).
    func settleOffline(after op: Op) {
        for p in Self.subtreeWrites(op) { _ = Sys.writeFile(Self.file(p, "cgroup.subtree_control"), "\n") }
        _ = dmemfuzz_membarrier_global()
        Sys.sleepMillis(20)
    }

    func executeOnce(_ op: Op) -> Outcome {
        let e = Self.e
        switch op {
        case .mkdir(let p): return e(Sys.mkdir(Self.dir(p)))
        case .rmdir(let p): return e(Sys.rmdir(Self.dir(p)))
        case .write(let p, let f, let data, let nb):
            let r = Sys.writeFile(Self.file(p, f), data, nonblock: nb)
            wrote(f, nonblock: nb)
            return e(r)
        case .read(let p, let f):
            let (code, bytes) = Sys.readFile(Self.file(p, f))
            return code == 0 ? .bytes(bytes) : .err(Errno(code))
        case .spawn(let a, let p):
            let r = actors.spawn(a, cgroupDir: Self.dir(p))
            if r == 0 { cardFiles[a] = [:] }
            return e(r)
        case .fork(let a, let child):
            let r = actors.fork(a, child: child)
            if r == 0 { cardFiles[child] = cardFiles[a] ?? [:] }
            return e(r)
        case .fdinfo(let a, let region):
            guard actors.actors[a] != nil else { return .err(.ESRCH) }
            guard let t = Drm.target(region: region) else { return .err(.ENODEV) }
            Sys.grantCardAccess(t.card)
            _ = opened(a, card: t.card)
            let (r, bytes) = actors.fdinfo(a, card: t.card)
            return r == 0 ? .bytes(Drm.fdinfoLines(bytes)) : .err(Errno(r))
        case .move(let a, let p): return e(actors.move(a, cgroupDir: Self.dir(p)))
        case .exit(let a):
            let r = actors.exit(a)
            if r == 0 { exited(a) }
            return e(r)
        case .alloc(let a, let region, let size, let id): return alloc(a, region: region, size: size, id: id)
        case .free(let id):
            guard let b = buffers[id] else { return .err(.ENOENT) }
            if b.selftest {
                let r = Sys.writeFile(Self.selftestDir + "/uncharge", "1")
                if r == 0 { buffers[id] = nil }
                return e(r)
            }
            let r = actors.call(b.actor, .free, Int64(b.card), Int64(b.handle))
            if r[0] == 0 { buffers[id] = nil }
            return e(Int32(r[0]))
        case .transfer(let a, let id, let to):
            // The actor asks on its own vgem file: it needs the process, and the handle must be
            // a vgem object of that file. A receiver that is gone is pid 0, which vgem answers ESRCH.
            guard actors.actors[a] != nil else { return .err(.ESRCH) }
            guard let b = buffers[id], holds(a, b), b.vgem else { return .err(.ENOENT) }
            let pid = actors.actors[to].map { Int64($0.pid) } ?? 0
            return e(Int32(actors.call(a, .transfer, Int64(b.card), Int64(b.handle), pid)[0]))
        case .resident(let id):
            guard let b = buffers[id] else { return .err(.ENOENT) }
            if !b.vgem { return .number(1) }
            let r = actors.call(b.actor, .info, Int64(b.card), Int64(b.handle))
            if r[0] != 0 { return e(Int32(r[0])) }
            buffers[id]?.resident = r[1] != 0
            return .number(r[1] != 0 ? 1 : 0)
        case .dying(let p): return dying(p)
        case .register(let region, let size): return e(register(region, size: size))
        case .unregister(let region): return e(unregister(region))
        case .evictQuery: return .err(.EOPNOTSUPP)
        case .delegate(let p, let uid): return e(Sys.delegate(Self.dir(p), to: uid))
        case .setuid(let a, let uid): return e(Int32(actors.call(a, .setuid, Int64(uid))[0]))
        case .dropCaps(let a): return e(Int32(actors.call(a, .dropCaps)[0]))
        case .by(let a, let inner): return perform(by: a, inner)
        case .par(let ops): return race(ops)
        case .fail(let n, let inner): return withFaults(n, inner)
        case .failNth(let n, let inner): return withFaults(n, inner, nth: true)
        }
    }

    /// `inner` with failslab armed for the process doing it: the actor for what an actor does
    /// (a forked child: its pid is its only thread), else this thread of the agent.
    /// `nth`: only the n-th allocation fails (the task's fail-nth instead of make-it-fail).
    func withFaults(_ n: Int, _ inner: Op, nth: Bool = false) -> Outcome {
        let actor = inner.faultActor
        if let a = actor, actors.actors[a] == nil { var o = executeOnce(inner); o.injected = 0; return o }
        let file = nth ? "fail-nth" : "make-it-fail"
        let task = actor.map { "/proc/\(actors.actors[$0]!.pid)/\(file)" } ?? "/proc/thread-self/\(file)"
        if let why = faults.arm(n, in: inner.faultFunction, task: task, nth: nth) {
            Sys.log("fail: \(why)")
            return .err(.EOPNOTSUPP)
        }
        var o = executeOnce(inner)
        o.injected = faults.disarm(n, task: task, nth: nth)
        return o
    }

    /// An op the actor's own process performs, with its own credentials.
    func perform(by a: ActorID, _ op: Op) -> Outcome {
        guard actors.actors[a] != nil else { return .err(.ESRCH) }
        switch fsRequest(op) {
        case let .refused(o): return o
        case let .request(kind, path, data):
            let r = actors.fs(a, kind, path, data)
            if case let .write(_, f, _, nb) = op { wrote(f, nonblock: nb) }
            return kind == .read && r.0 == 0 ? .bytes(r.1) : Self.e(r.0)
        }
    }

    /// The actor's cgroupfs syscall for an op it performs (`as`), or the outcome without one.
    enum FsRequest { case request(ActorFs, String, [UInt8]), refused(Outcome) }

    func fsRequest(_ op: Op) -> FsRequest {
        switch op {
        case .mkdir(let p): return .request(.mkdir, Self.dir(p), [])
        case .rmdir(let p): return .request(.rmdir, Self.dir(p), [])
        case .write(let p, let f, let data, let nb): return .request(nb ? .writeNonblock : .write, Self.file(p, f), data)
        case .read(let p, let f): return .request(.read, Self.file(p, f), [])
        case .move(let b, let p):
            guard let pid = actors.actors[b]?.pid else { return .refused(.err(.ESRCH)) }
            return .request(.write, Self.file(p, "cgroup.procs"), Array(String(pid).utf8))
        default: return .refused(.err(.EINVAL))
        }
    }

    /// After a write by anyone: a blocking dmem.max write may reclaim (7.3), so learn what it
    /// evicted now, or the next alloc would report those buffers as its own evictions.
    func wrote(_ file: String, nonblock: Bool) {
        if file == "dmem.max" && !nonblock { refreshResidency() }
    }

    /// Re-reads the residency of every vgem buffer believed resident.
    func refreshResidency() {
        _ = evictedNow(buffers.filter { $0.value.vgem && $0.value.resident }.keys.sorted())
    }

    /// Asks each of these buffers still believed resident whether it is (VGEM_DMEM_INFO), marks
    /// the evicted ones and returns them, in the order given.
    func evictedNow(_ ids: [BufferID]) -> [BufferID] {
        var evicted: [BufferID] = []
        for bid in ids {
            guard let b = buffers[bid], b.resident else { continue }
            let q = actors.call(b.actor, .info, Int64(b.card), Int64(b.handle))
            if q[0] == 0 && q[1] == 0 { evicted.append(bid); buffers[bid]?.resident = false }
        }
        return evicted
    }

    func alloc(_ a: ActorID, region: String, size: UInt64, id: BufferID) -> Outcome {
        guard actors.actors[a] != nil else { return .err(.ESRCH) }
        if buffers[id] != nil { return .err(.EEXIST) }
        if region == Model.selftestRegion {
            // The actor writes the size itself: the charge goes to its cgroup, with its credentials.
            let (r, _) = actors.fs(a, .write, Self.selftestDir + "/charge", Array(String(size).utf8))
            if r == 0 { buffers[id] = Buffer(actor: a, card: -1, handle: 0, region: region, vgem: false, resident: true, selftest: true) }
            return Self.e(r)
        }
        guard let t = Drm.target(region: region) else { return .err(.ENODEV) }
        // Seat users may open DRM nodes (udev's uaccess does it on desktops): an actor that gave up
        // root allocates like any other, so charges are the same whoever the actor runs as.
        Sys.grantCardAccess(t.card)
        switch t {
        case .vgem(let card, let idx):
            let before = buffers.filter { $0.value.vgem && $0.value.card == card && $0.value.resident }.keys.sorted()
            let file = opened(a, card: card)
            let r = actors.call(a, .allocVgem, Int64(card), Int64(idx), Int64(bitPattern: size))
            // Evictions stay done even when the allocation fails: ask every buffer that was resident.
            let evicted = evictedNow(before)
            if r[0] != 0 { return Outcome(errno: Errno(Int32(r[0])), evicted: evicted) }
            buffers[id] = Buffer(actor: a, card: card, handle: UInt32(truncatingIfNeeded: r[1]), region: region, vgem: true, resident: true, file: file)
            return Outcome(evicted: evicted)
        case .vkms(let card):
            // A dumb buffer is whole 4096-byte rows (1024 px x 32 bpp); the op means "exactly
            // `size` bytes", so sizes a dumb buffer cannot have are the op's EINVAL, as on vgem.
            if size == 0 || size % 4096 != 0 { return .err(.EINVAL) }
            let file = opened(a, card: card)
            let r = actors.call(a, .allocDumb, Int64(card), 0, Int64(bitPattern: size))
            if r[0] != 0 { return .err(Errno(Int32(r[0]))) }
            buffers[id] = Buffer(actor: a, card: card, handle: UInt32(truncatingIfNeeded: r[1]), region: region, vgem: false, resident: true, file: file)
            return .ok
        }
    }

    /// nr_dying_descendants, waiting (bounded, 2 s) for it to reach 0 or stay put for 100 ms.
    func dying(_ p: CgroupPath) -> Outcome {
        let start = Sys.monotonicSeconds()
        var last: UInt64? = nil, stableSince = start
        while true {
            let (code, bytes) = Sys.readFile(Self.file(p, "cgroup.stat"))
            if code != 0 { return .err(Errno(code)) }
            let v = Self.statValue(bytes, "nr_dying_descendants") ?? 0
            let now = Sys.monotonicSeconds()
            if v != last { last = v; stableSince = now }
            if v == 0 || now - stableSince >= 0.1 || now - start >= 2 { return .number(v) }
            Sys.sleepMillis(5)
        }
    }

    static func statValue(_ bytes: [UInt8], _ key: String) -> UInt64? {
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 && f[0] == key { return UInt64(f[1]) }
        }
        return nil
    }

    // MARK: regions

    func register(_ region: String, size: UInt64) -> Int32 {
        if region == Model.selftestRegion {
            // The module's region is always 256 MiB; `size` is for the model.
            if Sys.isDir(Self.selftestDir) { return EEXIST }
            return kmod.load("dmem_selftest", options: nil)
        }
        let parts = region.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return EINVAL }
        switch (parts[0], parts[1]) {
        case ("vgem", let r):
            guard r.hasPrefix("region"), let idx = UInt64(r.dropFirst(6)) else { return EINVAL }
            if kmod.isLoaded("vgem") { return EEXIST }
            return kmod.load("vgem", options: "dmem_regions=\(idx + 1) dmem_size=\(size)")
        case ("vkms", "default"):
            if kmod.isLoaded("vkms") { return EEXIST }
            return kmod.load("vkms", options: "dmem_size=\(size)")
        case ("vkms", let name):
            if !kmod.isLoaded("vkms") {
                let r = kmod.load("vkms", options: "dmem_size=\(size)")
                if r != 0 { return r }
            }
            return VkmsConfig.create(name)
        default: return EINVAL
        }
    }

    func unregister(_ region: String) -> Int32 {
        if region == Model.selftestRegion {
            let r = kmod.unload("dmem_selftest")
            if r == 0 { buffers = buffers.filter { !$0.value.selftest } }
            return r
        }
        let parts = region.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return EINVAL }
        switch (parts[0], parts[1]) {
        case ("vgem", _): return kmod.unload("vgem")
        case ("vkms", "default"): return kmod.unload("vkms")
        case ("vkms", let name): return VkmsConfig.destroy(name)
        default: return EINVAL
        }
    }
}

/// vkms configfs devices: one primary plane, crtc, encoder, connector; `enabled` registers the region.
enum VkmsConfig {
    static let root = "/sys/kernel/config/vkms"
    static func create(_ name: String) -> Int32 {
        let d = root + "/" + name
        for sub in ["", "/planes/plane0", "/crtcs/crtc0", "/encoders/encoder0", "/connectors/connector0"] {
            let r = Sys.mkdir(d + sub)
            if r != 0 && !(r == EEXIST && sub != "") { return r }
        }
        var r = Sys.writeFile(d + "/planes/plane0/type", "1")
        if r != 0 { return r }
        let links = [("/crtcs/crtc0", "/planes/plane0/possible_crtcs/crtc0"),
                     ("/crtcs/crtc0", "/encoders/encoder0/possible_crtcs/crtc0"),
                     ("/encoders/encoder0", "/connectors/connector0/possible_encoders/encoder0")]
        for (target, link) in links {
            if symlink(d + target, d + link) != 0 && errno != EEXIST { return errno }
        }
        r = Sys.writeFile(d + "/enabled", "1")
        // A device vkms_create() refused (a failed registration, `fail N register`) is not left
        // behind: the next register of the name starts from nothing, as the model does.
        if r != 0 { remove(d) }
        return r
    }
    /// Disables the device (its region goes away) and removes the configfs tree.
    static func destroy(_ name: String) -> Int32 {
        let d = root + "/" + name
        let r = Sys.writeFile(d + "/enabled", "0")
        if r != 0 { return r }
        remove(d)
        return 0
    }
    static func remove(_ d: String) {
        _ = unlink(d + "/planes/plane0/possible_crtcs/crtc0")
        _ = unlink(d + "/encoders/encoder0/possible_crtcs/crtc0")
        _ = unlink(d + "/connectors/connector0/possible_encoders/encoder0")
        for sub in ["/planes/plane0", "/crtcs/crtc0", "/encoders/encoder0", "/connectors/connector0", ""] {
            _ = Sys.rmdir(d + sub)
        }
    }
}
