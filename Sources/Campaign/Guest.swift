import Foundation
import DmemModel
import Fuzz
import Trace
import Splat
import VM

/// Owns the current guest and replaces it when it is dirty: reset in place when the model can
/// drive it back to the boot state, a new boot otherwise (after a splat, a hang, a failed reset).
/// Guests come from `pool` (QemuPool for a real kernel): the campaign needs no more of a machine
/// than the `Machine` protocol.
public final class Guest {
    public let pool: any MachinePool
    let profile: KernelProfile?
    let kcov: Bool
    public private(set) var session: Session
    /// Guests started, and how many of them were restored from the booted guest's snapshot.
    public private(set) var boots = 1
    public private(set) var restores = 0
    /// The session is in its boot state (just booted, or reset after the last run).
    var ready = true
    /// Throw a used guest away instead of resetting it when the next one comes from the
    /// snapshot: a restore (about 0.9 s with the session) costs what a reset does (0.5–1.2 s
    /// under TCG), and a reset after a leaking candidate fails and needs the restore anyway.
    /// The minimizer sets it; with cold boots (`--no-snapshot`) the reset stays.
    public var restoreInsteadOfReset = false

    public init(profile: KernelProfile? = nil, kcov: Bool = true, pool: any MachinePool) throws {
        self.pool = pool; self.profile = profile; self.kcov = kcov
        session = try Session(machine: try pool.create(), profile: profile, kcov: kcov)
        counted()
    }

    /// Counts the guest just started in `restores` when it came from the snapshot.
    private func counted() { if session.vm.bootKind == .restored { restores += 1 } }

    /// "3 guests (2 restored from the snapshot)" for progress lines.
    public var startsDescription: String {
        "\(boots) guest\(boots == 1 ? "" : "s")" + (restores > 0 ? " (\(restores) restored from the snapshot)" : "")
    }

    /// Where the last new guest's time went: the old one stopped, the VM started, the session set up.
    public private(set) var lastStart = ""
    /// Where the last `replayClean`'s time went: the replay (and splat wait), the reset after it.
    public private(set) var lastRun = ""

    public func reboot() throws {
        let t0 = ContinuousClock.now
        session.vm.stop(grace: 0)  // the old guest's state is not needed, only its console file
        session.vm.cleanup()
        let t1 = ContinuousClock.now
        session = try Session(machine: try pool.create(), profile: profile, kcov: kcov)
        lastStart = "stop \(t1 - t0), QEMU start to agent ready \(String(format: "%.2f", session.vm.readySeconds ?? -1)) s (\(session.vm.bootKind.rawValue)), with the session \(ContinuousClock.now - t1)"
        boots += 1
        counted()
        ready = true
    }

    /// A guest in boot state: this one if the last run was reset, else a new boot.
    public func clean() async throws -> Session {
        if ready, session.vm.isRunning { return session }
        try reboot()
        return session
    }

    /// Splats that came while a run's state was torn down, and the teardown ops that were run.
    public struct TeardownSplat: Sendable {
        public var splats: [Splat]
        public var teardown: [Op]
    }

    /// After a run that left `model` behind and had seen `splatsSeen` console splats: resets the
    /// guest in place (the next `clean()` keeps it) or leaves it to be booted anew. Splats the
    /// reset saw belong to that run.
    public func finish(after model: Model, splatsSeen: Int) async -> TeardownSplat? {
        ready = false
        guard session.vm.isRunning else { return nil }
        switch await session.reset(from: model, splatsSeen: splatsSeen) {
        case .clean: ready = true; return nil
        case .failed: return nil
        case let .splat(s, teardown): return TeardownSplat(splats: s, teardown: teardown)
        }
    }

    public func stop() { session.vm.poweroff() }

    /// One trace in a clean guest.
    public struct Run {
        /// nil when the guest stopped answering (`failure` says how).
        public var result: ReplayResult?
        public var failure: Error?
        /// Splats the trace's own ops caused.
        public var splats: [Splat]
        /// Splats that came while the trace's state was torn down after it (`teardown` appended
        /// to the trace reproduces them).
        public var teardown: TeardownSplat? = nil
        public let session: Session

