import DmemModel
import Trace

/// The identities an op names, and the same op with them renamed: what the shrinker's structural
/// passes (merge actors, merge cgroups, hoist, merge buffers) are built from. The switches are
/// exhaustive on purpose: a new op case must say which actors, cgroups and buffers it uses.
extension Op {
    /// Actors the op names, the acting one first (`by`: the performer, then the inner op's).
    public var actors: [ActorID] {
        switch self {
        case .register, .unregister, .mkdir, .rmdir, .write, .read, .free, .resident, .dying, .delegate:
            return []
        case let .spawn(a, _), let .move(a, _), let .exit(a), let .alloc(a, _, _, _), let .evictQuery(a, _, _),
             let .setuid(a, _), let .dropCaps(a), let .fdinfo(a, _):
            return [a]
        case let .fork(a, child): return [a, child]
        case let .transfer(a, _, to): return [a, to]
        case let .by(a, inner): return [a] + inner.actors
        case let .par(ops): return ops.flatMap(\.actors)
        case let .fail(_, inner), let .failNth(_, inner): return inner.actors
        }
    }

    /// Cgroups the op names (not their ancestors).
    public var paths: [CgroupPath] {
        switch self {
        case .register, .unregister, .exit, .alloc, .free, .resident, .evictQuery, .setuid, .dropCaps, .transfer, .fork, .fdinfo:
            return []
        case let .mkdir(p), let .rmdir(p), let .write(p, _, _, _), let .read(p, _), let .spawn(_, p), let .move(_, p),
             let .dying(p), let .delegate(p, _):
            return [p]
        case let .by(_, inner): return inner.paths
        case let .par(ops): return ops.flatMap(\.paths)
        case let .fail(_, inner), let .failNth(_, inner): return inner.paths
        }
    }

    /// Buffers the op names: the one an `alloc` binds, or the one a `free`/`resident`/`transfer` uses.
    public var buffers: [BufferID] {
        switch self {
        case .register, .unregister, .mkdir, .rmdir, .write, .read, .spawn, .move, .exit, .dying, .evictQuery,
             .delegate, .setuid, .dropCaps, .fork, .fdinfo:
            return []
        case let .alloc(_, _, _, b), let .free(b), let .resident(b), let .transfer(_, b, _): return [b]
        case let .by(_, inner): return inner.buffers
        case let .par(ops): return ops.flatMap(\.buffers)
        case let .fail(_, inner), let .failNth(_, inner): return inner.buffers
        }
    }

    /// The op with every actor, cgroup and buffer it names passed through the given maps
    /// (`bound`: the buffer an `alloc` binds; `used`: the buffer a `free`/`resident`/`transfer` names).
    public func renamed(actor: (ActorID) -> ActorID = { $0 },
                        path: (CgroupPath) -> CgroupPath = { $0 },
                        bound: (BufferID) -> BufferID = { $0 },
                        used: (BufferID) -> BufferID = { $0 }) -> Op {
        switch self {
        case .register, .unregister: return self
        case let .mkdir(p): return .mkdir(path(p))
        case let .rmdir(p): return .rmdir(path(p))
        case let .write(p, f, d, nb): return .write(path(p), file: f, data: d, nonblock: nb)
        case let .read(p, f): return .read(path(p), file: f)
        case let .spawn(a, p): return .spawn(actor(a), path(p))
        case let .move(a, p): return .move(actor(a), path(p))
        case let .exit(a): return .exit(actor(a))
        case let .fork(a, child): return .fork(actor(a), child: actor(child))
        case let .fdinfo(a, r): return .fdinfo(actor(a), region: r)
        case let .alloc(a, r, s, b): return .alloc(actor(a), region: r, size: s, buffer: bound(b))
        case let .free(b): return .free(used(b))
        case let .resident(b): return .resident(used(b))
        case let .transfer(a, b, to): return .transfer(actor(a), buffer: used(b), to: actor(to))
        case let .dying(p): return .dying(path(p))
        case let .evictQuery(a, r, s): return .evictQuery(actor(a), region: r, size: s)
        case let .delegate(p, uid): return .delegate(path(p), uid: uid)
        case let .setuid(a, uid): return .setuid(actor(a), uid: uid)
        case let .dropCaps(a): return .dropCaps(actor(a))
        case let .by(a, inner): return .by(actor(a), inner.renamed(actor: actor, path: path, bound: bound, used: used))
        case let .par(ops): return .par(ops.map { $0.renamed(actor: actor, path: path, bound: bound, used: used) })
        case let .fail(n, inner): return .fail(count: n, inner.renamed(actor: actor, path: path, bound: bound, used: used))
        case let .failNth(n, inner): return .failNth(n, inner.renamed(actor: actor, path: path, bound: bound, used: used))
        }
    }

    /// Renames actor `from` to `to`.
    public func renaming(actor from: ActorID, to: ActorID) -> Op {
        renamed(actor: { $0 == from ? to : $0 })
    }

    /// Moves the subtree at `from` to `to`: `from` and every descendant of it (matched by whole
    /// path components, so `/l` never matches `/la`) get the prefix `to` instead.
    public func renaming(subtree from: CgroupPath, to: CgroupPath) -> Op {
        renamed(path: { $0.replacingPrefix(from, with: to) ?? $0 })
    }

    /// Renames buffer `from` to `to` where it is used (free, resident); allocations keep their ids.
    public func renaming(usedBuffer from: BufferID, to: BufferID) -> Op {
        renamed(used: { $0 == from ? to : $0 })
    }

    /// A cgroup or actor this op brings into existence (mkdir, spawn), for dropping the duplicates a
    /// merge leaves behind.
    var creates: (path: CgroupPath?, actor: ActorID?) {
        switch self {
        case let .mkdir(p): return (p, nil)
        case let .spawn(a, _): return (nil, a)
        case let .by(_, inner), let .fail(_, inner), let .failNth(_, inner): return inner.creates
        default: return (nil, nil)
        }
    }
}

extension CgroupPath {
    /// `self` with the leading components `prefix` replaced by `replacement`, if `prefix` is
    /// `self` or one of its ancestors (component-wise); nil otherwise.
    public func replacingPrefix(_ prefix: CgroupPath, with replacement: CgroupPath) -> CgroupPath? {
        guard prefix.contains(self) else { return nil }
        return CgroupPath(replacement.components + components.dropFirst(prefix.components.count))
    }

    /// True when neither path contains the other.
    public func isUnrelated(to other: CgroupPath) -> Bool { !contains(other) && !other.contains(self) }
}

extension Trace {
    /// Every actor, cgroup and buffer named by the steps, in order of first appearance. Cgroups
    /// include the ancestors of the ones named (except the root).
    public var actors: [ActorID] { Trace.unique(steps.flatMap { $0.op.actors }) }
    public var buffers: [BufferID] { Trace.unique(steps.flatMap { $0.op.buffers }) }
    public var paths: [CgroupPath] {
        Trace.unique(steps.flatMap { step in
            step.op.paths.flatMap { p in (0..<p.depth).map { CgroupPath(Array(p.components.prefix($0 + 1))) } }
        })
    }

    static func unique<T: Hashable>(_ xs: [T]) -> [T] {
        var seen = Set<T>()
        return xs.filter { seen.insert($0).inserted }
    }
}
