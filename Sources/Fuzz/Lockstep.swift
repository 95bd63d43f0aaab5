import DmemModel
import Trace

/// The first place where the subject (a kernel) and the reference (the model) disagree.
public struct Divergence: Sendable, CustomStringConvertible {
    public var index: Int
    public var op: Op
    public var expected: Outcome
    public var actual: Outcome
    public var modelTree: String
    /// The lockstep had dropped states the kernel's outcomes still allowed (more than
    /// `Lockstep.maxAlternatives`), so the kernel may be in one of those: this divergence is the
    /// oracle's blind spot as much as a kernel's bug, and a campaign does not report it.
    public var inconclusive = false

    public var description: String {
        "op \(index + 1): \(TracePrinter.op(op))\n  model:  \(TracePrinter.outcome(expected))\n  kernel: \(TracePrinter.outcome(actual))\n  model tree:\n"
            + modelTree.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
    }
}

/// Runs ops on the model and a subject executor in batches and stops at the first disagreement.
///
/// After a racing group the model may be in one of several states (two orders of the group that
/// gave the kernel's outcomes but left different states behind): `model` is one of them and
/// `alternatives` the others. Each later op keeps only the states that give the kernel's outcome,
/// and there is a divergence only when none does, so a kernel is judged against *some* order of
/// every group it ran, never against the one the model happened to try first.
public struct Lockstep<Subject: Executor> {
    public var model: ModelExecutor
    public private(set) var alternatives: [ModelExecutor] = []
    public var subject: Subject
    public private(set) var executed: [Step] = []
    /// Some state the kernel's outcomes allowed was dropped for want of room (`maxAlternatives`);
    /// from then on a divergence is `inconclusive`. Seen offline (FuzzTests, a model that takes
    /// random orders as the kernel): three racing groups of allocations, none of their LRU orders
    /// told apart by an eviction yet, fill the room, and a later eviction diverges.
    public private(set) var saturated = false
    /// More states than this are not told apart. Racing allocations multiply them: a group of
    /// three leaves up to 3! placements times 3! LRU orders (Model.lruOrders), 36 states that only
    /// an eviction tells apart, so a second group before it makes hundreds. At 24 a control run
    /// (`fuzz --race-percent 50`, 7.3.4) lost the state the kernel was in and reported `par {
    /// alloc a3 … 32768 b20 | move a3 / }` evicting b2 as not linearizable; at 144 that trace
    /// passes (a saturated op then costs about 7 ms more in a debug build).
    public static var maxAlternatives: Int { 144 }

    /// A killed css's offline (its limit reset) has surely run after this many later ops: the
    /// agent waits for an RCU grace period after every op that kills one (AgentCore Executor).
    public static var offlineSettlesWithin: Int { 8 }

    public init(model: ModelExecutor, subject: Subject) {
        self.model = model; self.subject = subject
        self.model.model.deferOffline = true
    }

    /// Executes `ops`; returns the divergence, if any. Steps up to and including the diverging
    /// one are recorded with the subject's outcomes, so the trace replays what the kernel did.
    public mutating func run(_ ops: [Op]) async throws -> Divergence? {
        let actual = try await subject.execute(ops)
        for (i, op) in ops.enumerated() {
            let got = i < actual.count ? actual[i] : nil
            let before = model.model
            // Every state the model can be in, each with its outcome(s) for this op.
            var next: [(Outcome?, ModelExecutor)] = []
            var starts: [ModelExecutor] = []
            for s in [model] + alternatives {
                // A css killed earlier may or may not be offline by now: both, until it surely is.
                guard !s.model.pendingOffline.isEmpty else { starts.append(s); continue }
                var done = s
                done.model.completeOffline()
                starts.append(done)
                if s.model.opsSinceKill < Self.offlineSettlesWithin {
                    var still = s
                    still.model.opsSinceKill += 1
                    starts.append(still)
                }
            }
            for start in starts {
                if case let .par(members) = op {
                    next += start.linearizations(members).map { ($0.outcome, $0.after) }
                } else {
                    var m = start
                    let o = m.apply(op)
                    // A failing allocation that may have had to make a root pool an earlier round
                    // may have made already (Model.rootPoolUnknown): the op with the pool there too.
                    let asked = m.model.rootPoolAsked
                    m.model.rootPoolAsked = nil
                    next.append((o, m))
                    if let r = asked {
                        var a = start
                        a.model.assumeRootPool(r)
                        let oa = a.apply(op)
                        a.model.rootPoolAsked = nil
                        next.append((oa, a))
                    }
                }
            }
            let expected = next[0].0
            executed.append(Step(op, expect: got ?? expected))
            let agreeing = next.filter { o, _ in o == nil || got == nil || o == got }
            guard let first = agreeing.first else {
                return Divergence(index: executed.count - 1, op: op, expected: expected!, actual: got!, modelTree: before.describe(),
                                  inconclusive: saturated)
            }
            model = first.1
            alternatives = []
            for (_, m) in agreeing.dropFirst() where m.model != model.model && !alternatives.contains(where: { $0.model == m.model }) {
                if alternatives.count < Self.maxAlternatives { alternatives.append(m) } else { saturated = true }
            }
        }
        return nil
    }
}
