import ArgumentParser
import Campaign
import DmemModel
import Kernel
import VM
import Fuzz
import Trace
import Foundation

/// Speed, measured here rather than asserted in tests. Figures are reported with ratios from
/// the same run because these machines are noisy.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks: `bench model` (model ops/s), `bench lockstep` (boot-to-ready, lockstep ops/s vs the raw guest cost of the same ops), `bench boot` (cold boot vs snapshot restore).")

    /// What `bench` measures.
    enum Subject: String, CaseIterable, ExpressibleByArgument {
        case model, lockstep, boot, rebuild
    }

    @Argument(help: "What to measure: model, lockstep, boot or rebuild.") var what: Subject = .model
    @Option(parsing: .unconditional, help: "Ops to run (model: 2000000, lockstep: 2000 by default).", transform: Count.parser(Count.ops)) var ops: Int?
    @Option(help: "Profile.") var profile: KernelProfile = .v7_3
    @Option(parsing: .unconditional, help: "Ops per batch (lockstep; 1...4096).", transform: Count.parser(1...4096)) var batch: Int = 16
    @Option(parsing: .unconditional, help: "lockstep: guests run at once instead, as `fuzz --jobs` runs them, e.g. 1,2: prints each count's ops/s and its ratio to the first.",
            transform: JobCounts.parse) var jobs: [Int]?
    @OptionGroup var guest: GuestOptions

    func run() async throws {
        switch what {
        case .model: try await model(ops ?? 2_000_000)
        case .lockstep:
            if let jobs { try await scaling(jobs, ops: ops ?? 1000) } else { try await lockstep(ops ?? 2000) }
        case .rebuild: try await rebuild()
        case .boot: try await boot()
        }
    }

    func lockstep(_ n: Int) async throws {
        let t0 = Date()
        let vm = try await guest.makeVM()
        try vm.start()
        let session = try Session(machine: vm)
        defer { session.stop() }
        let boot = Date().timeIntervalSince(t0)
        _ = try session.vm.agent.stats()  // start counting from here
        var cfg = CampaignConfig()
        cfg.seed = 42; cfg.ops = n; cfg.batch = batch
        let r = await CampaignRunner.run(session, config: cfg)
        let rows = try session.vm.agent.stats().map { ($0.verb, $0.count, $0.seconds) }
        let guestSeconds = rows.reduce(0) { $0 + $1.2 }
        if let f = r.finding { print("finding saved: " + (try FindingStore(root: "findings").save(f, manifest: session.vm.kernel.dir))) }
        print(String(format: "boot to agent ready: %.2f s (QEMU start to ready %.2f s, %@)", boot, vm.readySeconds ?? -1, vm.accel.rawValue))
        print(String(format: "lockstep: %d ops in %.2f s = %.0f ops/s%@", r.executed, r.seconds, Double(r.executed) / r.seconds,
                     r.finding.map { " (stopped at a finding: \($0.title))" } ?? ""))
        print(String(format: "raw guest cost of the same ops: %.2f s = %.0f ops/s; lockstep runs at %.0f%% of raw",
                     guestSeconds, Double(r.executed) / guestSeconds, 100 * guestSeconds / r.seconds))
        print("per op in the guest (count, mean):")
        for (verb, c, t) in rows.sorted(by: { $0.2 > $1.2 }) {
            print(String(format: "  %-16@ %6d  %9.1f us  (%4.1f%% of guest time)", verb, c, 1e6 * t / Double(c), 100 * t / guestSeconds))
        }
        // The campaign left its state behind: back to the boot state first.
        if let m = r.model, case .clean = await session.reset(from: m, splatsSeen: session.vm.splats().count) {
            try await cLoop(session, ops: min(n, 600))
        } else { print("C-loop baseline: the guest did not reset after the campaign; skipped") }
        guard session.kcov else { return }
        // The same ops in a guest with KCOV left off: what coverage costs, measured in this run.
        let plainVM = try await guest.makeVM()
        try plainVM.start()
        let plain = try Session(machine: plainVM, kcov: false)
        defer { plain.stop() }
        let r2 = await CampaignRunner.run(plain, config: cfg)
        let on = Double(r.executed) / r.seconds, off = Double(r2.executed) / r2.seconds
        print(String(format: "same ops with KCOV off: %.0f ops/s; with KCOV on lockstep runs at %.0f%% of that", off, 100 * on / off))
    }

    /// `fuzz --jobs` scaling (issue 12): for each count k, k guests of one pool each run the same
    /// number of generated lockstep ops at once (seeds 42, 43, ...), each on a thread of its own
    /// (`Jobs.each`); ops/s is all jobs' ops over the wall time from the first start to the last
    /// end, and the ratio is against the first count's, measured in the same run.
    func scaling(_ counts: [Int], ops n: Int) async throws {
        let pool = try await guest.pool()
        print("lockstep with jobs: \(n) ops per job, batch \(batch), \(ProcessInfo.processInfo.activeProcessorCount) host cores")
        var first: Double?
        for k in counts {
            var sessions: [Session] = []
            for _ in 0..<k { sessions.append(try Session(machine: try pool.create())) }
            let batch = batch
            let t0 = ContinuousClock.now
            let results = await Jobs.each(sessions) { s, j -> CampaignResult in
                var cfg = CampaignConfig()
                cfg.seed = 42 &+ UInt64(j); cfg.ops = n; cfg.batch = batch
                return await CampaignRunner.run(s, config: cfg)
            }
            let wall = (ContinuousClock.now - t0) / .seconds(1)
            let rs = results.compactMap { try? $0.get() }
            for (r, s) in zip(rs, sessions) {
                if let f = r.finding { print("finding saved: " + (try FindingStore(root: "findings").save(f, manifest: s.vm.kernel.dir))) }
            }
            for s in sessions { s.stop() }
            let total = rs.reduce(0) { $0 + $1.executed }
            let rate = Double(total) / wall
            first = first ?? rate
            let perJob = rs.map { String(format: "%.0f", Double($0.executed) / $0.seconds) }.joined(separator: ", ")
            let stopped = rs.compactMap { $0.finding?.title }
            print(String(format: "jobs=%d: %d ops in %.1f s = %.0f ops/s (per job: %@ ops/s), %.2fx of jobs=%d%@", k, total, wall, rate, perJob,
                         rate / first!, counts[0], stopped.isEmpty ? "" : " (stopped at a finding: \(stopped.joined(separator: "; ")))"))
        }
    }

    /// The honest baseline (issue 14): one generated trace run in lockstep, then the same trace's
    /// `repro.c` (the kernel-only cost of exactly those ops: the same syscalls, a fork per actor,
    /// no agent, no model, no KCOV) in the same guest after a reset. The C run's time is the
    /// agent's `sh` round trip around it minus that of `sh true`.
    func cLoop(_ session: Session, ops n: Int) async throws {
        var (gen, trace) = CampaignRunner.generator(for: session, seed: 42, options: [])
        var exec = session.freshModel(options: trace.options)
        trace.steps += gen.steps(ops: n, on: &exec).dropFirst(gen.prologue().count)
        _ = try session.vm.agent.stats()  // the agent's per-verb guest time of this trace only
        let t0 = Date()
        let r = try await session.replay(trace)
        let lockSeconds = Date().timeIntervalSince(t0)
        let agentRows = try session.vm.agent.stats()
        let executed = r.executed.count - session.splitPrologue(r.executed).prologue.count
        if let d = r.divergence {
            print("C-loop baseline: the trace diverged (\(d.description.split(separator: "\n").prefix(3).joined(separator: ";"))); ratio over the \(executed) ops up to it")
        }
        trace.steps = r.executed
        guard case .clean = await session.reset(from: r.model, splatsSeen: session.vm.splats().count) else {
            print("C-loop baseline: the guest did not reset after the lockstep run; skipped"); return
        }
        try session.vm.agent.put("/tmp/repro", try await ReproBinary.build(try Repro.c(trace)))
        func timed(_ cmd: String) throws -> (Double, Int, String) {
            let t0 = Date(); let (st, out) = try session.vm.agent.shell(cmd, timeout: 600); return (Date().timeIntervalSince(t0), st, out)
        }
        let empty = (0..<3).map { _ in (try? timed("true").0) ?? 0 }.min() ?? 0
        let (total, status, out) = try timed("DMEMFUZZ_REPRO_TIMES=1 /tmp/repro")
        let cSeconds = max(total - empty, 1e-6)
        if status != 0 {
            let lines = out.split(separator: "\n")
            let bad = lines.indices.filter { lines[$0].hasPrefix("# >>> mismatch") }.map { "\(lines[$0 - 1]) (\(lines[$0].dropFirst(6)))" }
            print("C-loop baseline: repro.c exited \(status), \(bad.count) op(s) printed an outcome other than the model's" + (bad.isEmpty ? "" : ", first: \(bad[0])"))
        }
        let lock = Double(executed) / lockSeconds, cl = Double(executed) / cSeconds
        print(String(format: "C loop (repro.c of one %d-op generated trace, same guest): lockstep %.0f ops/s, C %.0f ops/s; lockstep at %.0f%% of the C loop (goal 50%%)",
                     executed, lock, cl, 100 * lock / cl))
        // Per op kind: the C loop's own time per op against the agent's guest-side time for the
        // same ops (the lockstep figure above adds the host round trips and the model on top).
        var cRows: [String: (Int, Double)] = [:]
        for line in out.split(separator: "\n") where line.hasPrefix("# time ") {
            let f = line.split(separator: " ")
            if f.count == 5, let n = Int(f[3]), let ns = Double(f[4]) { cRows[String(f[2])] = (n, ns / 1e9) }
        }
        let agent = Dictionary(agentRows.map { ($0.verb, ($0.count, $0.seconds)) }, uniquingKeysWith: { a, _ in a })
        print("per op kind, the same trace: count, C loop mean, agent in the guest mean, agent / C")
        for (verb, c) in cRows.sorted(by: { $0.value.1 > $1.value.1 }) {
            let a = agent[verb]
            let cMean = 1e6 * c.1 / Double(max(c.0, 1)), aMean = a.map { 1e6 * $0.1 / Double(max($0.0, 1)) }
            print(String(format: "  %-16@ %6d  %9.1f us  %@  %@", verb, c.0, cMean,
                         aMean.map { String(format: "%9.1f us", $0) } ?? "        - ",
                         aMean.map { String(format: "%5.1fx", $0 / max(cMean, 0.001)) } ?? "  -"))
        }
    }

    /// A clean guest two ways in one run: a cold boot (no snapshot) and a restore of the booted
    /// guest's snapshot (`Sources/VM/Snapshot.swift`), each from QEMU start to the agent answering.
    func boot() async throws {
        func up(snapshots: Bool) async throws -> QemuMachine {
            let vm = try await guest.makeVM(snapshots: snapshots)
            try vm.start()
            _ = try vm.agent.hello()
            return vm
        }
        let cold = try await up(snapshots: false)
        let phases = BootPhases(console: cold.console, readyUptime: cold.guestReadyUptime)
        cold.poweroff()
        let first = try await up(snapshots: true)  // saves the snapshot if there is none yet
        first.poweroff()
        var restores: [Double] = []
        for _ in 0..<3 {
            let vm = try await up(snapshots: true)
            vm.poweroff()
            guard vm.bootKind == .restored else { vm.keepWorkDir = true; throw ValidationError("the snapshot was not restored (see \(vm.workDir.path))") }
            restores.append(vm.readySeconds ?? -1)
        }
        let c = cold.readySeconds ?? -1, r = restores.sorted()[1]
        print(String(format: "cold boot to agent ready: %.2f s (guest uptime %@ s, %@)", c, cold.guestReadyUptime.map { String($0) } ?? "?", cold.accel.rawValue))
        let width = phases.phases.map(\.name.count).max() ?? 0
        for ph in phases.phases { print("  " + ph.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %6.2f s", ph.seconds)) }
        print("first guest with snapshots on: \(first.bootKind.rawValue), \(String(format: "%.2f", first.readySeconds ?? -1)) s")
        print(String(format: "snapshot restore to agent answering: %.2f s (median of %@); %.1fx faster than the cold boot",
                     r, restores.map { String(format: "%.2f", $0) }.joined(separator: ", "), c / r))
    }

    /// Incremental rebuild: a one-line change to kernel/cgroup/dmem.c as a series (a new comment
    /// line, unique per run so the build key is new), timed against the cached base build.
    func rebuild() async throws {
        let root = KernelBuild.packageRoot()
        let t0 = Date()
        let base = try await KernelBuild.build(root: root, version: guest.kernelVersion)
        let baseSeconds = Date().timeIntervalSince(t0)
        let src = base.dir.appendingPathComponent("src/kernel/cgroup/dmem.c")
        let lines = try String(contentsOf: src, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let marker = "/* dmemfuzz bench rebuild \(Int(Date().timeIntervalSince1970)) */"
        let patch = """
        --- a/kernel/cgroup/dmem.c
        +++ b/kernel/cgroup/dmem.c
        @@ -1,2 +1,3 @@
         \(lines[0])
        +\(marker)
         \(lines[1])

        """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-bench-rebuild.patch")
        try patch.write(to: file, atomically: true, encoding: .utf8)
        let t1 = Date()
        _ = try await KernelBuild.build(root: root, version: guest.kernelVersion, series: [file.path])
        let rebuild = Date().timeIntervalSince(t1)
        print(String(format: "base build lookup: %.1f s (cached)", baseSeconds))
        print(String(format: "one-line kernel/cgroup/dmem.c change: rebuilt in %.1f s (goal <= 60 s)", rebuild))
        print("full build of the base (from its manifest): \(try base.manifest().buildTimeSeconds) s")
    }

    func model(_ ops: Int) async throws {
        // Pre-generate so the figure is the model's cost, not the generator's.
        var gen = Generator(seed: 42, config: GeneratorConfig(modelOnly: false))
        var exec = ModelExecutor(profile: profile)
        let genStart = Date()
        let trace = gen.steps(ops: max(1, ops - gen.prologue().count), on: &exec).map(\.op)
        let genTime = Date().timeIntervalSince(genStart)
        var fresh = ModelExecutor(profile: profile)
        let start = Date()
        var errors = 0
        for op in trace { if fresh.apply(op)?.errno != nil { errors += 1 } }
        let t = Date().timeIntervalSince(start)
        print("model (\(profile)): \(trace.count) ops in \(String(format: "%.3f", t)) s = \(Int(Double(trace.count) / t)) ops/s (\(errors) returned an errno)")
        print("generator+model: \(Int(Double(trace.count) / genTime)) ops/s; model alone is \(String(format: "%.1f", genTime / t))x faster")
    }
}
