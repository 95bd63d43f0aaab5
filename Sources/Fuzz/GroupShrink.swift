import DmemModel
import Trace

/// Shrinking racing groups: a group loses a member (the rest still race), or is split into its
/// ops one after another in the group's order or reversed. A finding that survives the split did
/// not need the race, and its reproducer no longer needs threads; one that needs the race keeps
/// the smallest group that still shows it.
extension Shrinker {
    static func groupShrinks(_ t: Trace) -> [Trace] {
        var out: [Trace] = []
        let ops = t.steps.map(\.op)
        for (i, op) in ops.enumerated() {
            guard case let .par(members) = op else { continue }
            func replaced(_ group: [Op]) -> Trace { Shrinker.with(t, Array(ops[..<i]) + group + Array(ops[(i + 1)...])) }
            out.append(replaced(members))
            out.append(replaced(members.reversed()))
            for k in members.indices {
                var rest = members
                rest.remove(at: k)
                out.append(replaced(rest.count == 1 ? rest : [.par(rest)]))
            }
        }
        return out
    }
}
