import DmemModel
import Fuzz
import Trace
import Splat
import VM
import Foundation

/// A fuzzing campaign against one guest: generated batches run in lockstep until a finding,
/// the op budget or the deadline.
public struct CampaignConfig: Sendable {
    public var seed: UInt64 = 1
    public var ops: Int = 10_000
    public var duration: Double? = nil
    public var batch: Int = 16
    public var options: ModelOptions = []
    /// Ops a round runs before generating its own (a prefix of a corpus trace), so coverage
    /// found once is a starting point rather than luck to find again.
    public var prefix: [Op] = []
    /// Every this many batches, a batch that reads every dmem.* file of the whole tree, so state
    /// no op happened to read (partial multi-line writes, offline resets, ancestors' usage) is
    /// compared too. 0: never.
    public var treeCheckEvery = 6
    /// The slice of the campaign's rounds this run does (`fuzz --shard K/N`).
    public var shard = Shard.whole
    /// Share of the generated ops that are racing groups (`fuzz --race-percent`).
    public var racePercent = CampaignRunner.racePercent
    public var progress: (@Sendable (String) -> Void)? = nil
    public var stop: StopFlag? = nil
    public init() {}
}

public struct CampaignResult: Sendable {
    /// "N signatures (K KCOV edges and PCs)": op signatures and the counted files' KCOV edges and PCs together.
    public static func describe<S: Sequence>(_ signatures: S) -> String where S.Element == String {
        var n = 0, k = 0
        for s in signatures { n += 1; if s.hasPrefix("kcov ") { k += 1 } }
        return "\(n) signatures (\(k) KCOV edges and PCs)"
    }

    public var executed: Int
    public var seconds: Double
    public var finding: Finding?
    /// The round ended at a divergence the oracle cannot stand behind (Divergence.inconclusive):
    /// not a finding; the guest is in a state the model lost.
    public var inconclusive: Divergence? = nil
    public var signatures: Set<String>
    /// What was executed, with the kernel's outcomes (boot prologue first).
    public var trace: Trace? = nil
    /// The model after the last op: what a reset has to undo.
    public var model: Model? = nil
    /// Console splats seen when the round ended (the reset after it looks for more).
    public var splatsSeen = 0
}

public enum CampaignRunner {
    /// Share of a campaign's ops that are racing groups (`par`, issue 12).
    public static let racePercent = 6

    /// The generator for what `session`'s kernel can run, and the trace its ops go into (the boot
    /// regions, the options and `requires` that kernel needs).
    public static func generator(for session: Session, seed: UInt64, options: ModelOptions, racePercent: Int = CampaignRunner.racePercent) -> (Generator, Trace) {
        // A kernel carrying the dmem_selftest module gets its region as a further charge source.
        let selftest = session.modules.contains("dmem_selftest")
        var dynamic: [(name: String, size: UInt64)] = [("vkms/dev1", UInt64(64) << 20)]
        if selftest { dynamic.append((Model.selftestRegion, UInt64(256) << 20)) }
        // A kernel with the vgem charge transfer gets `transfer` ops, under the model's dialect.
        let transfer = session.modules.contains("transfer")
        var genConfig = GeneratorConfig(regions: [], dynamicRegions: dynamic, modelOnly: false)
        genConfig.transfer = transfer
        genConfig.racePercent = racePercent
        // A kernel with failslab's stack filter gets `fail N op`s (7.2.13 and 7.3.4 have the same
        // dmemcs_alloc and pool allocation, and both TTMs pass the -ENOMEM up).
        genConfig.faults = session.modules.contains("failslab")
        // The test drivers' show_fdinfo: `fork` and `fdinfo` ops.
        genConfig.fdinfo = session.modules.contains("fdinfo")
        var trace = Trace(profile: session.profile, options: transfer ? options.union([.chargeTransfer]) : options,
                          steps: session.bootRegions.map { Step($0, expect: .ok) })
        if selftest { trace.requires = ["dmem_selftest"] }
        if transfer { trace.requires.append("transfer") }
        if genConfig.faults { trace.requires.append("failslab") }
        if genConfig.fdinfo { trace.requires.append("fdinfo") }
        return (Generator(seed: seed, config: genConfig), trace)
    }

