import DmemModel
import Fuzz
import Trace
import Splat
import VM

/// What bringing a guest back to its boot state came to.
public enum ResetOutcome: Sendable {
    /// The guest is in its boot state: the next trace may run in it.
    case clean
    /// It did not get there (an op failed, a cgroup would not drain, the guest stopped answering).
    case failed
    /// The kernel splatted while the trace's state was torn down, or after the trace's own splat
    /// wait: the splats belong to the trace before, run with `teardown` appended.
    case splat([Splat], teardown: [Op])
}

extension Session {
    /// Seconds a reset that removed cgroups waits for a splat of their release.
    public static let lateSplatWait = 0.25

    /// The ops that bring the guest back to its boot state from what the model knows is alive:
    /// actors exit (freeing their buffers), dynamic regions go, boot regions come back, dmem is
    /// re-enabled at the root, cgroups are removed deepest first, and dying cgroups must drain.
    /// The last three ops are the checks `reset` reads.
    public func teardown(from model: Model) -> [Op] {
        var ops: [Op] = model.actors.keys.sorted().map { .exit($0) }
        let boot = bootRegions.compactMap { op -> String? in if case let .register(r, _) = op { return r }; return nil }
        for r in model.liveRegionNames where !boot.contains(r) { ops.append(.unregister(region: r)) }
        for op in bootRegions { if case let .register(r, _) = op, !model.liveRegionNames.contains(r) { ops.append(op) } }
        for p in model.paths.filter({ !$0.isRoot }).sorted(by: { $0.depth > $1.depth }) { ops.append(.rmdir(p)) }
        // Exactly the boot controllers: dmem, and no memory (a memcg keeps removed cgroups dying).
        ops.append(.write(.root, file: "cgroup.subtree_control", data: Array("-memory +dmem".utf8), nonblock: false))
        // A trace may have delegated the root itself: hand it back.
        ops.append(.delegate(.root, uid: 0))
        ops.append(.dying(.root))
        ops.append(.read(.root, file: "dmem.capacity"))
        ops.append(.read(.root, file: "dmem.current"))
        return ops
    }

    /// Runs `teardown(from:)` and checks the guest got back to its boot state. A splat on the
    /// console since the trace's own check (a late one, or one the teardown's exits and rmdirs
    /// caused: dmemcs_free, the last pool put) is the trace's, not the next one's: it comes back
    /// as `.splat`, and the caller boots a new guest.
    public func reset(from model: Model, splatsSeen before: Int) async -> ResetOutcome {
        let ops = teardown(from: model)
        let out = try? await kernel.execute(ops)
        // A removed cgroup's pools are put by dmemcs_free(), after an RCU grace period and on a
        // workqueue: a splat there reaches the console a little after the rmdir returned.
        let removed = ops.contains { if case .rmdir = $0 { return true }; return false }
        let now = vm.awaitSplats(moreThan: before, timeout: removed ? Self.lateSplatWait : 0)
        if now.count > before {
            let all = vm.awaitSplats(moreThan: before, timeout: 3)
            return .splat(Array(all.dropFirst(before)), teardown: ops)
        }
        guard let out else { return .failed }
        let n = ops.count
        var fresh = freshModel(options: [])
        let wantCapacity = fresh.apply(.read(.root, file: "dmem.capacity"))
        let wantCurrent = fresh.apply(.read(.root, file: "dmem.current"))
        let ok = out[n - 3] == .number(0) && out[n - 2] == wantCapacity && out[n - 1] == wantCurrent
            && zip(ops, out).allSatisfy { op, o in if case .rmdir = op { return o == .ok }; return true }
        return ok ? .clean : .failed
    }
}
