import ArgumentParser
import Campaign
import DmemModel
import Dispatch
import Foundation
import Logging
import Trace
import VM

/// Lockstep fuzzing of the real kernel.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz a kernel in lockstep with the model. Exit 0: nothing found; 1: a finding was written; 2: usage or setup error.")

    @OptionGroup var guest: GuestOptions
    @Option(parsing: .unconditional, help: "Generator seed.", transform: Seed.parse) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Stop after this many ops.", transform: Count.parser(Count.ops)) var ops: Int = 1_000_000
    @Option(parsing: .unconditional, help: "Stop after this long: 90s, 10m, 1h.", transform: FuzzDuration.parse) var duration: FuzzDuration?
    @Option(parsing: .unconditional, help: "Ops per batch sent to the guest (1...4096).", transform: Count.parser(1...4096)) var batch: Int = 16
    @Option(parsing: .unconditional, help: "Ops per round (each round starts from a clean guest).", transform: Count.parser(Count.ops)) var round: Int = 400
    @Option(name: .customLong("option"), help: "Model option (repeatable).") var options: [ModelOption] = []
    @Option(name: .customLong("max-findings"), parsing: .unconditional, help: "Stop after this many new findings (default: go on until the budget).",
            transform: Count.parser(1...1_000_000)) var maxFindings: Int?
    @Option(help: "Override the model profile (default: from the kernel release).") var profile: KernelProfile?
    @Option(help: "Where findings go (default: findings; with --shard, <campaign>/findings).") var findings: String?
    @Option(name: .customLong("campaign"), help: "Campaign directory (state.json and the corpus of traces that reached new signatures; default: campaigns/default, with --shard K/N campaigns/shard-K-of-N).")
    var campaignDir: String?
    @Option(help: "Run slice K of N of the campaign (0 <= K < N): rounds K, K+N, ... with --seed, so N machines never repeat each other's rounds; `dmemfuzz corpus merge` joins them.",
            transform: ShardArgument.parse) var shard: Shard?
    @Option(name: .customLong("race-percent"), parsing: .unconditional, help: "Share of generated ops that are racing groups (0...100; default 6). Racing rounds are not deterministic: a round run again may take other orders.",
            transform: Count.parser(0...100)) var racePercent: Int = CampaignRunner.racePercent
    @Flag(help: "Continue the campaign in --campaign from where it stopped.") var resume = false
    @Flag(help: "Do not minimize findings.") var noMinimize = false
    @Flag(help: "Leave KCOV off (coverage is then op signatures only; lockstep runs a few percent faster).") var noKcov = false
    @Option(help: "Seed traces (files or directories; repeatable): half the rounds start from a prefix of one of them or of the campaign's corpus.")
    var seeds: [String] = ["corpora"]

    @Option(parsing: .unconditional, help: "Guests fuzzing at once (1...64), each with its own seed stream (shard j of N within the campaign) and its own <campaign>/job-j, sharing signatures, findings and the stop; `corpus merge` joins their corpora.",
            transform: Count.parser(1...64)) var jobs: Int = 1

    var campaign: String { campaignDir ?? (shard ?? .whole).defaultCampaign }
    var findingsDir: String { findings ?? (shard == nil ? "findings" : campaign + "/findings") }
    /// Each job's campaign directory: the campaign itself for one job.
    var jobDirs: [String] { jobs == 1 ? [campaign] : (0..<jobs).map { (campaign as NSString).appendingPathComponent("job-\($0)") } }

    /// Job j of N runs shard j of N within this campaign's shard: no two jobs (nor shards) share a round.
    func jobShard(_ j: Int) -> Shard {
        let s = shard ?? .whole
        return Shard(index: s.index * jobs + j, count: s.count * jobs)
    }

    func run() async throws {
        var cfg = CampaignConfig()
        cfg.racePercent = racePercent
        cfg.seed = seed; cfg.batch = batch; cfg.options = Set(options)
        cfg.duration = duration?.seconds
        // Input first, so a bad campaign or seed is named before a kernel is built or booted.
        let seedTraces = try TraceFiles.seeds(seeds)
        let store: FindingStore
        do {
            for d in jobDirs {
                _ = try CampaignDriver.load(dir: d, seed: seed, resume: resume)
                try AtomicFile.checkWritable(d)
            }
            store = try FindingStore(root: findingsDir)
        } catch { throw BadInput("\(error)") }
        let shared = jobs > 1 ? SharedCampaign() : nil
        var drivers: [CampaignDriver] = []
        defer { for d in drivers { d.guest.stop() } }
        do {
            let pool = try await guest.pool()
            for (j, d) in jobDirs.enumerated() {
                let g = try Guest(profile: profile, kcov: !noKcov, pool: pool)
                var c = cfg
                c.shard = jobShard(j)
                c.ops = ops / jobs + (j < ops % jobs ? 1 : 0)
                let driver: CampaignDriver
                do { driver = try CampaignDriver(guest: g, dir: d, findings: store, config: c, resume: resume, shared: shared) }
                catch { g.stop(); throw BadInput("\(error)") }
                driver.roundOps = round
                driver.seeds = seedTraces
                driver.minimize = !noMinimize
                driver.maxFindings = maxFindings
                if jobs > 1 { driver.minimizeJobs = 1 }
                drivers.append(driver)
            }
        } catch let e as BadInput { throw e } catch { throw GuestOptions.startError(error) }
        // Ctrl-C: finish the batch in flight, save state and corpus, power the guests off.
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let log = guest.logging.logger()
        source.setEventHandler { [stops = drivers.map(\.stopRequested)] in
            log.notice("\nfuzz: stopping after this batch (state is saved; --resume continues)")
            for s in stops { s.set() }
        }
        source.resume()
        let s = drivers[0].guest.session
        print("kernel \(s.release), profile \(s.profile), regions: \(s.bootRegions.map(TracePrinter.op).joined(separator: ", "))")
        if let i = s.interfaces.summary { print("\(i) (the profile does not model them: read in the whole-tree reads, not compared)") }
        for w in s.seriesWarnings { print("series warning (W=1, not in the base tree): \(w)") }
        let t0 = ContinuousClock.now
        let found = try await Jobs.run(drivers) { j, line in log.info(jobs == 1 ? "fuzz: \(line)" : "fuzz: job \(j): \(line)") }
        let wall = (ContinuousClock.now - t0) / .seconds(1)
        let ops = drivers.reduce(0) { $0 + $1.state.ops }
        let signatures = Set(drivers.flatMap(\.state.signatures)).count
        let titles = Set(drivers.flatMap(\.state.findings)).count
        if jobs == 1, let st = drivers.first?.state {
            print(String(format: "%d ops in %.1f s of lockstep (%.0f ops/s), %d signatures, %d findings (%d new this run)",
                         st.ops, st.seconds, Double(st.ops) / max(st.seconds, 0.001), signatures, titles, found.count))
        } else {
            print(String(format: "%d ops in %.1f s with %d jobs (%.0f ops/s this run), %d signatures, %d findings (%d new this run); job corpora in %@/job-*/corpus",
                         ops, wall, jobs, Double(drivers.reduce(0) { $0 + $1.opsThisRun }) / max(wall, 0.001), signatures, titles, found.count, campaign))
        }
        let inconclusive = drivers.reduce(0) { $0 + ($1.state.inconclusiveRounds ?? 0) }
        if inconclusive > 0 {
            print("\(inconclusive) round\(inconclusive == 1 ? "" : "s") ended inconclusive (the oracle ran out of room for a racing group's states; not findings)")
        }
        // Patch coverage: the series' lines (or dmem's) the campaign's KCOV PCs reached.
        if let cov = await CoverageReport.make(kernel: s.vm.kernel, signatures: drivers.flatMap(\.state.signatures)) {
            let page = URL(fileURLWithPath: campaign).appendingPathComponent("coverage.html")
            try? AtomicFile.write(Data(cov.html(title: "dmemfuzz \(campaign), kernel \(s.release)").utf8), to: page)
            print("\(cov.summary) (\(page.path))")
        }
        for f in found { print("FINDING \(f)") }
        if !found.isEmpty { throw ExitCode(1) }
    }
}
