import DmemModel
import Fuzz
import Trace
import Splat
import VM

/// Something a developer should look at: the model and the kernel disagree, the kernel splatted,
/// or the guest stopped answering.
public struct Finding: Sendable {
    public enum Kind: String, Sendable { case divergence, splat, hang }
    public var kind: Kind
    public var title: String
    /// Everything executed in the guest up to the finding, with the kernel's outcomes.
    public var trace: Trace
    /// Index in `trace.steps` of the first op that differs (divergence) or of the last op sent.
    public var index: Int
    public var divergence: Divergence?
    public var splats: [Splat]
    public var console: String
    public var modelTree: String
    public var kernelState: String
    /// What the kernel offers beyond the model (`Interfaces.summary`), e.g. `unmodeled: dmem.events`.
    public var interfaces: String? = nil
    /// The splat came while dmemfuzz tore the trace's state down; the trace ends with those ops.
    public var duringTeardown = false

    public init(kind: Kind, title: String, trace: Trace, index: Int, divergence: Divergence?, splats: [Splat],
                console: String, modelTree: String, kernelState: String) {
        self.kind = kind; self.title = title; self.trace = trace; self.index = index; self.divergence = divergence
        self.splats = splats; self.console = console; self.modelTree = modelTree; self.kernelState = kernelState
    }

    /// The first comment line of a finding's trace.trace: what its outcomes mean. `repro` refuses
    /// a trace.trace without it (an older dmemfuzz wrote the kernel's outcome as the expectation,
    /// so its reproducer passed on the buggy kernel).
    public static let modelOutcomesMarker = "finding: each '= outcome' is the model's (what a fixed kernel does); at the divergent op the kernel's own outcome follows as '# kernel: ...'"

    /// `trace` with the model's outcome as the divergent op's expectation. Before that op the
    /// model and the kernel agreed (ops only one of them answers keep that one's outcome), so
    /// every expectation is then what a fixed kernel does, and a replay or reproducer of it fails
    /// on the kernel it was found on.
    public var modelTrace: Trace {
        var t = trace
        if let d = divergence, t.steps.indices.contains(index) { t.steps[index].expect = d.expected }
        return t
    }

    /// What the kernel did where it disagreed, as a note on that step.
    public var kernelNotes: [Int: String] {
        divergence.map { [index: "kernel: " + TracePrinter.outcome($0.actual)] } ?? [:]
    }

    /// The text of the finding's trace.trace: `modelTrace`, marked, the kernel's outcome noted.
    public var traceFile: String {
        TracePrinter.trace(modelTrace, comments: [Self.modelOutcomesMarker], notes: kernelNotes)
    }

    /// Stable title for deduplication, syzbot style: what happened where, not the values.
    public static func title(for d: Divergence) -> String {
        func kind(_ o: Outcome) -> String {
            if let e = o.errno { return e.description }
            if o.data != nil { return "data" }
            if o.value != nil { return "value" }
            return o.evicted.isEmpty ? "ok" : "ok+evictions"
        }
        let op = TracePrinter.summary(d.op)
        // A racing group whose outcomes no order of it gives (Linearize.swift).
        if case let .par(ops) = d.op {
            return "not linearizable: " + ops.map { o in
                let s = TracePrinter.summary(o)
                return s.verb + (s.file.map { " " + $0 } ?? "") + (s.byActor ? " by an actor" : "")
            }.joined(separator: " racing ")
        }
        let (k, m) = (kind(d.actual), kind(d.expected))
        let what = k == m ? (d.actual.evicted != d.expected.evicted ? "different evictions" : "different \(k)") : "kernel \(k), model \(m)"
        return "divergence in \(op.verb)\(op.file.map { " " + $0 } ?? "")\(op.byActor ? " by an actor" : ""): \(what)"
    }

    /// What the kernel minimizer holds fixed while it shrinks a divergence: its title, except that
    /// an allocation whose two outcomes are each ok, ok with evictions or ENOSPC is one eviction
    /// decision (ttm_bo_evict_alloc() either frees enough or returns -ENOSPC), so a smaller trace
    /// where the same wrong decision shows as ENOSPC against evictions instead of as two
    /// different victim sets is the same bug. Mutant 12 (no recursive protection) needs this to
    /// get under 10 ops: merging the rival's two allocations turns "different evictions" into
    /// "kernel ok+evictions, model ENOSPC".
    public static func shrinkClass(for d: Divergence) -> String {
        func decision(_ o: Outcome) -> Bool { o.errno == nil ? o.data == nil && o.value == nil : o.errno == .ENOSPC }
        if case .alloc = d.op, decision(d.actual), decision(d.expected) { return "divergence in alloc: eviction decision" }
        return title(for: d)
    }

    public var slug: String {
        String(title.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
            .split(separator: "-").joined(separator: "-").prefix(80).description
    }
}
