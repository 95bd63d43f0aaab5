import DmemModel
import Trace

/// Shrinks a failing trace: delta debugging over steps, then simplification of values, keeping
/// the caller's failure predicate true at every accepted step. Expectations are dropped (the
/// shrunk trace is re-run to get its own).
public struct Shrinker {
    public var stillFails: (Trace) async throws -> Bool
    public private(set) var attempts = 0
    public var maxAttempts: Int

    public init(maxAttempts: Int = 2000, stillFails: @escaping (Trace) async throws -> Bool) {
        self.stillFails = stillFails; self.maxAttempts = maxAttempts
    }

    mutating func check(_ t: Trace) async throws -> Bool {
        guard attempts < maxAttempts else { return false }
        attempts += 1
        return try await stillFails(t)
    }

    public mutating func minimize(_ input: Trace) async throws -> Trace {
        var t = input
        t.steps = t.steps.map { Step($0.op) }
        t = try await ddmin(t)
        t = try await simplifyValues(t)
        t = try await ddmin(t)
        return t
    }

    /// Zeller's ddmin over steps: try removing chunks, halve chunk size when nothing goes.
    mutating func ddmin(_ input: Trace) async throws -> Trace {
        var t = input
        var n = 2
        while t.steps.count >= 2 {
            let chunk = max(1, t.steps.count / n)
            var removedAny = false
            var start = 0
            while start < t.steps.count {
                var candidate = t
                candidate.steps.removeSubrange(start..<min(start + chunk, t.steps.count))
                if try await check(candidate) { t = candidate; removedAny = true } else { start += chunk }
            }
            if removedAny { n = max(2, n - 1); continue }
            if chunk == 1 { break }
            n = min(t.steps.count, n * 2)
        }
        return t
    }

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
        default: return []
        }
    }
}
