import DmemModel
import Foundation
import Fuzz
import Trace

/// `dmemfuzz corpus merge DIR... --into DIR`: joins the corpora and findings of several campaign
/// directories (the shards of one campaign, or campaigns of different machines) with no server:
/// a corpus trace is kept if it reaches a signature no smaller kept trace reaches (smallest
/// first, so each signature keeps its smallest trace), a finding if no kept finding has its title.
public struct CorpusMerge {
    public struct Input: Sendable {
        public var name: String
        public var trace: Trace
        public init(name: String, trace: Trace) { self.name = name; self.trace = trace }
    }

    /// The op signatures a trace reaches on the model (Campaign's coverage proxy; KCOV edges need
    /// a kernel run, and a merge runs none).
    public static func signatures(_ t: Trace) -> Set<String> {
        var exec = ModelExecutor(profile: t.profile, options: t.options)
        var out = Set<String>()
        for st in t.steps {
            let before = exec.model
            let o = exec.apply(st.op, recorded: st.expect)
            out.insert(CampaignRunner.signature(Step(st.op, expect: o), before: before))
        }
        return out
    }

    /// The traces to keep, in the order they were chosen (fewest steps first, then by name).
    public static func select(_ inputs: [Input], known already: Set<String> = []) -> (kept: [Input], signatures: Int) {
        var known = already
        var kept: [Input] = []
        for i in inputs.sorted(by: { ($0.trace.steps.count, $0.name) < ($1.trace.steps.count, $1.name) }) {
            let s = signatures(i.trace)
            if !s.isSubset(of: known) { kept.append(i); known.formUnion(s) }
        }
        return (kept, known.count)
    }

    public struct Summary: Sendable, CustomStringConvertible {
        public var traces = 0, kept = 0, signatures = 0, findings = 0, findingsKept = 0, duplicateTitles: [String] = []
        public var description: String {
            "\(traces) corpus traces, \(kept) kept (\(signatures) signatures); \(findings) findings, \(findingsKept) kept"
                + (duplicateTitles.isEmpty ? "" : " (\(duplicateTitles.count) with a title already kept)")
        }
    }

    /// Reads DIR/corpus/*.trace (or DIR/*.trace when there is no corpus/) and DIR/findings/*/ of
    /// every input, writes the kept traces to INTO/corpus/ and the kept findings to
    /// INTO/findings/, atomically file by file. An unreadable trace is an error naming it.
    public static func run(inputs dirs: [String], into: String) throws -> Summary {
        let fm = FileManager.default
        var traces: [Input] = []
        var summary = Summary()
        for (k, d) in dirs.enumerated() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else { throw CampaignError("\(d): not a directory") }
            let corpus = fm.fileExists(atPath: d + "/corpus") ? d + "/corpus" : d
            for f in try CampaignDriver.corpusNames(corpus) where f.hasSuffix(".trace") {
                let path = corpus + "/" + f
                guard let data = fm.contents(atPath: path) else { throw CampaignError("\(path): cannot read") }
                do { traces.append(Input(name: "\(k)/\(f)", trace: try TraceParser(file: path).parseLocated(bytes: Array(data)).trace)) }
                catch { throw CampaignError("\(error)") }
            }
        }
        summary.traces = traces.count
        // What the target holds already counts (a merge into a merged corpus adds only news).
        var held = Set<String>()
        for f in (try? CampaignDriver.corpusNames(into + "/corpus")) ?? [] where f.hasSuffix(".trace") {
            if let data = fm.contents(atPath: into + "/corpus/" + f), let t = try? TraceParser().parseLocated(bytes: Array(data)).trace {
                held.formUnion(signatures(t))
            }
        }
        let (kept, n) = select(traces, known: held)
        summary.kept = kept.count; summary.signatures = n
        try AtomicFile.makeDirectory(into + "/corpus")
        var used = Set(try CampaignDriver.corpusNames(into + "/corpus"))
        for i in kept {
            var name = String(i.name.split(separator: "/").last!)
            if used.contains(name) { name = "merged-\(i.name.replacingOccurrences(of: "/", with: "-"))" }
            used.insert(name)
            try AtomicFile.write(Data(TracePrinter.trace(i.trace).utf8), to: URL(fileURLWithPath: into + "/corpus/" + name))
        }
        // Findings by title (report.txt's first line), the first input's first.
        try AtomicFile.makeDirectory(into + "/findings")
        var titles = Set<String>()
        for existing in (try? fm.contentsOfDirectory(atPath: into + "/findings")) ?? [] {
            if let t = title(into + "/findings/" + existing) { titles.insert(t) }
        }
        for d in dirs {
            let fdir = d + "/findings"
            for f in ((try? fm.contentsOfDirectory(atPath: fdir)) ?? []).sorted() {
                guard let t = title(fdir + "/" + f) else { continue }
                summary.findings += 1
                if titles.contains(t) { summary.duplicateTitles.append(t); continue }
                titles.insert(t)
                var target = into + "/findings/" + f
                if fm.fileExists(atPath: target) { target += "-\(titles.count)" }
                // Copy to a temporary name, then rename: a finding is there whole or not at all.
                let tmp = into + "/findings/.\(f).tmp-\(getpid())"
                try? fm.removeItem(atPath: tmp)
                do { try fm.copyItem(atPath: fdir + "/" + f, toPath: tmp); try fm.moveItem(atPath: tmp, toPath: target) }
                catch { try? fm.removeItem(atPath: tmp); throw CampaignError("\(target): cannot copy the finding: \(error.localizedDescription)") }
                summary.findingsKept += 1
            }
        }
        return summary
    }

    static func title(_ dir: String) -> String? {
        guard let text = try? String(contentsOfFile: dir + "/report.txt", encoding: .utf8) else { return nil }
        return text.split(separator: "\n", maxSplits: 1).first.map(String.init)
    }
}
