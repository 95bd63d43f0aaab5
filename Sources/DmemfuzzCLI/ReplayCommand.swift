import ArgumentParser
import Campaign
import DmemModel
import Fuzz
import Trace
import Foundation

/// Replays traces and checks their recorded outcomes.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Replay traces (files or directories of .trace files) and check their expected outcomes.")

    @Argument(help: "Trace files or directories.") var paths: [String]
    @Flag(help: "Check against the model only (no kernel).") var modelOnly = false
    @Option(help: "Override the profile the traces name.") var profile: KernelProfile?
    @Flag(help: "With --model-only: print each trace with the model's outcomes as its expectations.") var record = false
    @OptionGroup var guest: GuestOptions

    func run() async throws {
        guard modelOnly else {
            let results = try await KernelReplay.run(paths: paths, guest: guest, log: { print($0) })
            if results.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
            return
        }
        var failures = 0, checked = 0
        for file in try TraceFiles.expand(paths) {
            let (trace, lines) = try TraceFiles.load(file)
            if record {
                var exec = ModelExecutor(profile: profile ?? trace.profile, options: trace.options)
                var t = trace
                t.steps = t.steps.map { Step($0.op, expect: exec.apply($0.op)) }
                print(TracePrinter.trace(t), terminator: "")
                continue
            }
            // A trace that names several profiles must hold under each of them.
            var mismatch: String?
            for p in profile.map({ [$0] }) ?? trace.profiles where mismatch == nil {
                var exec = ModelExecutor(profile: p, options: trace.options)
                let tag = profile == nil && trace.profiles.count > 1 ? " [\(p)]" : ""
                for (i, step) in trace.steps.enumerated() {
                    let got = exec.apply(step.op)
                    guard let want = step.expect else { continue }
                    checked += 1
                    if let got, got != want {
                        mismatch = "\(file):\(lines[i])\(tag): \(TracePrinter.op(step.op)): expected \(TracePrinter.outcome(want)), model says \(TracePrinter.outcome(got))"
                        break
                    }
                }
            }
            if let mismatch { print("FAIL \(mismatch)"); failures += 1 } else { print("ok   \(file)") }
        }
        if record { return }
        print("\(checked) expectations checked, \(failures) trace(s) failed")
        if failures > 0 { throw ExitCode(1) }
    }
}

enum TraceFiles {
    static func expand(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("dmemfuzz: \(p): no such file or directory\n".utf8))
                throw ExitCode(2)
            }
            if isDir.boolValue {
                let e = FileManager.default.enumerator(atPath: p)
                while let f = e?.nextObject() as? String {
                    if f.hasSuffix(".trace") { out.append((p as NSString).appendingPathComponent(f)) }
                }
            } else { out.append(p) }
        }
        return out.sorted()
    }

    /// Seed traces for a campaign; a missing path is skipped (the default `corpora` is relative to
    /// the checkout), a malformed trace is an error naming it.
    static func seeds(_ paths: [String]) throws -> [Trace] {
        try expand(paths.filter { FileManager.default.fileExists(atPath: $0) }).map { try load($0).0 }
    }

    static func load(_ file: String) throws -> (Trace, [Int]) {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("\(file): cannot read") }
        do {
            return try TraceParser(file: file).parseLocated(String(decoding: data, as: UTF8.self))
        } catch {
            // One line naming file:line:col, exit 2 (bad input), no usage banner.
            FileHandle.standardError.write(Data("dmemfuzz: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }
}
