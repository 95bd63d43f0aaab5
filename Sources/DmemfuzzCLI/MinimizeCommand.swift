import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Logging
import Trace
import VM

/// Re-runs a saved finding's trace on the kernel, minimizes it, and rewrites the finding.
struct MinimizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minimize",
        abstract: "Minimize a saved finding (a findings/<title>/ directory or a trace) on the kernel; writes minimized.trace, repro.c and an updated report.")

    @Argument(help: "Finding directory or trace file.") var finding: String
    @OptionGroup var guest: GuestOptions
    @Option(parsing: .unconditional, help: "Most candidate runs.", transform: Count.parser(1...1_000_000)) var attempts: Int = 300
    @Option(help: "Override the model profile (default: from the kernel release).") var profile: KernelProfile?
    @Option(name: .customLong("option"), help: "Model option (repeatable), added to the trace's own.") var options: [ModelOption] = []
    @Option(parsing: .unconditional, help: "Guests running candidates at once (1...16; default 2, or 1 on a one-core host); the minimized trace is the one a single guest gives.",
            transform: Count.parser(1...16)) var jobs: Int = KernelMinimizer.defaultJobs

    func run() async throws {
        let (dir, traceFile) = FindingFiles.locate(finding)
        var (trace, _) = try TraceFiles.load(traceFile)
        trace.options.formUnion(options)
        let g = try await guest.startGuest(profile: profile)
        defer { g.stop() }
        let s = g.session
        var unexpected = trace
        unexpected.steps = trace.steps.map { Step($0.op) }
        // Through the guest, so the next run starts clean (reset or a new guest) and a splat of
        // the reset after the trace is the trace's.
        let run = try await g.replayClean(unexpected, splatWait: 2)
        if let e = run.failure { throw e }
        guard var f = run.finding(of: trace) else {
            print("\(traceFile): does not reproduce on this kernel (no divergence, no splat)")
            throw ExitCode(1)
        }
        f.interfaces = s.interfaces.summary
        let log = guest.logging.logger()
        if let i = f.interfaces { log.info("minimize: \(i)") }
        log.info("minimize: reproduced '\(f.title)' at op \(f.index + 1); shrinking")
        var m = KernelMinimizer(guest: g, jobs: jobs)
        m.maxAttempts = attempts
        m.trace = { log.debug("minimize: \($0)") }
        let small = try await m.minimize(f)
        let out = dir ?? URL(fileURLWithPath: traceFile).deletingLastPathComponent().path
        let manifest = (try? String(contentsOf: s.vm.kernel.dir.appendingPathComponent("manifest.json"), encoding: .utf8)) ?? "{}"
        try FindingStore.recordMinimized(f, small, in: URL(fileURLWithPath: out), manifest: manifest)
        print("\(f.title): \(f.trace.steps.count) -> \(small.steps.count) ops (\(g.startsDescription))")
        print(TracePrinter.trace(small), terminator: "")
    }
}

/// Writes a finding's standalone reproducer.
struct ReproCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro",
        abstract: "Print the standalone C reproducer of a finding (its minimized trace if present); with --run, build it and run it in a guest. Exit 1 when it reproduces there (a mismatch or a splat), 0 when not.")
    @Argument(help: "Finding directory or trace file.") var finding: String
    @Flag(name: .customLong("run"), help: "Compile the reproducer (gcc -static) and run it in a clean guest of the kernel chosen by the guest options.")
    var runInGuest = false
    @Option(parsing: .unconditional, help: "With --run: run the whole trace up to N times until a run mismatches (DMEMFUZZ_REPRO_LOOP; a race need not show the first time; 1...1000).",
            transform: Count.parser(1...1000)) var loop: Int = 1
    @OptionGroup var guest: GuestOptions

    func run() async throws {
        let source = try reproducerSource()
        guard runInGuest else { print(source, terminator: ""); return }
        let bin: [UInt8]
        do { bin = try await ReproBinary.build(source) } catch { throw BadInput("repro.c does not compile: \(error)") }
        let g = try await guest.startGuest()
        defer { g.stop() }
        let vm = g.session.vm
        let before = vm.splats().count
        try vm.agent.put("/tmp/repro", bin)
        let (status, output) = try vm.agent.shell(loop > 1 ? "DMEMFUZZ_REPRO_LOOP=\(loop) /tmp/repro" : "/tmp/repro", timeout: 600 * Double(loop))
        let splats = Array(vm.awaitSplats(moreThan: before, timeout: 3).dropFirst(before))
        print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
        let on = "kernel \(g.session.release) (\(vm.kernel.dir.lastPathComponent))"
        if status != 0 || !splats.isEmpty {
            print("repro: reproduced on \(on): exit \(status)" + (splats.isEmpty ? "" : ", " + splats.map(\.title).joined(separator: "; ")))
            throw ExitCode(1)
        }
        print("repro: did not reproduce on \(on): exit 0, no splat")
    }

    func reproducerSource() throws -> String {
        let (dir, traceFile) = FindingFiles.locate(finding)
        let minimized = dir.map { $0 + "/minimized.trace" }
        if let minimized, FileManager.default.fileExists(atPath: minimized) {
            return try reproducer(minimized)
        }
        // A finding's trace.trace says its outcomes are the model's; one that does not (an older
        // dmemfuzz wrote the kernel's) would make a reproducer that passes on the buggy kernel.
        if let dir, let data = FileManager.default.contents(atPath: traceFile),
           !String(decoding: data, as: UTF8.self).contains(Finding.modelOutcomesMarker) {
            throw BadInput("\(Shown(traceFile)): records the kernel's outcomes, not the model's (an older dmemfuzz wrote it); run `dmemfuzz minimize \(Shown(dir))` for a reproducer")
        }
        return try reproducer(traceFile)
    }

    func reproducer(_ file: String) throws -> String {
        let trace = try TraceFiles.load(file).0
        do { return try Repro.c(trace) } catch { throw BadInput("\(Shown(file)): \(error)") }
    }
}

enum FindingFiles {
    /// A finding directory (its trace.trace) or a trace file.
    static func locate(_ path: String) -> (dir: String?, trace: String) {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return (path, path + "/trace.trace") }
        return (nil, path)
    }
}
