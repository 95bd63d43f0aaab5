import Trace

/// A reproducer's output against a lockstep run of the same trace: the reproducer prints one
/// trace line (`TracePrinter.step`) per op it performs and `#` comment lines around them, so
/// what it printed must be, line for line, the lockstep run's executed steps (which carry the
/// kernel's outcomes) less the ops it skips.
public enum ReproOutput {
    public struct Mismatch: Equatable, Sendable, CustomStringConvertible {
        /// 1-based, among the trace lines (comment lines not counted).
        public var line: Int
        /// What the lockstep run did (nil: the reproducer printed more lines than it had ops).
        public var lockstep: String?
        /// What the reproducer printed (nil: its output ended early).
        public var repro: String?

        public init(line: Int, lockstep: String?, repro: String?) { self.line = line; self.lockstep = lockstep; self.repro = repro }

        public var description: String {
            "line \(line): lockstep \(lockstep.map { "'\($0)'" } ?? "(nothing)"), repro \(repro.map { "'\($0)'" } ?? "(nothing)")"
        }
    }

    /// The trace lines of a reproducer's output: every line but blank and `#` ones (a console's
    /// CRLF ends a line as LF does; a quoted outcome holds no raw line break).
    public static func lines(_ output: String) -> [String] {
        output.split(whereSeparator: \.isNewline).compactMap { l in
            l.hasPrefix("#") ? nil : String(l)
        }
    }

    /// The lines a reproducer of the trace must print for a lockstep run that executed `steps`.
    public static func expected(_ steps: [Step]) -> [String] {
        zip(steps, Repro.skipped(steps)).filter { !$0.1 }.map { TracePrinter.step($0.0) }
    }

    /// Every line where the two differ, in order; empty when the reproducer saw what the
    /// lockstep run saw.
    public static func compare(output: String, lockstep steps: [Step]) -> [Mismatch] {
        let performed = zip(steps, Repro.skipped(steps)).filter { !$0.1 }.map(\.0)
        let want = expected(steps), got = lines(output)
        var out: [Mismatch] = []
        for i in 0..<max(want.count, got.count) {
            let w = i < want.count ? want[i] : nil, g = i < got.count ? got[i] : nil
            // A racing group may take another order in another run: the reproducer checks its
            // outcome against every order the model allows, so here only the op must be the same.
            if i < performed.count, case .par = performed[i].op, let g, g.hasPrefix(TracePrinter.op(performed[i].op) + " = ") { continue }
            if w != g { out.append(Mismatch(line: i + 1, lockstep: w, repro: g)) }
        }
        return out
    }
}
