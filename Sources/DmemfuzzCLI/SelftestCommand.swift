import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Logging
import Trace
import Kernel
import VM

/// Does dmemfuzz catch known bugs? Each patch in vm/mutants/ is a deliberate bug in dmem.c or
/// page_counter.c; each is built, booted and attacked with the corpus, then with the fuzzer.
struct SelftestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Build each mutant kernel in vm/mutants/, run the corpus and a short campaign against it, report which were caught, how fast, and the minimized trace size.")

    @Option(help: "Mutant patches (default: vm/mutants/*.patch).") var mutant: [String] = []
    @Option(parsing: .unconditional, help: "Fuzzing time per mutant when the corpus does not catch it (0: corpus only).", transform: CheckDuration.parse)
    var duration: CheckDuration = .fuzz(FuzzDuration(seconds: 60, text: "60s"))
    @Option(help: "Corpus replayed first.") var corpus: [String] = ["corpora/regress"]
    @Option(help: "Where findings go, one directory per mutant.") var findings: String = "findings/selftest"
    @Option(help: "Kernel version the mutants apply to.") var kernelVersion: String = "7.3"
    @Flag(help: "Skip the corpus: only generated rounds (no seeds) may catch each mutant, which proves the fuzzer rather than a trace written for the mutant.")
    var noCorpus = false
    @Option(name: .customLong("race-percent"), parsing: .unconditional, help: "Share of generated ops that are racing groups (0...100; default 6, as `fuzz`).",
            transform: Count.parser(0...100)) var racePercent: Int = CampaignRunner.racePercent
    @OptionGroup var logging: LogOptions

    struct Row { var name: String; var caught: String; var seconds: Double; var minimized: Int?; var buildSeconds: Double; var minimizeSeconds = 0.0; var fuzzSeconds: Double? = nil }

    func run() async throws {
        let root = KernelBuild.packageRoot()
        var patches = mutant
        if patches.isEmpty {
            let dir = root.appendingPathComponent("vm/mutants")
            patches = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
                .filter { $0.hasSuffix(".patch") }.sorted().map { dir.appendingPathComponent($0).path }
        }
        guard !patches.isEmpty else { throw ValidationError("no mutants in vm/mutants/") }
        let traces = try TraceFiles.expand(corpus).map { try TraceFiles.load($0).0 }
        var rows: [Row] = []
        for patch in patches {
            let name = URL(fileURLWithPath: patch).deletingPathExtension().lastPathComponent
            // One directory per mutant: two mutants caught with the same title are two findings
            // (one store would keep the first and put the second's minimization into it).
            let store = try FindingStore(root: (findings as NSString).appendingPathComponent(name))
            log("== \(name): building")
            let b0 = Date()
            let kernel: KernelBuild
            do { kernel = try await KernelBuild.build(root: root, version: kernelVersion, series: [patch]) }
            catch { rows.append(Row(name: name, caught: "build failed: \(error)", seconds: 0, minimized: nil, buildSeconds: 0)); continue }
            let buildSeconds = Date().timeIntervalSince(b0)
            let t0 = Date()
            let g = try Guest(pool: try await GuestOptions.pool(kernel: kernel))
            defer { g.stop() }
            var caught: Finding? = nil
            var how = "not caught"
            for t in noCorpus ? [] : traces where t.holds(for: g.session.profile) && t.requires.allSatisfy(g.session.modules.contains) && caught == nil {
                let run = try await g.replayClean(t)
                caught = run.finding(of: t)
                if caught != nil { how = "corpus" }
            }
            var fuzzSeconds: Double? = nil
            if caught == nil, duration.seconds > 0 {
                let f0 = Date()
                var cfg = CampaignConfig()
                cfg.duration = duration.seconds; cfg.ops = .max
                cfg.racePercent = racePercent
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmemfuzz-selftest-\(getpid())").path
                let driver = try CampaignDriver(guest: g, dir: dir, findings: store, config: cfg, resume: false)
                driver.minimize = false
                driver.stopOnFinding = true
                _ = try await driver.run { log("   \($0)") }
                try? FileManager.default.removeItem(atPath: dir)
                if let f = driver.lastFinding { caught = f; how = "fuzz"; fuzzSeconds = Date().timeIntervalSince(f0) }
            }
            let catchSeconds = Date().timeIntervalSince(t0)
            var minimizedCount: Int? = nil
            if let f = caught {
                let m = try? await KernelMinimizer(guest: g, jobs: KernelMinimizer.defaultJobs).minimize(f)
                minimizedCount = m.map { $0.steps.count - g.session.bootRegions.count }
                // The finding's directory (the campaign saved it when it caught it; a corpus catch
                // is saved here), then the minimization joins it.
                _ = try? store.save(f, manifest: kernel.dir)
                if let m {
                    let manifest = (try? String(contentsOf: kernel.dir.appendingPathComponent("manifest.json"), encoding: .utf8)) ?? "{}"
                    try? FindingStore.recordMinimized(f, m, in: store.directory(of: f), manifest: manifest)
                }
                how += ": \(f.title)"
            }
            let row = Row(name: name, caught: how, seconds: catchSeconds, minimized: minimizedCount, buildSeconds: buildSeconds,
                          minimizeSeconds: Date().timeIntervalSince(t0) - catchSeconds, fuzzSeconds: fuzzSeconds)
            log(String(format: "   %@ after %.0f s (build %.0f s)%@", row.caught, row.seconds, row.buildSeconds,
                       minimizedCount.map { String(format: ", minimized to %d ops in %.0f s", $0, row.minimizeSeconds) } ?? ""))
            rows.append(row)
        }
        print("mutant | caught | seconds to catch (boot + replay/fuzz) | of which fuzzing | minimized ops | minimize s | build s")
        for r in rows {
            print("\(r.name) | \(r.caught) | \(String(format: "%.0f", r.seconds)) | \(r.fuzzSeconds.map { String(format: "%.0f", $0) } ?? "-") | \(r.minimized.map(String.init) ?? "-") | \(String(format: "%.0f", r.minimizeSeconds)) | \(String(format: "%.0f", r.buildSeconds))")
        }
        let missed = rows.filter { $0.caught.hasPrefix("not caught") || $0.caught.hasPrefix("build failed") }
        print("\(rows.count - missed.count) of \(rows.count) mutants caught")
        if !missed.isEmpty { throw ExitCode(1) }
    }

    func log(_ s: String) { logging.logger().info("selftest: \(s)") }
}
