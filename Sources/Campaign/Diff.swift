import DmemModel
import Fuzz
import Trace
import Splat
import VM

/// `dmemfuzz diff` (issue 9): the same traces on a base kernel and on a patched one, kernel
/// against kernel. No model judges the outcomes; what a reviewer asks first is "what does this
/// series change, and nothing else?", and the answer is every op whose outcome differs.
public enum BehaviourDiff {
    /// The first op of a trace whose outcome differs between the kernels. Later ops are not
    /// compared: after the first change the two kernels are in different states, and every
    /// difference after it may be a consequence.
    public struct Change: Hashable, Sendable {
        /// Index into the ops that ran (the trace after its boot prologue).
        public var index: Int
        public var op: Op
        /// nil: the op did not run there (the guest stopped answering before it).
        public var base: Outcome?
        public var patched: Outcome?
        public init(index: Int, op: Op, base: Outcome?, patched: Outcome?) {
            self.index = index; self.op = op; self.base = base; self.patched = patched
        }

        /// What a change is, for grouping: the op's verb and file, and the shape of each
        /// kernel's outcome (errno name, `ok`, `data`, `value`, `evicted`). Two traces whose
        /// first change has the same kind show the same behaviour change; a distinct kind is a
        /// distinct change and gets its own minimized trace.
        public var kind: String {
            let s = TracePrinter.summary(op)
            let what = (s.byActor ? "as aN " : "") + s.verb + (s.file.map { " " + $0 } ?? "")
            if let b = base, let p = patched, b.errno == nil, p.errno == nil {
                if b.data != nil, p.data != nil, b.data != p.data { return "\(what): different data" }
                if b.value != p.value { return "\(what): different value" }
                if b.evicted != p.evicted { return "\(what): evicts different buffers" }
            }
            return "\(what): \(Self.shape(base)) -> \(Self.shape(patched))"
        }

        static func shape(_ o: Outcome?) -> String {
            guard let o else { return "no answer" }
            let head = o.errno?.description ?? (o.data != nil ? "data" : o.value != nil ? "value" : "ok")
            return head + (o.evicted.isEmpty ? "" : " evicting")
        }
    }

    /// The first index at which `base` and `patched` differ, over `ops` (the three arrays are
    /// index-aligned; a shorter array means the guest stopped answering there). Ops the kernels
    /// do not answer (`evictQuery`, nil on both) are equal.
    public static func firstChange(ops: [Op], base: [Outcome?], patched: [Outcome?]) -> Change? {
        for i in ops.indices {
            let b = i < base.count ? base[i] : nil, p = i < patched.count ? patched[i] : nil
            let bRan = i < base.count, pRan = i < patched.count
            if !bRan && !pRan { return nil }
            if bRan != pRan || b != p { return Change(index: i, op: ops[i], base: b, patched: p) }
        }
        return nil
    }

    /// Does a racing group run at or before `index`? Then the first difference may be only the
    /// order the race took this time (a racing group's outcome, and the state after it, differ
    /// from run to run on one kernel), and it counts as a change only when it stays over reruns.
    public static func followsRace(_ ops: [Op], through index: Int) -> Bool {
        ops.prefix(through: min(index, ops.count - 1)).contains { if case .par = $0 { return true }; return false }
    }

