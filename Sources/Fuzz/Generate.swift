import DmemModel
import Trace

/// What the generator may do on the executor at hand.
public struct GeneratorConfig: Sendable {
    /// Regions that exist before the first op (registered by the prologue).
    public var regions: [(name: String, size: UInt64)]
    /// Region names the executor can register and unregister at run time (vkms devices).
    public var dynamicRegions: [(name: String, size: UInt64)]
    /// Allow ops only the model answers (`evict?`).
    public var modelOnly: Bool
    public var maxDepth = 3
    public var maxActors = 6
    public var maxBuffers = 32
    /// Share of ops that are delegation and privilege ops (delegate, setuid, dropcaps, as).
    public var privilegePercent = 8
    /// Chance, per op outside a plan, of starting a PressurePlan (a protected cgroup with an old
    /// buffer, an unprotected sibling, then an allocation or reclaim that must evict).
    public var pressurePlanPercent = 2
    /// The kernel has vgem's charge transfer (`requires transfer`): this share of ops are
    /// `transfer`s, most of them right after a limit write that leaves exactly the headroom
    /// (TransferPlan.swift).
    public var transfer = false
    public var transferPercent = 8
    /// Share of ops that are racing groups (RacePlan.swift); 0 keeps every op alone, as the
    /// model-only properties and the recorded seeds of earlier rounds expect.
    public var racePercent = 0
    /// The kernel has failslab's stack filter (`requires failslab`): this share of ops are
    /// `fail N op` (FaultOp.swift).
    public var faults = false
    public var faultPercent = 6
    /// The test drivers print the drm fdinfo memory keys (`requires fdinfo`): this share of ops
    /// are `fork` and `fdinfo` (FdinfoPlan.swift).
    public var fdinfo = false
    public var fdinfoPercent = 5

    public init(regions: [(name: String, size: UInt64)] = [("vgem/region0", 256 << 20), ("vkms/default", 64 << 20)],
                dynamicRegions: [(name: String, size: UInt64)] = [("vkms/dev1", 64 << 20)],
                modelOnly: Bool = true) {
        self.regions = regions; self.dynamicRegions = dynamicRegions; self.modelOnly = modelOnly
    }
}

/// A seeded, state-aware op generator: it asks the model which cgroups, regions, actors and
/// buffers are alive so most ops do something, and injects bad input on purpose.
public struct Generator: Sendable {
    public var rng: SeededRandom
    public let config: GeneratorConfig
    var nextActor = 1
    var nextBuffer = 1
    var followUp: CgroupPath?
    /// A protected hierarchy being put under pressure (PressurePlan.swift), op by op.
    var plan: PressurePlan?
    /// An op to emit next, whatever else would come (the transfer after its boundary limit).
    var queued: Op?
    /// The setup of a racing group still to come (RacePlan.swift): a fresh cgroup and its tasks.
    var queuedRace: [Op] = []

    public init(seed: UInt64, config: GeneratorConfig = GeneratorConfig()) {
        rng = SeededRandom(seed: seed); self.config = config
    }

    public func prologue() -> [Op] { config.regions.map { .register(region: $0.name, size: $0.size) } }

    /// The prologue, then `ops` generated ops, each applied to `exec` as soon as it is made (the
    /// generator reads the model's state); `each` sees the model after every generated step.
    public mutating func steps(ops: Int, on exec: inout ModelExecutor, each: (Model, Step) -> Void = { _, _ in }) -> [Step] {
        var out = prologue().map { Step($0, expect: exec.apply($0)) }
        // Checked: a count from the command line may be anything an Int holds.
        let ops = max(0, ops)
        let (capacity, overflow) = out.count.addingReportingOverflow(ops)
        out.reserveCapacity(overflow ? out.count : min(capacity, 1 << 24))
        for _ in 0..<ops {
            let op = next(exec.model)
            let step = Step(op, expect: exec.apply(op))
            out.append(step)
            each(exec.model, step)
        }
        return out
    }

    /// Keeps ids fresh after replaying an existing trace (corpus seeds, resumed campaigns).
    public mutating func observe(_ op: Op) {
        if case let .par(ops) = op { for o in ops { observe(o) }; return }
        switch op {
        // Saturating: a trace may name a9223372036854775807 (Int.max is then reused, and the
        // model answers EEXIST for it, as for any reused id).
        case let .spawn(a, _), let .fork(_, a): nextActor = max(nextActor, a == .max ? a : a + 1)
        case let .alloc(_, _, _, b): nextBuffer = max(nextBuffer, b == .max ? b : b + 1)
        default: break
        }
    }

