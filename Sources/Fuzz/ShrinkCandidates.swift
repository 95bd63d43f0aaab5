import DmemModel
import Trace

/// The shrinker's structural candidates: removals of a subtree, actor or buffer with every op
/// that names it, and the merges, hoists, early exits and moves of Minimize.swift's passes. Each
/// is a pure function of the trace; Shrinker.pass runs them.
extension Shrinker {
    /// `t` with its ops replaced by `ops`.
    static func with(_ t: Trace, _ ops: [Op]) -> Trace {
        var c = t
        c.steps = ops.map { Step($0) }
        return c
    }

    /// Whole entities with every op that names them, transitively: a cgroup subtree (its mkdirs,
    /// writes, reads, spawns there and so the actors spawned there), an actor (its spawn, moves,
    /// allocations and so their buffers), a buffer (its allocation and uses). Biggest first.
    static func removals(_ t: Trace) -> [Trace] {
        var out: [Trace] = []
        for p in t.paths.sorted(by: { $0.depth < $1.depth }) { out.append(removing(t, subtree: p)) }
        for a in t.actors { out.append(removing(t, actors: [a])) }
        for b in t.buffers { out.append(removing(t, buffers: [b])) }
        return out
    }

    static func removing(_ t: Trace, subtree: CgroupPath? = nil, actors: Set<ActorID> = [], buffers: Set<BufferID> = []) -> Trace {
        var gone = (actors: actors, buffers: buffers)
        var keep = Array(repeating: true, count: t.steps.count)
        var changed = true
        while changed {
            changed = false
            for (i, st) in t.steps.enumerated() where keep[i] {
                let op = st.op
                let named = op.actors.contains(where: gone.actors.contains) || op.buffers.contains(where: gone.buffers.contains)
                    || (subtree.map { s in op.paths.contains { s.contains($0) } } ?? false)
                guard named else { continue }
                keep[i] = false
                changed = true
                // What the removed op would have created is gone too.
                if case let .spawn(a, _) = op { gone.actors.insert(a) }
                if case let .alloc(_, _, _, b) = op { gone.buffers.insert(b) }
            }
        }
        var c = t
        c.steps = t.steps.indices.filter { keep[$0] }.map { t.steps[$0] }
        return c
    }

    /// Pairs of actors become one (the one seen first keeps its id): living where the first was
    /// spawned, or where the second was (the second's spawn goes), or spawned where and when the
    /// second was (the first's spawn goes).
    static func actorMerges(_ t: Trace) -> [Trace] {
        let actors = t.actors
        var out: [Trace] = []
        let ops = t.steps.map(\.op)
        func firstSpawn(_ a: ActorID) -> Int? {
            ops.firstIndex { if case let .spawn(x, _) = $0 { return x == a }; return false }
        }
        for (i, x) in actors.enumerated() {
            for y in actors[(i + 1)...] {
                out.append(with(t, renamingActor(ops, y, to: x)))
                if let sx = firstSpawn(x), let sy = firstSpawn(y), case let .spawn(_, px) = ops[sx], case let .spawn(_, py) = ops[sy], px != py {
                    var swapped = ops
                    swapped[sx] = .spawn(x, py)
                    swapped[sy] = .spawn(y, px)
                    out.append(with(t, renamingActor(swapped, y, to: x)))
                }
                // Or born where and when the second was: the first's spawn goes, when the first
                // does nothing before the second exists (a rival that lives where the holder
                // moves to: the holder alone does both parts).
                if let sx = firstSpawn(x), let sy = firstSpawn(y), sx < sy,
                   !ops[(sx + 1)..<sy].contains(where: { $0.actors.contains(x) }) {
                    var later = ops
                    later.remove(at: sx)
                    out.append(with(t, renamingActor(later, y, to: x)))
                }
            }
        }
        var seen = Set<[Step]>()
        return out.filter { seen.insert($0.steps).inserted }
    }

    static func renamingActor(_ ops: [Op], _ from: ActorID, to: ActorID) -> [Op] {
        dropDuplicateCreations(ops.map { $0.renaming(actor: from, to: to) }, changedFrom: ops)
    }

    /// Pairs of unrelated cgroups (neither contains the other) become one: the later-created one's
    /// subtree is renamed into the earlier one's; when their parents differ, also the other way.
    static func cgroupMerges(_ t: Trace) -> [Trace] {
        let paths = t.paths
        var out: [Trace] = []
        for (i, p) in paths.enumerated() {
            for q in paths[(i + 1)...] where p.isUnrelated(to: q) {
                out.append(renamingSubtree(t, q, to: p))
                if p.parent != q.parent { out.append(renamingSubtree(t, p, to: q)) }
            }
        }
        return out
    }

