import ArgumentParser
import Campaign
import DmemModel
import Foundation
import Trace
import VM

/// Replays traces on the real kernel: each in a clean guest, in lockstep with the model and
/// against the outcomes the trace records. Traces for another profile are skipped, not failed.
enum KernelReplay {
    struct Result { enum Status { case pass, fail, skip }; var file: String; var status: Status; var detail: String; var seconds: Double }

    /// `profile` overrides the one the kernel release names; `modelOptions` are added to each trace's own.
    static func run(paths: [String], guest options: GuestOptions, profile: KernelProfile? = nil, modelOptions: ModelOptions = [],
                    booted: (Session) -> Void = { _ in }, log: (String) -> Void) async throws -> [Result] {
        // Every trace is loaded before the guest boots: unusable ones are named all at once, in
        // one line, and nothing runs on a corpus that is not the one the user meant.
        var traces: [(file: String, trace: Trace, lines: [Int])] = []
        var bad: [BadInput] = []
        for (file, loaded) in try TraceFiles.walk(paths) {
            switch loaded {
            case .success(let (t, l)):
                var t = t
                t.options.formUnion(modelOptions)
                traces.append((file, t, l))
            case .failure(let e): bad.append(e)
            }
        }
        if let first = bad.first {
            let more = bad.dropFirst().map { String($0.description.prefix { $0 != ":" }) }
            throw BadInput(more.isEmpty ? first.description : "\(first) (and \(more.count) more unusable: \(more.joined(separator: ", ")))")
        }
        let guest = try await options.startGuest(profile: profile)
        defer { guest.stop() }
        booted(guest.session)
        if let i = guest.session.interfaces.summary { log("\(i) (the profile does not model them: not compared)") }
        let warnings = guest.session.seriesWarnings
        if !warnings.isEmpty { log("series build warnings (W=1, not in the base tree): \(warnings.count)") }
        for w in warnings { log("series warning: \(w)") }
        var results: [Result] = []
        for (file, trace, lines) in traces {
            let t0 = Date()
            if let missing = trace.requires.first(where: { !guest.session.modules.contains($0) }) {
                let what = missing.hasPrefix("series:") ? "the posted series <\(missing.dropFirst(7))> applied (--series)" : "module \(missing)"
                results.append(Result(file: file, status: .skip, detail: "needs \(what)", seconds: 0))
                log("skip \(file): needs \(what), which this kernel does not have")
                continue
            }
            if !trace.holds(for: guest.session.profile) {
                let holds = trace.profiles.map(\.rawValue).joined(separator: ", ")
                results.append(Result(file: file, status: .skip, detail: "holds for \(holds), kernel is \(guest.session.profile)", seconds: 0))
                log("skip \(file): holds for \(holds), kernel is \(guest.session.profile)")
                continue
            }
            let run = try await guest.replayClean(trace)
            var status = Result.Status.pass, detail = ""
            if let r = run.result {
                func line(_ i: Int) -> String { i < lines.count ? "\(file):\(lines[i])" : file }
                if let d = r.divergence {
                    status = .fail
                    detail = "\(line(d.index)): \(TracePrinter.op(d.op)): kernel \(TracePrinter.outcome(d.actual)), model \(TracePrinter.outcome(d.expected))"
                        + (d.inconclusive ? " (inconclusive: the oracle had dropped states of a racing group)" : "")
                } else if let m = r.expectationMismatch {
                    status = .fail
                    detail = "\(line(m.index)): \(TracePrinter.op(trace.steps[m.index].op)): kernel \(TracePrinter.outcome(m.actual)), trace expects \(TracePrinter.outcome(m.expected))"
                }
            } else {
                // The first splat names the bug; the panic that stopped the guest follows from it.
                let first = run.splats.first.map { "\($0.title); " } ?? ""
                status = .fail; detail = "guest stopped answering: \(first)\(run.failure.map { "\($0)" } ?? "?")"
            }
            // After a failure the kernel may not be where the model thinks: boot afresh.
            if status == .fail { guest.markDirty() }
            if !run.splats.isEmpty && status == .pass { status = .fail; detail = "splat: " + run.splats.map(\.title).joined(separator: "; ") }
            if let td = run.teardown, status == .pass {
                status = .fail
                detail = "splat during the teardown after the trace (\(td.teardown.count) ops: exits, rmdirs): " + td.splats.map(\.title).joined(separator: "; ")
            }
            results.append(Result(file: file, status: status, detail: detail, seconds: Date().timeIntervalSince(t0)))
            log(status == .pass ? "ok   \(file)" : "FAIL \(detail)")
        }
        log("\(results.filter { $0.status == .pass }.count) passed, \(results.filter { $0.status == .fail }.count) failed, \(results.filter { $0.status == .skip }.count) skipped")
        return results
    }
}
