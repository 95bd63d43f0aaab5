import DmemModel
import Trace

/// Shrinks a failing trace, keeping the caller's failure predicate true at every accepted step.
/// Expectations are dropped (the shrunk trace is re-run to get its own).
///
/// Delta debugging over steps stops where every remaining op is needed as long as actor, cgroup
/// and buffer identities stay fixed. So, in the style of syzkaller's minimizer, ddmin (and once,
/// removing a whole cgroup subtree, actor or buffer with every op that names it) is followed by
/// rounds of structural passes until a round changes nothing: merge two actors into one, merge two
/// unrelated cgroups, collapse a cgroup into its parent or lift it a level, merge two allocations
/// of one actor, end an actor early with its exit, spawn an actor where it first moves to, point a
/// free/resident at an older buffer; then ddmin op by op (what a merge left unused) and smaller
/// values (an `as` op done by the agent itself). Every pass only makes the trace smaller in some
/// respect (ops, actors, cgroups, path depth, non-exit ops, values, credentials), so the rounds
/// end. Each candidate costs one predicate run (a kernel replay, ~1-2 s), so candidates identical
/// to the current trace are skipped and verdicts are remembered: no trace runs twice.
///
/// With `stillFailsEach` and a `width` above 1 (one guest per candidate), ddmin and the
/// structural passes run the next `width` candidates at once, each on the assumption that the
/// ones before it do not fail, and take the first that fails: the trace each pass ends with is
/// the one the candidates run one at a time give, and a candidate after the taken one was run
/// for nothing (its verdict is remembered all the same).
public struct Shrinker {
    public var stillFails: (Trace) async throws -> Bool
    /// The verdicts of several candidates, run at once (nil: one at a time through `stillFails`).
    public var stillFailsEach: (([Trace]) async throws -> [Bool])? = nil
    /// Candidates run at once when `stillFailsEach` is set.
    public var width = 1
    /// Predicate runs so far (remembered verdicts are not run again and do not count).
    public private(set) var attempts = 0
    public var maxAttempts: Int
    /// Verdicts by candidate ops: the predicate is taken to be deterministic.
    var verdicts: [[Op]: Bool] = [:]

    public init(maxAttempts: Int = 2000, stillFails: @escaping (Trace) async throws -> Bool) {
        self.stillFails = stillFails; self.maxAttempts = maxAttempts
    }

    mutating func check(_ t: Trace) async throws -> Bool {
        let key = t.steps.map(\.op)
        if let v = verdicts[key] { return v }
        guard attempts < maxAttempts else { return false }
        attempts += 1
        let v = try await stillFails(t)
        verdicts[key] = v
        return v
    }

    /// `check` of each of `ts`: remembered verdicts without a run, the others together through
    /// `stillFailsEach` (one at a time without it); past `maxAttempts` a candidate does not fail.
    mutating func checkAll(_ ts: [Trace]) async throws -> [Bool] {
        guard let each = stillFailsEach, ts.count > 1 else {
            var out: [Bool] = []
            for t in ts { out.append(try await check(t)) }
            return out
        }
        var run: [[Op]: Trace] = [:]
        var order: [[Op]] = []
        for t in ts {
            let key = t.steps.map(\.op)
            if verdicts[key] == nil, run[key] == nil, attempts + order.count < maxAttempts { run[key] = t; order.append(key) }
        }
        if !order.isEmpty {
            attempts += order.count
            let vs = order.count == 1 ? [try await stillFails(run[order[0]]!)] : try await each(order.map { run[$0]! })
            for (k, v) in zip(order, vs) { verdicts[k] = v }
        }
        return ts.map { verdicts[$0.steps.map(\.op)] ?? false }
    }

