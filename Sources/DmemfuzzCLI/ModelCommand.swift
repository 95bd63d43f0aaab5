import ArgumentParser
import DmemModel
import Fuzz
import Trace

/// Runs the model alone on generated ops: a smoke test of the model and generator, and a way to
/// look at what a seed produces.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Run the reference model alone on generated ops and print a summary.")

    @Option(parsing: .unconditional, help: "Generator seed.", transform: Seed.parse) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Number of ops (1...1000000000).", transform: Count.parser(Count.ops)) var ops: Int = 1000
    @Option(help: "Kernel profile (7.2 or 7.3).") var profile: KernelProfile = .v7_3
    @Option(name: .customLong("option"), help: "Model option (repeatable): \(ModelOption.allCases.map(\.rawValue).joined(separator: ", ")).")
    var options: [ModelOption] = []
    @Flag(help: "Print the generated trace with the model's outcomes.") var trace = false

    func run() async throws {
        var exec = ModelExecutor(profile: profile, options: Set(options))
        var genConfig = GeneratorConfig()
        genConfig.transfer = options.contains(.chargeTransfer)   // the dialect's op, generated
        var gen = Generator(seed: seed, config: genConfig)
        let t = Trace(profile: profile, options: Set(options), steps: gen.steps(ops: ops, on: &exec))
        var tally: [String: Int] = [:]
        for step in t.steps {
            let verb = TracePrinter.op(step.op).split(separator: " ").first!
            let result = step.expect.map { $0.errno?.description ?? "ok" } ?? "unmodeled"
            tally["\(verb) \(result)", default: 0] += 1
        }
        if trace { print(TracePrinter.trace(t), terminator: "") }
        print("profile \(profile), seed \(seed), \(t.steps.count) ops")
        for (k, v) in tally.sorted(by: { $0.key < $1.key }) { print("  \(k.padding(toLength: 28, withPad: " ", startingAt: 0)) \(v)") }
        print("live cgroups \(exec.model.paths.count), actors \(exec.model.actors.count), buffers \(exec.model.buffers.count) (\(exec.model.residentBuffers.count) resident)")
        print(exec.model.describe())
    }
}