    /// Interface changes: dmem files and controllers one kernel has and the other does not,
    /// from each kernel's listing (`Interfaces`, read by the agent at boot).
    public struct InterfaceChange: Equatable, Sendable {
        public var added: [String]
        public var removed: [String]
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty }
        public init(base: Interfaces, patched: Interfaces) {
            // unmodeled = kernel minus model, absent = model minus kernel: the model (the same
            // profile on both) cancels out of the difference.
            let b = Set(base.unmodeled), p = Set(patched.unmodeled)
            let ba = Set(base.absent), pa = Set(patched.absent)
            added = (p.subtracting(b).union(ba.subtracting(pa))).sorted()
            removed = (b.subtracting(p).union(pa.subtracting(ba))).sorted()
        }
    }

    /// One distinct behaviour change: its kind, the traces that showed it, and the smallest
    /// trace that still shows it (when minimized).
    public struct Group: Sendable {
        public var kind: String
        /// The first trace's change (the example printed).
        public var example: Change
        public var sources: [String]
        public var minimized: Trace?
        public var minimizedChange: Change?
        public var note: String?
        public init(kind: String, example: Change, sources: [String]) {
            self.kind = kind; self.example = example; self.sources = sources
        }
    }

    /// Groups per-trace first changes by kind, in order of first appearance.
    public static func group(_ changes: [(source: String, change: Change)]) -> [Group] {
        var groups: [Group] = []
        for (src, c) in changes {
            if let i = groups.firstIndex(where: { $0.kind == c.kind }) { groups[i].sources.append(src) }
            else { groups.append(Group(kind: c.kind, example: c, sources: [src])) }
        }
        return groups
    }

    /// The table for a cover letter or a review reply: one block per change, with the op and
    /// both outcomes, how many traces showed it, and the minimized trace's ops.
    public static func table(_ groups: [Group], traces: Int, racy: [String] = []) -> String {
        let note = racy.isEmpty ? "" : "not counted: \(racy.count) trace\(racy.count == 1 ? "" : "s") whose first difference follows a racing group and did not stay over \(raceReruns) reruns (the order a race took, on either kernel), e.g. \(racy[0])\n"
        guard !groups.isEmpty else { return "behaviour changes: none in \(traces) traces\n" + note }
        var s = "behaviour changes: \(groups.count) (first differing op of each trace, \(groups.map(\.sources.count).reduce(0, +)) of \(traces) traces)\n"
        for (n, g) in groups.enumerated() {
            s += "\(n + 1). \(g.kind)   [\(g.sources.count) trace\(g.sources.count == 1 ? "" : "s"), e.g. \(g.sources[0])]\n"
            let c = g.minimizedChange ?? g.example
            s += "   op:      \(TracePrinter.op(c.op))\n"
            s += "   base:    \(c.base.map(TracePrinter.outcome) ?? "(no answer)")\n"
            s += "   patched: \(c.patched.map(TracePrinter.outcome) ?? "(no answer)")\n"
            if let t = g.minimized {
                s += "   minimized (\(t.steps.count) ops; expectations are the base kernel's):\n"
                for st in t.steps { s += "     " + TracePrinter.step(st) + "\n" }
            }
            if let note = g.note { s += "   \(note)\n" }
        }
        return s + note
    }

    /// Reruns on each kernel that a change following a racing group must survive.
    public static let raceReruns = 3
}

extension Guest {
    /// What a trace's ops gave on this kernel, no model judging: outcomes in op order (shorter
    /// when the guest stopped answering), splats, and whether the teardown after it splatted.
    public struct KernelOnlyRun: Sendable {
        public var ops: [Op]
        public var outcomes: [Outcome?]
        public var splats: [Splat]
    }

    /// Runs `t` (its boot prologue skipped) on this kernel in a clean guest, in batches, then
    /// resets it. The model only follows along so the reset knows what to tear down; where the
    /// kernel refuses what the model allowed, the reset fails and the next run gets a new guest.
    public func runKernelOnly(_ t: Trace, splatWait: Double = 0.5) async throws -> KernelOnlyRun {
        let s = try await clean()
        markDirty()
        let ops = s.splitPrologue(t.steps).rest.map(\.op)
        var follow = s.freshModel(options: t.options)
        let before = s.vm.splats().count
        var outcomes: [Outcome?] = []
        var i = 0
        do {
            while i < ops.count {
                let chunk = Array(ops[i..<min(i + 64, ops.count)])
                outcomes += try await s.kernel.execute(chunk)
                for op in chunk { _ = follow.apply(op) }
                i += chunk.count
            }
        } catch {
            return KernelOnlyRun(ops: ops, outcomes: outcomes, splats: Array(s.vm.awaitSplats(moreThan: before, timeout: 1).dropFirst(before)))
        }
        let all = s.vm.awaitSplats(moreThan: before, timeout: splatWait)
        var run = KernelOnlyRun(ops: ops, outcomes: outcomes, splats: Array(all.dropFirst(before)))
        if run.splats.isEmpty, let td = await finish(after: follow.model, splatsSeen: all.count) { run.splats = td.splats }
        return run
    }
}
