import DmemModel
import Trace

/// What a reproducer can express: its C tables are fixed-size.
extension Repro {
    /// What the C program's fixed-size tables hold; `c(_:)` refuses a trace beyond them (and the
    /// C helpers check again, so an edited reproducer cannot write past them either).
    public static let maxActors = 256, maxBuffers = 4096, maxData = 16384, maxPath = 4000

    /// A trace the reproducer cannot express, as one line naming the op.
    public struct Unsupported: Error, CustomStringConvertible {
        public var description: String
    }

    static func check(_ t: Trace) throws(Unsupported) {
        func fail(_ i: Int, _ why: String) -> Unsupported {
            Unsupported(description: "op \(i + 1) (\(TracePrinter.op(t.steps[i].op))): \(why)")
        }
        func ids(_ op: Op) -> (actors: [Int], buffers: [Int], data: Int, paths: [CgroupPath]) {
            switch op {
            case let .spawn(a, p), let .move(a, p): return ([a], [], 0, [p])
            case let .exit(a), let .setuid(a, _), let .dropCaps(a), let .evictQuery(a, _, _), let .fdinfo(a, _): return ([a], [], 0, [])
            case let .fork(a, child): return ([a, child], [], 0, [])
            case let .alloc(a, _, _, b): return ([a], [b], 0, [])
            case let .free(b), let .resident(b): return ([], [b], 0, [])
            case let .transfer(a, b, to): return ([a, to], [b], 0, [])
            case let .write(p, _, d, _): return ([], [], d.count, [p])
            case let .mkdir(p), let .rmdir(p), let .read(p, _), let .dying(p), let .delegate(p, _): return ([], [], 0, [p])
            case let .by(a, inner): let r = ids(inner); return ([a] + r.actors, r.buffers, r.data, r.paths)
            case let .fail(_, inner), let .failNth(_, inner): return ids(inner)
            case .register, .unregister: return ([], [], 0, [])
            case let .par(ops):
                let rs = ops.map(ids)
                return (rs.flatMap(\.actors), rs.flatMap(\.buffers), rs.map(\.data).max() ?? 0, rs.flatMap(\.paths))
            }
        }
        for (i, st) in t.steps.enumerated() {
            let r = ids(st.op)
            if let a = r.actors.first(where: { !(0..<maxActors).contains($0) }) { throw fail(i, "actor a\(a) is beyond the reproducer's a0...a\(maxActors - 1)") }
            if let b = r.buffers.first(where: { !(0..<maxBuffers).contains($0) }) { throw fail(i, "buffer b\(b) is beyond the reproducer's b0...b\(maxBuffers - 1)") }
            if r.data > maxData { throw fail(i, "\(r.data) bytes of data, the reproducer writes at most \(maxData)") }
            if let p = r.paths.first(where: { $0.description.utf8.count > maxPath }) { throw fail(i, "a \(p.description.utf8.count)-byte path, the reproducer takes at most \(maxPath)") }
        }
    }
}
