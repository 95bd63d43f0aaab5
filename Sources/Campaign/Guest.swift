import DmemModel
import Fuzz
import Trace
import VM

/// Owns the current guest and replaces it when it is dirty: reset in place when the model can
/// drive it back to the boot state, a new boot otherwise (after a splat, a hang, a failed reset).
public final class Guest {
    let makeVM: () throws -> VirtualMachine
    let profile: KernelProfile?
    public private(set) var session: Session
    public private(set) var boots = 1

    public init(profile: KernelProfile? = nil, makeVM: @escaping () throws -> VirtualMachine) throws {
        self.makeVM = makeVM; self.profile = profile
        session = try Session(vm: try makeVM(), profile: profile)
    }

    public func reboot() throws {
        session.vm.stop()
        session.vm.cleanup()
        session = try Session(vm: try makeVM(), profile: profile)
        boots += 1
    }

    /// A guest in boot state, given the model of what the last run left behind.
    public func clean(after model: Model?, splatted: Bool = false) async throws -> Session {
        if !splatted, session.vm.isRunning, let model, await session.reset(from: model) { return session }
        try reboot()
        return session
    }

    public func stop() { session.vm.poweroff() }
}

/// Shrinks a finding on the kernel: every candidate runs in a clean guest and must reproduce a
/// finding with the same title.
public struct KernelMinimizer {
    public let guest: Guest
    public var maxAttempts = 300
    public init(guest: Guest) { self.guest = guest }

    public func reproduces(_ t: Trace, title: String, splat: Bool, last: inout Model?) async throws -> Bool {
        let s = try await guest.clean(after: last, splatted: splat)
        let before = s.vm.splats().count
        let r: ReplayResult
        do { r = try await s.replay(t) } catch {
            last = nil
            return title == "guest stopped answering"
        }
        last = r.model
        if splat {
            let all = s.vm.awaitSplats(moreThan: before, timeout: 2)
            return all.dropFirst(before).contains { $0.title == title }
        }
        return r.divergence.map(Finding.title(for:)) == title
    }

    /// The minimized trace, with the model's outcomes as expectations (what a fixed kernel does).
    public func minimize(_ f: Finding) async throws -> Trace {
        var last: Model? = nil
        let splat = f.kind != .divergence
        var steps = f.trace.steps
        if f.index + 1 < steps.count { steps.removeSubrange((f.index + 1)...) }
        let start = Trace(profile: f.trace.profile, options: f.trace.options, steps: steps)
        var shrinker = Shrinker(maxAttempts: maxAttempts) { [self] candidate in
            try await reproduces(candidate, title: f.title, splat: splat, last: &last)
        }
        var small = try await shrinker.minimize(start)
        // Keep the boot prologue so the trace replays on its own.
        var model = guest.session.freshModel(options: f.trace.options)
        small.steps = guest.session.bootRegions.map { Step($0, expect: .ok) }
            + guest.session.splitPrologue(small.steps).rest.map { Step($0.op, expect: model.apply($0.op)) }
        return small
    }
}