    public mutating func next(_ m: Model) -> Op {
        if !queuedRace.isEmpty {
            let q = queuedRace.removeFirst()
            observe(q)
            return q
        }
        if let q = queued {
            queued = nil
            observe(q); followUp = Self.changed(by: q, in: m)
            return q
        }
        if let p = followUp, rng.chance(35) {
            // Read back what the last limit write or allocation may have changed, right away:
            // an O_NONBLOCK write that reclaimed anyway, a peak left by a charge that failed at
            // an ancestor, show only there, and the next random read rarely looks.
            followUp = nil
            if m.isLive(p) { return .read(p, file: rng.pick(["dmem.current", "dmem.peak", "dmem.current", "dmem.max"])!) }
        }
        if plan == nil, config.pressurePlanPercent > 0, rng.below(1000) < config.pressurePlanPercent * 10 {
            plan = makePressurePlan(m)
        }
        if var p = plan {
            let op = nextPlanned(&p, m)
            plan = op == nil ? nil : p
            if let op { observe(op); followUp = nil; return op }
        }
        while true {
            if let op = attempt(m) { observe(op); followUp = Self.changed(by: op, in: m); return op }
        }
    }

    /// The cgroup whose dmem files an op may change: the target of a limit write, the parent of
    /// an allocating actor's cgroup (its peak and usage carry the charge too).
    static func changed(by op: Op, in m: Model) -> CgroupPath? {
        switch op {
        case let .write(p, file: f, _, _) where f.hasPrefix("dmem."): return p
        case let .by(_, inner), let .fail(_, inner), let .failNth(_, inner): return changed(by: inner, in: m)
        case let .par(ops): return ops.lazy.compactMap { changed(by: $0, in: m) }.first
        case let .alloc(a, _, _, _): return m.cgroupOf(actor: a).flatMap { $0.parent ?? $0 }
        // The sender's usage falls on success and must not on failure; the receiver's side shows
        // on the next tree check.
        case let .transfer(_, b, _): return m.chargedCgroup(buffer: b)
        default: return nil
        }
    }

    func allRegionNames(_ m: Model) -> [String] {
        config.regions.map(\.name) + config.dynamicRegions.map(\.name) + m.liveRegionNames
    }

    /// The uids privilege ops use: root, the delegatee, and a stranger.
    static let uids: [UInt32] = [0, 1000, 1000, 2000]

    mutating func attempt(_ m: Model) -> Op? {
        if rng.chance(config.privilegePercent) { return privileged(m) }
        if config.transfer && rng.chance(config.transferPercent) { return transferOp(m) }
        if config.faults && rng.chance(config.faultPercent) { return faultOp(m) }
        if config.fdinfo && rng.chance(config.fdinfoPercent) { return fdinfoOp(m) }
        if config.racePercent > 0 && rng.chance(config.racePercent) { return raceGroup(m) }
        return plain(m)
    }

    /// Delegation and dropped privileges: chown a subtree to a user, have actors give up root,
    /// and have them do cgroupfs ops themselves, mostly inside what was delegated to them.
    mutating func privileged(_ m: Model) -> Op? {
        let paths = m.paths
        let actors = m.actors.keys.sorted()
        switch rng.below(10) {
        case 0..<2:
            guard let p = rng.pick(paths.filter { !$0.isRoot }) else { return nil }
            return .delegate(p, uid: rng.pick(Self.uids)!)
        case 2:
            guard let a = rng.pick(actors) else { return nil }
            return .setuid(a, uid: rng.pick(Self.uids)!)
        case 3:
            guard let a = rng.pick(actors) else { return nil }
            return .dropCaps(a)
        default:
            guard let a = rng.pick(actors) else { return nil }
            let uid = m.creds(of: a)?.uid ?? 0
            // Aim at the actor's own subtrees most of the time, so delegation is exercised from
            // the inside as well as refused from the outside.
            let own = paths.filter { m.owner(ofDirectory: $0) == uid }
            let target = (rng.chance(70) ? rng.pick(own) : nil) ?? rng.pick(paths)!
            switch rng.below(10) {
            case 0..<3:
                guard target.depth < config.maxDepth else { return nil }
                return .by(a, .mkdir(target.child("c\(rng.below(4))")))
            case 3: return target.isRoot ? nil : .by(a, .rmdir(target))
            case 4..<6: return .by(a, limitWrite(m, target))
            case 6:
                let token = rng.pick(["+dmem", "-dmem", "+dmem"])!
                return .by(a, .write(target, file: "cgroup.subtree_control", data: Array(token.utf8), nonblock: false))
            case 7: return .by(a, .read(target, file: rng.pick(DmemFile.allCases.map(\.rawValue))!))
            default:
                guard let b = rng.pick(actors) else { return nil }
                return .by(a, .move(b, target))
            }
        }
    }

