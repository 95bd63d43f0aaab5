import DmemModel
import Trace

/// Runs batches of ops somewhere — the model, or a kernel through the guest agent — and says what
/// each returned. `nil` means "this executor has no answer for that op" (an unmodeled file, a
/// model-only query on a kernel): the lockstep driver compares only where both answer.
public protocol Executor {
    mutating func execute(_ ops: [Op]) async throws -> [Outcome?]
}

/// The reference model as an executor.
public struct ModelExecutor: Executor, Sendable {
    public var model: Model
    public init(_ model: Model) { self.model = model }
    public init(profile: KernelProfile, options: ModelOptions = []) { model = Model(profile: profile, options: options) }

    public mutating func execute(_ ops: [Op]) async throws -> [Outcome?] { ops.map { apply($0) } }

    public mutating func apply(_ op: Op) -> Outcome? { apply(op, by: .root) }

    /// `creds`: who does the cgroupfs ops (the agent is root; `as` hands them to an actor).
    mutating func apply(_ op: Op, by creds: Creds) -> Outcome? {
        func errOrOk(_ e: Errno?) -> Outcome { e.map(Outcome.err) ?? .ok }
        func file(_ r: FileResult) -> Outcome? {
            switch r {
            case .ok: return .ok
            case .data(let d): return .bytes(d)
            case .error(let e): return .err(e)
            case .unmodeled: return nil
            }
        }
        switch op {
        case let .register(r, size): return errOrOk(model.register(r, size: size))
        case let .unregister(r): return errOrOk(model.unregister(r))
        case let .mkdir(p): return errOrOk(model.mkdir(p, by: creds))
        case let .rmdir(p):
            let e = model.rmdir(p, by: creds)
            if e == nil { model.peakUnknown = model.peakUnknown.filter { !p.contains($0) } }
            return errOrOk(e)
        case let .write(p, f, data, nb): return file(model.write(p, f, data, nonblock: nb, by: creds))
        case let .read(p, f):
            let r = file(model.read(p, f))
            // A watermark a racing group made unknowable (Model.peakUnknown): no answer.
            if f == "dmem.peak", r?.data != nil, model.peakUnknown.contains(p) { return nil }
            return r
        case let .spawn(a, p): return errOrOk(model.spawn(a, p))
        case let .move(a, p): return errOrOk(model.move(a, p, by: creds))
        case let .exit(a): return errOrOk(model.exit(a))
        case let .fork(a, child): return errOrOk(model.fork(a, child: child))
        case let .fdinfo(a, r):
            switch model.fdinfo(a, region: r) { case .success(let d): return .bytes(d); case .failure(let e): return .err(e) }
        case let .alloc(a, r, size, b):
            let (e, ev) = model.alloc(a, region: r, size: size, buffer: b)
            return Outcome(errno: e, evicted: ev)
        case let .free(b): return errOrOk(model.free(b))
        case let .transfer(a, b, to): return errOrOk(model.transfer(a, buffer: b, to: to))
        case let .resident(b):
            switch model.resident(b) { case .success(let r): return .number(r ? 1 : 0); case .failure(let e): return .err(e) }
        case let .dying(p):
            switch model.dying(p) { case .success(let n): return .number(n); case .failure(let e): return .err(e) }
        case let .evictQuery(a, r, size):
            let (e, ev) = model.evictQuery(a, region: r, size: size)
            return Outcome(errno: e, evicted: ev)
        case let .delegate(p, uid): return errOrOk(model.delegate(p, to: uid))
        case let .setuid(a, uid): return errOrOk(model.setuid(a, uid))
        case let .dropCaps(a): return errOrOk(model.dropCaps(a))
        case let .by(a, inner):
            // The agent hands the op to the actor's process: no actor, nobody to do it.
            guard let actorCreds = model.creds(of: a) else { return .err(.ESRCH) }
            guard inner.actorPerformable else { return .err(.EINVAL) }
            return apply(inner, by: actorCreds)
        case let .par(ops): return applyGroup(ops, order: Array(ops.indices))
        case let .fail(n, inner):
            model.faults = n
            model.rootPoolAsked = nil
            var o = apply(inner, by: creds)
            o?.injected = n - model.faults
            model.faults = 0
            return o
        case let .failNth(n, inner):
            model.faultsPassing = n - 1
            model.faults = 1
            model.rootPoolAsked = nil
            var o = apply(inner, by: creds)
            o?.injected = 1 - model.faults
            model.faults = 0
            model.faultsPassing = 0
            return o
        }
    }
}

extension Model {
    /// Every live cgroup's dmem files as the kernel would print them; for reports and for the
    /// whole-tree comparison after each batch.
    public func snapshot() -> [(CgroupPath, String, [UInt8])] {
        var copy = self
        var out: [(CgroupPath, String, [UInt8])] = []
        for p in paths {
            for f in DmemFile.allCases where f != .subtreeControl {
                if case .data(let d) = copy.read(p, f.rawValue) { out.append((p, f.rawValue, d)) }
            }
        }
        return out
    }

    /// A readable tree: one line per cgroup file, for divergence reports.
    public func describe() -> String {
        snapshot().map { "\($0.0) \($0.1): " + String(decoding: $0.2, as: UTF8.self).split(separator: "\n").joined(separator: "; ") }
            .joined(separator: "\n")
    }
}
