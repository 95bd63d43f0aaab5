import DmemModel
import Trace

/// The shrinker's last pass: each op with smaller values (an `as` op done by the agent itself).
extension Shrinker {
    mutating func simplifyValues(_ input: Trace) async throws -> Trace {
        var t = input
        for i in t.steps.indices {
            for candidate in Shrinker.simpler(t.steps[i].op) {
                var c = t
                c.steps[i].op = candidate
                if try await check(c) { t = c; break }
            }
        }
        return t
    }

    /// Smaller variants of an op, most aggressive first.
    static func simpler(_ op: Op) -> [Op] {
        switch op {
        case let .alloc(a, r, size, b) where size > 4096:
            return [.alloc(a, region: r, size: 4096, buffer: b), .alloc(a, region: r, size: (size / 2 + 4095) / 4096 * 4096, buffer: b)]
        case let .write(p, f, data, nb):
            var out: [Op] = []
            if nb { out.append(.write(p, file: f, data: data, nonblock: false)) }
            let trimmed = Array(KernelString.strstrip(data[...]))
            if trimmed != data { out.append(.write(p, file: f, data: trimmed, nonblock: nb)) }
            return out
        case let .register(r, size) where size > 1 << 20:
            return [.register(region: r, size: 1 << 20)]
        case let .by(_, inner):
            // The agent (root, all capabilities) doing what the actor did: one credential less.
            return [inner]
        case let .fail(n, inner):
            // No fault injection at all, then fewer failures, then the inner op simpler.
            return [inner] + (n > 1 ? [.fail(count: 1, inner), .fail(count: n - 1, inner)] : [])
                + simpler(inner).filter(\.faultable).map { .fail(count: n, $0) }
        case let .failNth(n, inner):
            // No fault injection, an earlier allocation, the inner op simpler.
            return [inner] + (n > 1 ? [.failNth(n - 1, inner)] : [])
                + simpler(inner).filter(\.faultable).map { .failNth(n, $0) }
        default: return []
        }
    }
}