    mutating func plain(_ m: Model) -> Op? {
        let paths = m.paths
        let actors = m.actors.keys.sorted()
        let buffers = m.buffers.keys.sorted()
        switch rng.below(100) {
        case 0..<10:
            guard let parent = rng.pick(paths.filter { $0.depth < config.maxDepth }) else { return nil }
            return .mkdir(parent.child("c\(rng.below(4))"))
        case 10..<15:
            // Mostly removable cgroups; sometimes busy ones and already removed ones.
            let candidates = rng.chance(80) ? paths.filter { !$0.isRoot && m.tasks(in: $0) == 0 && !m.hasLiveChildren($0) } : paths.filter { !$0.isRoot }
            if let p = rng.pick(candidates) { return .rmdir(p) }
            return .rmdir(CgroupPath(["c\(rng.below(4))"]))
        case 15..<40:
            guard let p = rng.pick(paths) else { return nil }
            return limitWrite(m, p)
        case 40..<47:
            guard let p = rng.pick(paths) else { return nil }
            var tokens = ["+dmem", "-dmem", "+dmem", "-dmem", "dmem", "+dmem -dmem", "+bogus", " +dmem\n", "+dmem\t"]
            // Not on the root: a memory controller would keep removed cgroups dying for as long
            // as their kernel memory stays charged. Below the root it is ENOENT, worth testing.
            if !p.isRoot { tokens.append("+memory") }
            let token = rng.pick(tokens)!
            return .write(p, file: "cgroup.subtree_control", data: Array(token.utf8), nonblock: false)
        case 47..<57:
            guard let p = rng.pick(paths) else { return nil }
            let files = DmemFile.allCases.map(\.rawValue) + ["dmem.bogus"]
            return .read(p, file: rng.pick(files)!)
        case 57..<63:
            guard actors.count < config.maxActors else { return nil }
            let leafish = paths.filter { $0.isRoot || !m.subtreeHasDmem($0) }
            guard let p = rng.pick(rng.chance(90) ? leafish : paths) else { return nil }
            return .spawn(nextActor, p)
        case 63..<67:
            guard let a = rng.pick(actors), let p = rng.pick(paths) else { return nil }
            return .move(a, p)
        case 67..<70:
            guard let a = rng.pick(actors) else { return nil }
            return .exit(a)
        case 70..<85:
            guard let a = rng.pick(actors), buffers.count < config.maxBuffers else { return nil }
            let names = m.liveRegionNames
            let region = rng.chance(95) ? (rng.pick(names) ?? "vgem/region0") : "nosuch/region"
            let size = rng.chance(40) ? boundarySize(m, actor: a, region: region) : nil
            return .alloc(a, region: region, size: size ?? allocSize(m.regionSize(region) ?? 1 << 20), buffer: nextBuffer)
        case 85..<91:
            guard let b = rng.pick(buffers) else { return nil }
            return .free(b)
        case 91..<94:
            guard let b = rng.pick(buffers) else { return nil }
            return .resident(b)
        case 94..<96:
            guard let p = rng.pick(paths) else { return nil }
            return .dying(p)
        case 96..<98:
            guard let (name, size) = rng.pick(config.dynamicRegions) else { return nil }
            return m.liveRegionNames.contains(name) ? .unregister(region: name) : .register(region: name, size: size)
        default:
            guard config.modelOnly, let a = rng.pick(actors), let r = rng.pick(m.liveRegionNames) else { return nil }
            return .evictQuery(a, region: r, size: allocSize(m.regionSize(r) ?? 1 << 20))
        }
    }

    /// A size at an edge the model can see: exactly the actor's headroom under its tightest
    /// dmem.max or one page over it, exactly the largest block the range manager can still place
    /// or one page over it (forcing eviction), or the size of a resident buffer (evicting exactly
    /// one may or may not be enough, depending on where it sits).
    mutating func boundarySize(_ m: Model, actor: ActorID, region: String) -> UInt64? {
        let page: UInt64 = 4096
        func aligned(_ v: UInt64) -> UInt64? { let a = v / page * page; return a == 0 ? nil : a }
        // One page over, saturating: a region may be as large as a UInt64 holds (--vgem dmem_size=...).
        func over(_ v: UInt64) -> UInt64 { v.addingReportingOverflow(page).overflow ? v : v + page }
        switch rng.below(5) {
        case 0:
            guard let room = m.headroom(actor: actor, region: region), room < m.regionSize(region) ?? 0 else { return nil }
            return aligned(room)
        case 1:
            guard let room = m.headroom(actor: actor, region: region), room < m.regionSize(region) ?? 0 else { return nil }
            return aligned(room).map(over) ?? page
        case 2: return m.largestFreeBlock(region: region).flatMap(aligned)
        case 3: return m.largestFreeBlock(region: region).map(over)
        default: return rng.pick(m.residentSizes(region: region))
        }
    }

