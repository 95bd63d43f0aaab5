import ArgumentParser
import DmemModel
import Fuzz
import Trace
import Foundation

/// Speed, measured here rather than asserted in tests. Figures are reported with ratios from
/// the same run because these machines are noisy.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks: `bench model` (model ops/s).")

    @Argument(help: "What to measure: model.") var what: String = "model"
    @Option(help: "Ops to run.") var ops: Int = 2_000_000
    @Option(help: "Profile.") var profile: KernelProfile = .v7_3

    func run() async throws {
        guard what == "model" else { throw ValidationError("unknown benchmark '\(what)' (known: model)") }
        // Pre-generate so the figure is the model's cost, not the generator's.
        var gen = Generator(seed: 42, config: GeneratorConfig(modelOnly: false))
        var exec = ModelExecutor(profile: profile)
        var trace: [Op] = gen.prologue()
        for op in trace { _ = exec.apply(op) }
        let genStart = Date()
        while trace.count < ops {
            let op = gen.next(exec.model)
            _ = exec.apply(op)
            trace.append(op)
        }
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
