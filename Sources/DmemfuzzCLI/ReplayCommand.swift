import ArgumentParser
import Campaign
import DmemModel
import Fuzz
import Trace
import Foundation
import Logging

/// Replays traces and checks their recorded outcomes.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Replay traces (files or directories of .trace files) and check their expected outcomes.")

    @Argument(help: "Trace files or directories.") var paths: [String]
    @Flag(help: "Check against the model only (no kernel).") var modelOnly = false
    @Option(help: "Override the profile the traces name.") var profile: KernelProfile?
    @Option(name: .customLong("option"), help: "Model option (repeatable), added to each trace's own, e.g. the behaviour a series under test intends.")
    var options: [ModelOption] = []
    @Flag(help: "With --model-only: print each trace with the model's outcomes as its expectations.") var record = false
    @OptionGroup var guest: GuestOptions

    func validate() throws {
        if record && !modelOnly { throw ValidationError("--record needs --model-only") }
    }

    func run() async throws {
        guard modelOnly else {
            let results = try await KernelReplay.run(paths: paths, guest: guest, profile: profile, modelOptions: Set(options), log: { print(TracePrinter.visible($0.utf8)); fflush(nil) })
            if results.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
            return
        }
        let traces = try TraceFiles.walk(paths)
        if record {
            guard traces.count == 1, let (file, loaded) = traces.first else {
                throw BadInput("--record prints one trace and got \(traces.count) files (record them one at a time)")
            }
            let (trace, lines) = try loaded.get()
            print(TracePrinter.trace(recorded(trace, file: file, lines: lines)), terminator: "")
            return
        }
        var failures = 0, checked = 0
        var bad: [BadInput] = []
        for (file, loaded) in traces {
            var trace: Trace, lines: [Int]
            switch loaded {
            case .failure(let e): bad.append(e); say("BAD  \(e)"); continue
            case .success(let t): (trace, lines) = t
            }
            trace.options.formUnion(options)
            // A trace that names several profiles must hold under each of them.
            var mismatch: String?
            for p in profile.map({ [$0] }) ?? trace.profiles where mismatch == nil {
                var exec = ModelExecutor(profile: p, options: trace.options)
                let tag = profile == nil && trace.profiles.count > 1 ? " [\(p)]" : ""
                for (i, step) in trace.steps.enumerated() {
                    let got = exec.apply(step.op, recorded: step.expect)
                    guard let want = step.expect else { continue }
                    let at = "\(file):\(lines[i])\(tag): \(TracePrinter.op(step.op))"
                    // An expectation the model has no answer for (an unmodeled file) is not
                    // checked here, so it must not pass as if it were.
                    guard let got else {
                        mismatch = "\(at): expects \(TracePrinter.outcome(want)), the model has no answer for this op (only a kernel replay checks it)"
                        break
                    }
                    checked += 1
                    if got != want {
                        mismatch = "\(at): expected \(TracePrinter.outcome(want)), model says \(TracePrinter.outcome(got))"
                        break
                    }
                }
            }
            if let mismatch { say("FAIL \(mismatch)"); failures += 1 } else { say("ok   \(file)") }
        }
        say("\(checked) expectations checked, \(failures) trace(s) failed\(bad.isEmpty ? "" : ", \(bad.count) unusable")")
        if let first = bad.first { throw BadInput(bad.count > 1 ? "\(first) (and \(bad.count - 1) more unusable, listed above)" : first.description) }
        if failures > 0 { throw ExitCode(1) }
    }

    /// One result line, flushed at once: whatever happens to a later trace, this one is reported.
    func say(_ line: String) { print(TracePrinter.visible(line.utf8)); fflush(nil) }

    /// The trace with the model's outcomes as its expectations, under the profile it is replayed
    /// with (`--profile` replaces the header's). Of a multi-profile trace it keeps the profiles
    /// under which the model gives the same outcomes as under the first, so the recorded trace
    /// passes its own replay; a dropped profile is named on stderr.
    func recorded(_ trace: Trace, file: String, lines: [Int]) -> Trace {
        let profiles = profile.map { [$0] } ?? trace.profiles
        func outcomes(_ p: KernelProfile) -> [Outcome?] {
            var exec = ModelExecutor(profile: p, options: trace.options)
            return trace.steps.map { exec.apply($0.op, recorded: $0.expect) }
        }
        let first = outcomes(profiles[0])
        var kept = [profiles[0]]
        for p in profiles.dropFirst() {
            let o = outcomes(p)
            if let i = first.indices.first(where: { first[$0] != o[$0] }) {
                guest.logging.logger().warning("dmemfuzz: \(file):\(lines[i]): outcomes differ under \(p) (\(TracePrinter.op(trace.steps[i].op))); recorded for \(kept.map(\.rawValue).joined(separator: " ")) only")
            } else {
                kept.append(p)
            }
        }
        var t = trace
        t.profile = kept[0]; t.alsoHoldsFor = Array(kept.dropFirst())
        t.steps = zip(trace.steps, first).map { Step($0.op, expect: $1) }
        return t
    }
}