    /// a + b, or UInt64.max when that overflows: a region may be as large as a UInt64 holds
    /// (--vgem dmem_size=...), and sizes derived from it must not trap.
    static func saturatingSum(_ a: UInt64, _ b: UInt64) -> UInt64 { a > UInt64.max - b ? UInt64.max : a + b }

    mutating func allocSize(_ regionSize: UInt64) -> UInt64 {
        switch rng.below(10) {
        case 0: return 0
        case 1: return 4097
        case 2: return max(4096, regionSize / 2)
        case 3: return regionSize
        default: return UInt64(1 + rng.below(16)) * 4096 * UInt64(1 << rng.below(8))
        }
    }

    /// A dmem.min/low/max write, well-formed most of the time, malformed on purpose otherwise.
    mutating func limitWrite(_ m: Model, _ p: CgroupPath) -> Op {
        let file: String
        switch rng.below(20) {
        case 0: file = rng.pick(["dmem.current", "dmem.capacity", "dmem.peak", "dmem.bogus"])!
        default: file = rng.pick(["dmem.max", "dmem.max", "dmem.min", "dmem.low"])!
        }
        let names = m.liveRegionNames
        func name() -> String {
            if rng.chance(90), let n = rng.pick(names) { return n }
            return rng.pick(allRegionNames(m) + ["nosuch", "vgem/region", ""])!
        }
        let size = m.regionSize(names.first ?? "") ?? 256 << 20
        // dmem.current of the target on the first region: limits and protection set exactly at,
        // one page below or one page above what the cgroup uses put it under pressure at once.
        let used = names.first.flatMap { m.usage(p, region: $0) } ?? 0
        func value() -> String {
            if used > 0 && rng.chance(30) {
                return String(rng.pick([used, used, used - min(used, 4096), used.addingReportingOverflow(4096).overflow ? used : used + 4096, used / 2])!)
            }
            // Protection with room to grow: the cgroup's next allocations stay below it, so they
            // are protected allocations (below_min / below_low) when they have to evict.
            if file != "dmem.max" && rng.chance(25) {
                let sat = Self.saturatingSum
                return String(rng.pick([sat(used, size / 4), sat(used, size / 2), size])!)
            }
            switch rng.below(24) {
            case 0: return "max"
            case 1: return "0"
            case 2: return String(size)
            case 3: return String(size / 2)
            case 4: return String(UInt64(rng.below(64)) * 1 << 20)
            case 5: return "\(rng.below(512))M"
            case 6: return "\(rng.below(1 << 20))k"
            case 7: return "0x\(String(UInt64(rng.below(1 << 16)) << 12, radix: 16))"
            case 8: return "0\(String(rng.below(4096), radix: 8))"
            case 9: return "16E"
            case 10: return "18446744073709551615"
            case 11: return "2251799813685247"
            case 12: return rng.pick(["abc", "-1", "1.5M", "1MB", "max1", "0x", "08", "+5", "", "m", "1g"])!
            case 13: return "9223372036854775808"
            default: return String(UInt64(rng.below(1 << 16)) * 4096)
            }
        }
        var text: String
        switch rng.below(12) {
        case 0: text = "\(name())  \(value())"                                        // two blanks
        case 1: text = "\(name())\t\(value())\n"
        case 2: text = "\(name()) \(value())\n\(name()) \(value())\n"                 // two lines
        case 3: text = "\n  \(name()) \(value())  \n\n"
        case 4: text = "\(name())"                                                   // no value
        case 5: text = rng.pick(["", "\n", " ", "\0", "max"])!
        case 6: text = "\(name()) \(value())\r\n"
        default: text = "\(name()) \(value())" + (rng.chance(50) ? "\n" : "")
        }
        var data = Array(text.utf8)
        if rng.chance(2) { data = Array(repeating: 0x20, count: 4090) + data }       // near/over atomic_write_len
        if rng.chance(2) { data.insert(0xa0, at: 0) }                                // Latin-1 NBSP is isspace()
        return .write(p, file: file, data: data, nonblock: rng.chance(20))
    }
}
