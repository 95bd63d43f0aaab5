import DmemModel
import Fuzz
import Trace
import VM

extension Session {
    /// Brings the running guest back to its boot state using what the model knows is alive:
    /// actors exit (freeing their buffers), dynamic regions go, boot regions come back, dmem is
    /// re-enabled at the root, cgroups are removed deepest first, and dying cgroups must drain.
    /// Returns false when the guest does not get there; the caller then boots a new guest.
    public func reset(from model: Model) async -> Bool {
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
        guard let out = try? await kernel.execute(ops) else { return false }
        let n = ops.count
        var fresh = freshModel(options: [])
        let wantCapacity = fresh.apply(.read(.root, file: "dmem.capacity"))
        let wantCurrent = fresh.apply(.read(.root, file: "dmem.current"))
        return out[n - 3] == .number(0) && out[n - 2] == wantCapacity && out[n - 1] == wantCurrent
            && zip(ops, out).allSatisfy { op, o in if case .rmdir = op { return o == .ok }; return true }
    }
}