    public mutating func minimize(_ input: Trace) async throws -> Trace {
        var t = input
        t.steps = t.steps.map { Step($0.op) }
        t = try await counted("ddmin", t) { try await $0.ddmin(t) }
        t = try await counted("remove", t) { try await $0.pass(t, Shrinker.removals) }
        while attempts < maxAttempts {
            let before = t
            t = try await counted("groups", t) { try await $0.pass(t, Shrinker.groupShrinks) }
            t = try await counted("actors", t) { try await $0.pass(t, Shrinker.actorMerges) }
            t = try await counted("cgroups", t) { try await $0.pass(t, Shrinker.cgroupMerges) }
            t = try await counted("hoist", t) { try await $0.pass(t, Shrinker.hoists) }
            t = try await counted("allocs", t) { try await $0.pass(t, Shrinker.allocMerges) }
            t = try await counted("exits", t) { try await $0.pass(t, Shrinker.earlyExits) }
            t = try await counted("spawns", t) { try await $0.pass(t, Shrinker.spawnsAtMoves) }
            t = try await counted("buffers", t) { try await $0.pass(t, Shrinker.bufferMerges) }
            // What the merges left unused (a cgroup's mkdir and writes, an actor's spawn) goes op by op.
            if t != before { t = try await counted("ddmin", t) { try await $0.ddmin(t, from: t.steps.count) } }
            t = try await counted("values", t) { try await $0.simplifyValues(t) }
            if t == before { break }
        }
        return try await counted("ids", t) { try await $0.canonicalize(t) }
    }

    /// Predicate runs and ops removed per pass, for tuning the pass order.
    public private(set) var passStats: [String: (runs: Int, removed: Int)] = [:]

    mutating func counted(_ name: String, _ t: Trace, _ body: (inout Shrinker) async throws -> Trace) async throws -> Trace {
        let a = attempts
        let out = try await body(&self)
        passStats[name, default: (0, 0)].runs += attempts - a
        passStats[name, default: (0, 0)].removed += t.steps.count - out.steps.count
        return out
    }

    /// Tries `candidates(t)` in order and takes the first that still fails, then asks again for
    /// candidates of the new trace, until none is left.
    mutating func pass(_ input: Trace, _ candidates: (Trace) -> [Trace]) async throws -> Trace {
        var t = input
        next: while attempts < maxAttempts {
            let cs = candidates(t).filter { $0.steps != t.steps }
            var i = 0
            while i < cs.count {
                let window = Array(cs[i..<min(i + width, cs.count)])
                if let k = try await checkAll(window).firstIndex(of: true) { t = window[k]; continue next }
                i += window.count
            }
            break
        }
        return t
    }

    /// Zeller's ddmin over steps: try removing chunks, halve chunk size when nothing goes.
    mutating func ddmin(_ input: Trace, from granularity: Int = 2) async throws -> Trace {
        var t = input
        var n = max(2, granularity)
        while t.steps.count >= 2 {
            let chunk = max(1, t.steps.count / n)
            var removedAny = false
            var start = 0
            while start < t.steps.count {
                // Removing the chunk at `start`, else the next one, ...: `width` candidates at once.
                var window: [(at: Int, trace: Trace)] = []
                var s = start
                while window.count < width && s < t.steps.count {
                    var candidate = t
                    candidate.steps.removeSubrange(s..<min(s + chunk, t.steps.count))
                    window.append((s, candidate))
                    s += chunk
                }
                if let k = try await checkAll(window.map(\.trace)).firstIndex(of: true) {
                    t = window[k].trace; start = window[k].at; removedAny = true
                } else { start = s }
            }
            if removedAny { n = max(2, n - 1); continue }
            if chunk == 1 { break }
            n = min(t.steps.count, n * 2)
        }
        return t
    }

    /// Actors and buffers numbered 1, 2, ... in order of first appearance, if the trace still
    /// fails that way (ids are names only, but the predicate has the last word).
    mutating func canonicalize(_ t: Trace) async throws -> Trace {
        let actors = Dictionary(uniqueKeysWithValues: t.actors.enumerated().map { ($1, $0 + 1) })
        let buffers = Dictionary(uniqueKeysWithValues: t.buffers.enumerated().map { ($1, $0 + 1) })
        let ops = t.steps.map {
            $0.op.renamed(actor: { actors[$0] ?? $0 }, bound: { buffers[$0] ?? $0 }, used: { buffers[$0] ?? $0 })
        }
        let c = Shrinker.with(t, ops)
        if c.steps != t.steps, try await check(c) { return c }
        return t
    }
}
