import DmemModel
import Trace

/// `fork` and `fdinfo` ops (`GeneratorConfig.fdinfo`: the kernel's test drivers print the drm
/// fdinfo memory keys). The review of the GEM buffer memory tracking RFC asked what a fork does
/// to per-process attribution: both processes hold one drm_file, so both show its memory, and it
/// stays allocated and charged after the allocator exits. So a fork is followed most of the time
/// by what tells: an allocation on the shared file, the parent's exit, and fdinfo reads of both.
extension Generator {
    mutating func fdinfoOp(_ m: Model) -> Op? {
        let actors = m.actors.keys.sorted()
        // Mostly an actor whose files hold buffers, and the region of one of them.
        let holding = actors.filter { !(m.buffers(of: $0) ?? []).isEmpty }
        guard let a = rng.pick(rng.chance(75) && !holding.isEmpty ? holding : actors) else { return nil }
        let regions = m.liveRegionNames.filter { Model.drmDriver(ofRegion: $0) != nil }
        if rng.chance(30), actors.count < config.maxActors {
            let child = nextActor
            let fork = Op.fork(a, child: child)
            if rng.chance(70), let r = rng.pick(regions) {
                // The parent exits first in half of them: the child keeps the file and its buffers.
                queuedRace = rng.chance(50) ? [.exit(a), .fdinfo(child, region: r)] : [.fdinfo(a, region: r), .fdinfo(child, region: r)]
            }
            return fork
        }
        let own = (m.buffers(of: a) ?? []).compactMap { m.regionName(buffer: $0) }.filter { m.liveRegionNames.contains($0) }
        switch rng.below(20) {
        case 0: return .fdinfo(a, region: "vkms/gone")          // no card: ENODEV
        case 1: return .fdinfo(nextActor + 7, region: rng.pick(regions) ?? "vgem/region0")   // no actor: ESRCH
        default:
            guard let r = rng.pick(rng.chance(80) && !own.isEmpty ? own : regions) else { return nil }
            return .fdinfo(a, region: r)
        }
    }
}