    /// Runs generated ops in lockstep on a booted session.
    public static func run(_ session: Session, config: CampaignConfig) async -> CampaignResult {
        let start = Date()
        var (gen, trace) = generator(for: session, seed: config.seed, options: config.options, racePercent: config.racePercent)
        let options = trace.options
        var lockstep = Lockstep(model: session.freshModel(options: options), subject: session.kernel)
        var pending = config.prefix[...]
        var batches = 0
        var signatures = Set<String>()
        // What the reset before this round covered is not this round's.
        if session.kcov { _ = try? session.kernel.coverage() }
        var splatCount = session.vm.splats().count
        var lastReport = Date()
        func done(_ finding: Finding?, inconclusive: Divergence? = nil) -> CampaignResult {
            CampaignResult(executed: lockstep.executed.count, seconds: Date().timeIntervalSince(start), finding: finding, inconclusive: inconclusive,
                           signatures: signatures, trace: trace, model: lockstep.model.model, splatsSeen: splatCount)
        }
        while lockstep.executed.count < config.ops && !(config.stop?.isSet ?? false) {
            if let d = config.duration, Date().timeIntervalSince(start) >= d { break }
            var look = lockstep.model
            var ops: [Op] = []
            batches += 1
            if config.treeCheckEvery > 0 && batches % (config.treeCheckEvery + 1) == 0 {
                ops = look.model.snapshot().map { .read($0.0, file: $0.1) }
                // and what the kernel has beyond the model, so the trace records it for a later model
                for p in look.model.paths where !session.interfaces.files.isEmpty {
                    ops += session.interfaces.files.map { .read(p, file: $0) }
                }
            }
            for _ in 0..<(ops.isEmpty ? config.batch : 0) {
                let op: Op
                if let p = pending.popFirst() { op = p; gen.observe(p) } else { op = gen.next(look.model) }
                _ = look.apply(op)
                ops.append(op)
            }
            let before = lockstep.executed.count
            var pre = lockstep.model
            let divergence: Divergence?
            do {
                divergence = try await lockstep.run(ops)
            } catch {
                trace.steps += lockstep.executed[before...]
                let splats = session.vm.awaitSplats(moreThan: splatCount, timeout: 5)
                return done(finding(session, trace, index: trace.steps.count - 1, divergence: nil,
                                    splats: Array(splats.dropFirst(splatCount)), hung: true, lockstep.model.model))
            }
            trace.steps += lockstep.executed[before...]
            for s in lockstep.executed[before...] {
                let m0 = pre.model
                _ = pre.apply(s.op)
                // A limit write reports no evictions; what 7.3 reclaim evicted is what stopped
                // being resident.
                var evicted = s.expect?.evicted ?? []
                var op = s.op
                if case let .by(_, inner) = op { op = inner }
                if case .write = op, s.expect?.errno == nil {
                    evicted = Array(Set(m0.residentBuffers).subtracting(pre.model.residentBuffers)).sorted()
                }
                signatures.insert(signature(s, before: m0, evicted: evicted))
            }
            if session.kcov, let edges = try? session.kernel.coverage() {
                for e in edges { signatures.insert("kcov " + String(e, radix: 16)) }
            }
            let splats = session.vm.splats()
            if let d = divergence, d.inconclusive, splats.count == splatCount { return done(nil, inconclusive: d) }
            if splats.count > splatCount || divergence != nil {
                let all = splats.count > splatCount ? session.vm.awaitSplats(moreThan: splatCount, timeout: 3) : splats
                return done(finding(session, trace, index: divergence.map { session.bootRegions.count + $0.index } ?? trace.steps.count - 1,
                                    divergence: divergence, splats: Array(all.dropFirst(splatCount)), hung: false,
                                    lockstep.model.model))
            }
            splatCount = splats.count
            if let p = config.progress, Date().timeIntervalSince(lastReport) >= 5 {
                lastReport = Date()
                let t = Date().timeIntervalSince(start)
                p(String(format: "%d ops, %.0f ops/s, %@, 0 findings", lockstep.executed.count, Double(lockstep.executed.count) / t,
                         CampaignResult.describe(signatures)))
            }
        }
        return done(nil)
    }

    /// Coverage proxy: op kind x outcome class x whether the target is nested; for an op that
    /// evicted, the shape of the eviction in the model state before it (Model.evictionShape).
    static func signature(_ s: Step, before m: Model? = nil, evicted: [BufferID]? = nil) -> String {
        let e = evicted ?? s.expect?.evicted ?? []
        var o = s.expect.map { $0.errno?.description ?? (e.isEmpty ? "ok" : "evict") } ?? "-"
        if let m, !e.isEmpty {
            var actor: ActorID?
            if case let .alloc(a, _, _, _) = s.op { actor = a }
            o += m.evictionShape(actor: actor, evicted: e)
        }
        let op = TracePrinter.summary(s.op)
        // An op an actor performs is its own kind: "as write dmem.max d1 EACCES".
        let file = op.file.map { " " + $0 } ?? ""
        let depth = op.path.map { " d\(min($0.depth, 2))" } ?? ""
        return "\(op.byActor ? "as " : "")\(op.verb)\(file)\(depth) \(o)"
    }

    static func finding(_ session: Session, _ trace: Trace, index: Int, divergence: Divergence?, splats: [Splat], hung: Bool, _ model: Model) -> Finding {
        let kind: Finding.Kind = !splats.isEmpty ? .splat : (hung ? .hang : .divergence)
        let title = splats.first?.title ?? divergence.map(Finding.title(for:)) ?? "guest stopped answering"
        let state = (try? session.vm.agent.state()) ?? "(guest did not answer)"
        var f = Finding(kind: kind, title: title, trace: trace, index: index, divergence: divergence, splats: splats,
                        console: session.vm.console, modelTree: divergence?.modelTree ?? model.describe(), kernelState: state)
        f.interfaces = session.interfaces.summary
        return f
    }
}
