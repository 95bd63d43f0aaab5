import DmemModel
import Fuzz
import Trace
import VM

/// Owns the current guest and replaces it when it is dirty: reset in place when the model can
/// drive it back to the boot state, a new boot otherwise (after a splat, a hang, a failed reset).
public final class Guest {
    let makeVM: () throws -> VirtualMachine
    let profile: KernelProfile?
    let kcov: Bool
    public private(set) var session: Session
    public private(set) var boots = 1
    /// What the last `replayClean` left behind, for the next reset; `dirty` forces a new boot.
    var lastModel: Model?
    var dirty = false

    public init(profile: KernelProfile? = nil, kcov: Bool = true, makeVM: @escaping () throws -> VirtualMachine) throws {
        self.makeVM = makeVM; self.profile = profile; self.kcov = kcov
        session = try Session(vm: try makeVM(), profile: profile, kcov: kcov)
    }

    public func reboot() throws {
        session.vm.stop()
        session.vm.cleanup()
        session = try Session(vm: try makeVM(), profile: profile, kcov: kcov)
        boots += 1
    }

    /// A guest in boot state, given the model of what the last run left behind.
    public func clean(after model: Model?, splatted: Bool = false) async throws -> Session {
        if !splatted, session.vm.isRunning, let model, await session.reset(from: model) { return session }
        try reboot()
        return session
    }

    public func stop() { session.vm.poweroff() }

    /// One trace in a clean guest.
    public struct Run {
        /// nil when the guest stopped answering (`failure` says how).
        public var result: ReplayResult?
        public var failure: Error?
        /// Splats the trace caused.
        public var splats: [Splat]
        public let session: Session
    }

    /// Replays `t` in a guest brought back to its boot state (reset, or a new boot after a splat,
    /// a hang or `markDirty()`), waiting up to `splatWait` seconds for splats it caused.
    public func replayClean(_ t: Trace, splatWait: Double = 1) async throws -> Run {
        let s = try await clean(after: lastModel, splatted: dirty)
        let before = s.vm.splats().count
        var run = Run(result: nil, failure: nil, splats: [], session: s)
        do { run.result = try await s.replay(t) } catch { run.failure = error }
        run.splats = Array(s.vm.awaitSplats(moreThan: before, timeout: splatWait).dropFirst(before))
        lastModel = run.result?.model
        dirty = run.result == nil || !run.splats.isEmpty
        return run
    }

    /// The next `replayClean` boots a new guest instead of resetting this one.
    public func markDirty() { dirty = true }
}

/// The finding did not happen again when its trace was replayed in a clean guest.
public struct NotReproducible: Error, CustomStringConvertible {
    public var title: String
    public var description: String { "'\(title)' does not happen again when its trace is replayed in a clean guest" }
}

/// Shrinks a finding on the kernel: every candidate runs in a clean guest and must reproduce a
/// finding with the same title (for an allocation's eviction decision, the same shrinkClass).
public struct KernelMinimizer {
    public let guest: Guest
    public var maxAttempts = 300
    public init(guest: Guest) { self.guest = guest }

    /// `title` is the finding's, or for a divergence its `Finding.shrinkClass`.
    public func reproduces(_ t: Trace, title: String, splat: Bool) async throws -> Bool {
        // A splat finding leaves the kernel tainted: every candidate gets a new boot.
        if splat { guest.markDirty() }
        let run = try await guest.replayClean(t, splatWait: splat ? 2 : 0)
        guard let r = run.result else { return title == "guest stopped answering" }
        if splat { return run.splats.contains { $0.title == title } }
        return r.divergence.map { Finding.title(for: $0) == title || Finding.shrinkClass(for: $0) == title } ?? false
    }

    /// The minimized trace, with the model's outcomes as expectations (what a fixed kernel does).
    public func minimize(_ f: Finding) async throws -> Trace {
        let splat = f.kind != .divergence
        var steps = f.trace.steps
        if f.index + 1 < steps.count { steps.removeSubrange((f.index + 1)...) }
        var start = f.trace
        start.steps = steps
        // A finding that does not happen again in a clean guest (a guest killed from outside, a
        // flaky splat) would make every candidate of ddmin a boot that proves nothing.
        guard try await reproduces(start, title: f.title, splat: splat) else { throw NotReproducible(title: f.title) }
        var shrinker = Shrinker(maxAttempts: maxAttempts) { [self] candidate in
            try await reproduces(candidate, title: f.divergence.map(Finding.shrinkClass(for:)) ?? f.title, splat: splat)
        }
        var small = try await shrinker.minimize(start)
        // Keep the boot prologue so the trace replays on its own.
        var model = guest.session.freshModel(options: f.trace.options)
        small.steps = guest.session.bootRegions.map { Step($0, expect: .ok) }
            + guest.session.splitPrologue(small.steps).rest.map { Step($0.op, expect: model.apply($0.op)) }
        return small
    }
}
