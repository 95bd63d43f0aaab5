import DmemModel
import Fuzz
import Trace
import Splat
import VM

/// Runs a recorded trace on a session in lockstep with a fresh model, and against the trace's
/// own expectations.
public struct ReplayResult: Sendable {
    public var divergence: Divergence?
    /// First op whose kernel outcome differs from the trace's recorded expectation.
    public var expectationMismatch: (index: Int, expected: Outcome, actual: Outcome)?
    public var executed: [Step]
    public var model: Model
    public var passed: Bool { divergence == nil && expectationMismatch == nil }
}

extension Session {
    public func replay(_ trace: Trace) async throws -> ReplayResult {
        let (prologue, rest) = splitPrologue(trace.steps)
        var lockstep = Lockstep(model: freshModel(options: trace.options), subject: kernel)
        var mismatch: (Int, Outcome, Outcome)?
        var diverted = false
        var offset = 0
        // In batches, so a long trace does not hold the guest in one request.
        var i = 0
        while i < rest.count {
            let chunk = Array(rest[i..<min(i + 64, rest.count)])
            let d = try await lockstep.run(chunk.map(\.op))
            for (k, st) in lockstep.executed[offset...].enumerated() where mismatch == nil {
                // A group's recorded outcome is one order of it; the lockstep judged the kernel's
                // against every order. Once the kernel took another order, the recorded outcomes
                // after it are those of a run that did not happen: only the model's count.
                if case .par = st.op { if let want = chunk[k].expect, want != st.expect { diverted = true }; continue }
                if diverted { continue }
                if let want = chunk[k].expect, let got = st.expect, want != got { mismatch = (prologue.count + offset + k, want, got) }
            }
            if let d {
                var dd = d
                dd.index += prologue.count
                return ReplayResult(divergence: dd, expectationMismatch: mismatch, executed: prologue + lockstep.executed, model: lockstep.model.model)
            }
            offset = lockstep.executed.count
            i += chunk.count
        }
        return ReplayResult(divergence: nil, expectationMismatch: mismatch, executed: prologue + lockstep.executed, model: lockstep.model.model)
    }
}

extension ReplayResult {
    /// The finding a replay turned up, if any: its first divergence, else its first new splat.
    public func finding(of trace: Trace, splats: [Splat], console: String, kernelState: String = "") -> Finding? {
        // The finding holds for the kernel it ran on, whatever else the replayed trace named.
        var t = trace
        t.profile = model.profile; t.alsoHoldsFor = []; t.steps = executed
        if let d = divergence {
            return Finding(kind: .divergence, title: Finding.title(for: d), trace: t, index: d.index, divergence: d,
                           splats: [], console: console, modelTree: d.modelTree, kernelState: kernelState)
        }
        if let sp = splats.first {
            return Finding(kind: .splat, title: sp.title, trace: t, index: executed.count - 1, divergence: nil,
                           splats: splats, console: console, modelTree: model.describe(), kernelState: kernelState)
        }
        return nil
    }
}