        /// The finding the run turned up: a divergence, a splat of the trace's ops, else one of
        /// its teardown (the trace with the teardown ops appended).
        public func finding(of t: Trace) -> Finding? {
            guard let r = result else { return nil }
            // A divergent or splatting run was not reset: the agent's state dump is the trace's.
            if r.divergence != nil || !splats.isEmpty,
               let f = r.finding(of: t, splats: splats, console: session.vm.console,
                                 kernelState: (try? session.vm.agent.state()) ?? "") { return f }
            guard let td = teardown else { return nil }
            var executed = t
            executed.profile = r.model.profile; executed.alsoHoldsFor = []; executed.steps = r.executed
            return Finding.duringTeardown(executed, model: r.model, teardown: td, session: session)
        }
    }

    /// Replays `t` in a guest brought back to its boot state (reset, or a new boot after a splat,
    /// a hang, a divergence or `markDirty()`), waiting up to `splatWait` seconds for splats it
    /// caused, then resets the guest for the next run.
    public func replayClean(_ t: Trace, splatWait: Double = 1) async throws -> Run {
        let s = try await clean()
        ready = false
        let before = s.vm.splats().count
        var run = Run(result: nil, failure: nil, splats: [], session: s)
        let t0 = ContinuousClock.now
        do { run.result = try await s.replay(t) } catch { run.failure = error }
        let all = s.vm.awaitSplats(moreThan: before, timeout: splatWait)
        run.splats = Array(all.dropFirst(before))
        let t1 = ContinuousClock.now
        // After a divergence the kernel is not where the model is: boot afresh.
        let restores = restoreInsteadOfReset && s.vm.bootKind == .restored
        if let r = run.result, r.divergence == nil, run.splats.isEmpty, !restores {
            run.teardown = await finish(after: r.model, splatsSeen: all.count)
        }
        lastRun = "replay \(t1 - t0), reset \(ContinuousClock.now - t1)"
        return run
    }

    /// The next `clean()` boots a new guest instead of using this one.
    public func markDirty() { ready = false }
}

extension Finding {
    /// A splat that came while dmemfuzz tore down `executed`'s state (`Session.teardown`): the
    /// finding's trace is `executed` with the teardown ops appended (their expectations the
    /// model's), so a replay, a minimization and a reproducer run the op that splatted.
    public static func duringTeardown(_ executed: Trace, model: Model, teardown: Guest.TeardownSplat, session: Session) -> Finding {
        var t = executed
        var m = ModelExecutor(model)
        t.steps += teardown.teardown.map { Step($0, expect: m.apply($0)) }
        var f = Finding(kind: .splat, title: teardown.splats.first?.title ?? "splat during teardown", trace: t,
                        index: t.steps.count - 1, divergence: nil, splats: teardown.splats, console: session.vm.console,
                        modelTree: model.describe(), kernelState: (try? session.vm.agent.state()) ?? "(guest did not answer)")
        f.interfaces = session.interfaces.summary
        f.duringTeardown = true
        return f
    }
}

/// The finding did not happen again when its trace was replayed in a clean guest.
public struct NotReproducible: Error, CustomStringConvertible {
    public var title: String
    public var description: String { "'\(title)' does not happen again when its trace is replayed in a clean guest" }
}

/// Shrinks a finding on the kernel: every candidate runs in a clean guest and must reproduce a
/// finding with the same title (for an allocation's eviction decision, the same shrinkClass).
/// With `jobs` above 1, that many guests of the pool run candidates at once, each on a thread of
/// its own (`Shrinker.width`; the minimized trace is the one a single guest gives).
public struct KernelMinimizer {
    public let guest: Guest
    public var maxAttempts = 300
    /// Guests that run candidates at once: `guest` and jobs - 1 more of its pool.
    public var jobs = 1
    /// Each candidate's verdict and where its time went (`minimize --log-level debug`).
    public var trace: (@Sendable (String) -> Void)? = nil
    public init(guest: Guest, jobs: Int = 1) { self.guest = guest; self.jobs = max(1, jobs) }

