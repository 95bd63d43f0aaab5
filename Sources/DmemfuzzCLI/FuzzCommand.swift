import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Trace
import VM

/// Lockstep fuzzing of the real kernel.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz a kernel in lockstep with the model. Exit 0: nothing found; 1: a finding was written; 2: usage or setup error.")

    @OptionGroup var guest: GuestOptions
    @Option(help: "Generator seed.") var seed: UInt64 = 1
    @Option(help: "Stop after this many ops.") var ops: Int = 100_000
    @Option(help: "Stop after this long: 90s, 10m, 1h.") var duration: String?
    @Option(help: "Ops per batch sent to the guest.") var batch: Int = 16
    @Option(name: .customLong("option"), help: "Model option (repeatable).") var options: [ModelOption] = []
    @Option(help: "Override the model profile (default: from the kernel release).") var profile: KernelProfile?
    @Option(help: "Where findings go.") var findings: String = "findings"

    func run() async throws {
        let seconds = try duration.map(parseDuration)
        let session: Session
        do { session = try Session(vm: try guest.makeVM(), profile: profile) }
        catch { FileHandle.standardError.write(Data("dmemfuzz: cannot start the guest: \(error)\n".utf8)); throw ExitCode(2) }
        defer { session.stop() }
        var cfg = CampaignConfig()
        cfg.seed = seed; cfg.ops = ops; cfg.duration = seconds; cfg.batch = batch; cfg.options = Set(options)
        cfg.progress = { FileHandle.standardError.write(Data("fuzz: \($0)\n".utf8)) }
        print("kernel \(session.release), profile \(session.profile), regions: \(session.bootRegions.map(TracePrinter.op).joined(separator: ", "))")
        let r = await CampaignRunner.run(session, config: cfg)
        print(String(format: "%d ops in %.1f s (%.0f ops/s), %d signatures", r.executed, r.seconds, Double(r.executed) / r.seconds, r.signatures.count))
        guard let f = r.finding else { print("no findings"); return }
        let dir = try FindingStore(root: findings).save(f, manifest: session.vm.config.kernel.dir)
        print("FINDING: \(f.title)\n  \(dir)")
        throw ExitCode(1)
    }
}

func parseDuration(_ s: String) throws -> Double {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
    if let u = s.last, let mul = units[u], let v = Double(s.dropLast()) { return v * mul }
    if let v = Double(s) { return v }
    throw ValidationError("bad duration '\(s)' (want e.g. 90s, 10m, 1h)")
}
