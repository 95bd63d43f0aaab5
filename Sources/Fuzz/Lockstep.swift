import DmemModel
import Trace

/// The first place where the subject (a kernel) and the reference (the model) disagree.
public struct Divergence: Sendable, CustomStringConvertible {
    public var index: Int
    public var op: Op
    public var expected: Outcome
    public var actual: Outcome
    public var modelTree: String

    public var description: String {
        "op \(index + 1): \(TracePrinter.op(op))\n  model:  \(TracePrinter.outcome(expected))\n  kernel: \(TracePrinter.outcome(actual))\n  model tree:\n"
            + modelTree.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
    }
}

/// Runs ops on the model and a subject executor in batches and stops at the first disagreement.
public struct Lockstep<Subject: Executor> {
    public var model: ModelExecutor
    public var subject: Subject
    public private(set) var executed: [Step] = []

    public init(model: ModelExecutor, subject: Subject) { self.model = model; self.subject = subject }

    /// Executes `ops`; returns the divergence, if any. Steps up to and including the diverging
    /// one are recorded with the subject's outcomes, so the trace replays what the kernel did.
    public mutating func run(_ ops: [Op]) async throws -> Divergence? {
        let actual = try await subject.execute(ops)
        for (i, op) in ops.enumerated() {
            let before = model.model
            let expected = model.apply(op)
            let got = i < actual.count ? actual[i] : nil
            executed.append(Step(op, expect: got ?? expected))
            if let expected, let got, expected != got {
                return Divergence(index: executed.count - 1, op: op, expected: expected, actual: got, modelTree: before.describe())
            }
        }
        return nil
    }
}