    /// A cgroup merged into its parent (its subtree moves up, a leaf becomes its parent), then a
    /// cgroup lifted one level (`/x/y/...` becomes `/y/...`).
    static func hoists(_ t: Trace) -> [Trace] {
        let paths = t.paths
        var out: [Trace] = []
        for p in paths { if let parent = p.parent { out.append(renamingSubtree(t, p, to: parent)) } }
        for p in paths where p.depth >= 2 {
            out.append(renamingSubtree(t, p, to: p.parent!.parent!.child(p.name)))
        }
        return out
    }

    static func renamingSubtree(_ t: Trace, _ from: CgroupPath, to: CgroupPath) -> Trace {
        let ops = t.steps.map(\.op)
        return with(t, dropDuplicateCreations(ops.map { $0.renaming(subtree: from, to: to) }, changedFrom: ops))
    }

    /// Two allocations of one actor on one region become one of the summed size, where the later
    /// one was; uses of the earlier buffer after that point name the merged one.
    static func allocMerges(_ t: Trace) -> [Trace] {
        let ops = t.steps.map(\.op)
        var out: [Trace] = []
        for i in ops.indices {
            guard case let .alloc(a, r, s1, b1) = ops[i] else { continue }
            for j in (i + 1)..<ops.count {
                guard case let .alloc(a2, r2, s2, b2) = ops[j], a2 == a, r2 == r, b2 != b1 else { continue }
                let (sum, overflow) = s1.addingReportingOverflow(s2)
                if overflow { continue }
                var c = ops
                c[j] = .alloc(a, region: r, size: sum, buffer: b2)
                for k in (j + 1)..<c.count { c[k] = c[k].renaming(usedBuffer: b1, to: b2) }
                c.remove(at: i)
                out.append(with(t, c))
            }
        }
        return out
    }

    /// An actor's life cut short: one of its ops (after its spawn) becomes its exit, and its later
    /// ops go. Exit frees the actor's buffers, so this stands in for free, eviction and move-away.
    static func earlyExits(_ t: Trace) -> [Trace] {
        let ops = t.steps.map(\.op)
        var out: [Trace] = []
        for a in t.actors {
            var spawned = false
            for (i, op) in ops.enumerated() where op.actors.contains(a) {
                if case .spawn = op, !spawned { spawned = true; continue }
                if case .exit = op { break }
                var c = Array(ops[..<i]) + [.exit(a)]
                c += ops[(i + 1)...].filter { !$0.actors.contains(a) }
                out.append(with(t, c))
            }
        }
        return out
    }

    /// An actor spawned in one cgroup whose next op is a move to another is spawned there instead,
    /// at the move: one op less, and the cgroup it was spawned in may then go. (Generated rounds
    /// move existing actors into new cgroups instead of spawning more, so this shape is common.)
    static func spawnsAtMoves(_ t: Trace) -> [Trace] {
        let ops = t.steps.map(\.op)
        var out: [Trace] = []
        for (i, op) in ops.enumerated() {
            guard case let .spawn(a, _) = op,
                  let j = ops[(i + 1)...].firstIndex(where: { $0.actors.contains(a) }),
                  case let .move(a2, q) = ops[j], a2 == a else { continue }
            var c = ops
            c[j] = .spawn(a, q)
            c.remove(at: i)
            out.append(with(t, c))
        }
        return out
    }

    /// A free/resident of a buffer renamed to one allocated earlier, so the later allocation may go.
    static func bufferMerges(_ t: Trace) -> [Trace] {
        let ops = t.steps.map(\.op)
        let buffers = t.buffers
        var out: [Trace] = []
        for (i, x) in buffers.enumerated() {
            for y in buffers[(i + 1)...] {
                let c = ops.map { $0.renaming(usedBuffer: y, to: x) }
                if c != ops { out.append(with(t, c)) }
            }
        }
        return out
    }

    /// After a rename, a changed mkdir of a cgroup that already exists and a changed spawn of an
    /// actor that is already alive are duplicates (EEXIST): drop them. Unchanged ops stay, so a
    /// trace's own deliberate EEXIST is kept.
    static func dropDuplicateCreations(_ ops: [Op], changedFrom old: [Op]) -> [Op] {
        var livePaths: Set<CgroupPath> = [.root]
        var liveActors = Set<ActorID>()
        var out: [Op] = []
        for (i, op) in ops.enumerated() {
            let created = op.creates
            if op != old[i] {
                if let p = created.path, livePaths.contains(p) { continue }
                if let a = created.actor, liveActors.contains(a) { continue }
            }
            if let p = created.path { livePaths.insert(p) }
            if let a = created.actor { liveActors.insert(a) }
            switch op {
            case let .rmdir(p), let .by(_, .rmdir(p)): livePaths.remove(p)
            case let .exit(a): liveActors.remove(a)
            default: break
            }
            out.append(op)
        }
        return out
    }
}