    /// Two guests where the host has two cores or more: each candidate is mostly guest time (one
    /// vCPU busy under TCG), so two run in about the time of one.
    public static var defaultJobs: Int { min(2, ProcessInfo.processInfo.activeProcessorCount) }

    /// `title` is the finding's, or for a divergence its `Finding.shrinkClass`.
    public func reproduces(_ t: Trace, title: String, splat: Bool) async throws -> Bool {
        try await Self.reproduces(t, title: title, splat: splat, on: guest, trace: trace)
    }

    static func reproduces(_ t: Trace, title: String, splat: Bool, on guest: Guest, trace: (@Sendable (String) -> Void)?) async throws -> Bool {
        // A splat finding leaves the kernel tainted: every candidate gets a new boot.
        if splat { guest.markDirty() }
        let t0 = ContinuousClock.now, starts = guest.boots
        let run = try await guest.replayClean(t, splatWait: splat ? 2 : 0)
        let verdict: Bool
        if let r = run.result {
            verdict = splat ? run.splats.contains { $0.title == title }
                : r.divergence.map { !$0.inconclusive && (Finding.title(for: $0) == title || Finding.shrinkClass(for: $0) == title) } ?? false
        } else { verdict = title == "guest stopped answering" }
        trace?("candidate of \(t.steps.count) ops: \(verdict ? "reproduces" : "does not") in \(ContinuousClock.now - t0): \(guest.lastRun)"
               + (guest.boots > starts ? " (new guest: \(guest.lastStart))" : " (guest reset)"))
        return verdict
    }

    /// The minimized trace, with the model's outcomes as expectations (what a fixed kernel does).
    public func minimize(_ f: Finding) async throws -> Trace {
        let splat = f.kind != .divergence
        guest.restoreInsteadOfReset = true
        defer { guest.restoreInsteadOfReset = false }
        var steps = f.trace.steps
        if f.index + 1 < steps.count { steps.removeSubrange((f.index + 1)...) }
        var start = f.trace
        start.steps = steps
        // A finding that does not happen again in a clean guest (a guest killed from outside, a
        // flaky splat) would make every candidate of ddmin a boot that proves nothing.
        guard try await reproduces(start, title: f.title, splat: splat) else { throw NotReproducible(title: f.title) }
        let title = f.divergence.map(Finding.shrinkClass(for:)) ?? f.title
        var shrinker = Shrinker(maxAttempts: maxAttempts) { [self] candidate in
            try await reproduces(candidate, title: title, splat: splat)
        }
        // More guests of the same pool, restored from its snapshot, for candidates run at once.
        var helpers: [Guest] = []
        defer { for h in helpers { h.stop() } }
        for _ in 1..<jobs {
            do {
                let h = try Guest(profile: guest.profile, kcov: guest.kcov, pool: guest.pool)
                h.restoreInsteadOfReset = true
                helpers.append(h)
            } catch { trace?("minimizing with \(1 + helpers.count) guests: another did not start: \(error)"); break }
        }
        if !helpers.isEmpty {
            let guests = [guest] + helpers, log = trace
            shrinker.width = guests.count
            shrinker.stillFailsEach = { candidates in
                let work = Array(zip(candidates, guests))
                return try await Jobs.each(work) { job, _ in
                    try await Self.reproduces(job.0, title: title, splat: splat, on: job.1, trace: log)
                }.map { try $0.get() }
            }
        }
        var small = try await shrinker.minimize(start)
        // Keep the boot prologue so the trace replays on its own.
        var model = guest.session.freshModel(options: f.trace.options)
        small.steps = guest.session.bootRegions.map { Step($0, expect: .ok) }
            + guest.session.splitPrologue(small.steps).rest.map { Step($0.op, expect: model.apply($0.op)) }
        return small
    }
}
