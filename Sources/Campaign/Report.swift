import Foundation
import Kernel
import VM
import Fuzz
import Trace

/// A report a kernel developer can paste into a mailing-list reply, syzbot style.
public enum Report {
    public static func render(_ f: Finding, minimized: Trace? = nil, manifest: String) -> String {
        var s = "\(f.title)\n\n"
        switch f.kind {
        case .divergence: s += "dmemfuzz found the kernel's dmem controller disagreeing with its reference model\n(kernel/cgroup/dmem.c as of the profile below).\n\n"
        case .splat where f.duringTeardown:
            s += "dmemfuzz hit a kernel splat while tearing down what a trace left behind (the exits and rmdirs\nat the end of the trace below are that teardown).\n\n"
        case .splat: s += "dmemfuzz hit a kernel splat while exercising the dmem cgroup controller.\n\n"
        case .hang: s += "The guest stopped answering while dmemfuzz was exercising the dmem cgroup controller.\n\n"
        }
        s += "profile: \(f.trace.profiles.map(\.rawValue).joined(separator: " "))"
        if !f.trace.options.isEmpty { s += ", options: " + f.trace.options.sorted().map(\.rawValue).joined(separator: " ") }
        if let i = f.interfaces { s += "\nkernel interfaces the model does not check: \(i) (read in the whole-tree reads, not compared)" }
        if let m = try? JSONDecoder().decode(KernelManifest.self, from: Data(manifest.utf8)), let w = m.seriesWarnings, !w.isEmpty {
            s += "\nbuild warnings in the series (W=1, not in the base tree):\n" + w.map { "  " + $0 }.joined(separator: "\n")
        }
        s += "\nkernel manifest:\n" + indent(manifest) + "\n\n"
        let shown = minimized ?? f.modelTrace
        let notes = minimized == nil ? f.kernelNotes : [:]
        s += (minimized != nil ? "minimized trace" : "trace") + " (\(shown.steps.count) ops):\n"
        let mark = minimized.map { $0.steps.count - 1 } ?? f.index
        for (i, st) in shown.steps.enumerated() {
            s += (i == mark ? ">>> " : "    ") + TracePrinter.step(st) + (notes[i].map { "  # " + $0 } ?? "") + "\n"
        }
        if let d = f.divergence {
            s += "\nat op: \(TracePrinter.op(d.op))\n  expected (model): \(TracePrinter.outcome(d.expected))\n  actual (kernel):  \(TracePrinter.outcome(d.actual))\n"
        }
        for sp in f.splats {
            s += "\n\(sp.title)\n" + indent(sp.raw) + "\n"
        }
        s += "\nmodel's view of the cgroup tree before that op:\n" + indent(f.modelTree) + "\n"
        s += "\nkernel's view (guest agent state dump after the op):\n" + indent(f.kernelState) + "\n"
        if minimized != nil {
            s += "\nreproducer: repro.c (static C, runs as root in the guest without dmemfuzz; build with\n`gcc -static -O2 -o repro repro.c`), or `dmemfuzz replay minimized.trace`.\n"
        }
        return s
    }

    static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }
}
