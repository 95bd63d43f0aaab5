import Foundation
import Kernel

/// Patch coverage (issue 9): which lines of a series the campaign executed, as KCOV saw it in
/// the guest. The executed PCs are the `kcov <pc>` signatures a campaign keeps (the agent
/// reports each counted PC beside the edges, Sources/AgentCore/Kcov.swift), their lines come
/// from the build's LineMap, and the series' lines from the build's series-lines.txt
/// (vm/series-lines.py). Without a series the page covers the counted files (dmem.c,
/// page_counter.c) and the summary counts their lines.
public struct CoverageReport: Sendable {
    public struct File: Sendable {
        public var path: String
        public var source: [String]
        /// Lines with a KCOV callsite, and those of them executed.
        public var instrumented: Set<Int>, executed: Set<Int>
        /// Lines the series added or changed.
        public var series: Set<Int>
        /// The lines the summary counts: the series' lines that have a callsite, or without a
        /// series every instrumented line.
        public var counted: Set<Int>
        public var reached: Int { executed.intersection(counted).count }
    }
    public var files: [File]
    /// Series files with no KCOV callsite in vmlinux (headers, modules, Kconfig...).
    public var uncovered: [String]
    public var hasSeries: Bool

    /// Reached and reachable lines over every file (`File.counted`).
    public var reached: Int { files.reduce(0) { $0 + $1.reached } }
    public var total: Int { files.reduce(0) { $0 + $1.counted.count } }
    /// `series lines reached: 41/57` (progress output, KTAP).
    public var summary: String { "\(hasSeries ? "series" : "dmem") lines reached: \(reached)/\(total)" }

    /// nil when the build has no line map (no vmlinux, or built before the counted files got -g).
    public static func make(kernel: KernelBuild, signatures: some Sequence<String>) async -> CoverageReport? {
        guard let map = await LineCoverage.map(for: kernel) else { return nil }
        let executed = Set(signatures.lazy.filter { $0.hasPrefix("kcov ") }.compactMap { UInt64($0.dropFirst(5), radix: 16) })
        let seriesText = (try? String(contentsOf: kernel.dir.appendingPathComponent("series-lines.txt"), encoding: .utf8)) ?? ""
        var series: [String: Set<Int>] = [:]
        for row in seriesText.split(separator: "\n") {
            let f = row.split(separator: " ")
            if f.count == 2, let n = Int(f[1]) { series[String(f[0]), default: []].insert(n) }
        }
        return make(map: map, executed: executed, series: series) { path in
            try? String(contentsOf: kernel.dir.appendingPathComponent("src").appendingPathComponent(path), encoding: .utf8)
        }
    }

    /// The report from its parts; `source` reads a file of the built tree.
    public static func make(map: LineMap, executed: Set<UInt64>, series: [String: Set<Int>], source: (String) -> String?) -> CoverageReport {
        var instrumented: [String: Set<Int>] = [:], hit: [String: Set<Int>] = [:]
        for (pc, l) in map.lines {
            instrumented[l.file, default: []].insert(l.line)
            if executed.contains(pc) { hit[l.file, default: []].insert(l.line) }
        }
        let counted = Set(KcovRanges.files)
        // The series' files where it has instrumented lines; without a series the counted files.
        let shown = series.isEmpty ? counted.filter { instrumented[$0] != nil } : Set(series.keys).filter { !(series[$0]!.intersection(instrumented[$0] ?? [])).isEmpty }
        let files = shown.sorted().map { p in
            let lines = instrumented[p] ?? []
            return File(path: p, source: (source(p) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init),
                        instrumented: lines, executed: hit[p] ?? [], series: series[p] ?? [],
                        counted: series.isEmpty ? lines : (series[p] ?? []).intersection(lines))
        }
        return CoverageReport(files: files, uncovered: series.keys.filter { !shown.contains($0) }.sorted(), hasSeries: !series.isEmpty)
    }

    static func escape(_ s: String) -> String {
        var o = ""
        for c in s { switch c { case "&": o += "&amp;"; case "<": o += "&lt;"; case ">": o += "&gt;"; case "\"": o += "&quot;"; default: o.append(c) } }
        return o
    }

    /// One self-contained page: per file, its lines with executed ones green, instrumented but
    /// never executed red, the series' lines marked `+` (syzkaller's coverage view, in small).
    public func html(title: String) -> String {
        var h = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(Self.escape(title))</title><style>
        body { font: 13px/1.35 monospace; margin: 1em; }
        h1 { font-size: 16px; } h2 { font-size: 14px; margin-top: 1.5em; }
        table { border-collapse: collapse; } td { padding: 0 .5em; white-space: pre; vertical-align: top; }
        td.n { color: #888; text-align: right; } td.s { color: #06c; font-weight: bold; }
        tr.hit td.c { background: #c8f0c8; } tr.miss td.c { background: #f6c6c6; }
        .key span { padding: 0 .4em; margin-right: 1em; }
        </style></head><body>
        <h1>\(Self.escape(title)): \(Self.escape(summary))</h1>
        <p class="key"><span style="background:#c8f0c8">executed</span><span style="background:#f6c6c6">instrumented, not executed</span><span>+ line of the series</span></p>

        """
        if !uncovered.isEmpty { h += "<p>Series files without KCOV callsites in vmlinux (headers, modules, build files): \(uncovered.map(Self.escape).joined(separator: ", "))</p>\n" }
        for f in files {
            h += "<h2 id=\"\(Self.escape(f.path))\">\(Self.escape(f.path)): \(f.reached)/\(f.counted.count)</h2>\n<table>\n"
            for (i, text) in f.source.enumerated() {
                let n = i + 1
                let cls = f.executed.contains(n) ? " class=\"hit\"" : f.instrumented.contains(n) ? " class=\"miss\"" : ""
                h += "<tr id=\"\(Self.escape(f.path)):\(n)\"\(cls)><td class=\"n\">\(n)</td><td class=\"s\">\(f.series.contains(n) ? "+" : "")</td><td class=\"c\">\(Self.escape(text))</td></tr>\n"
            }
            h += "</table>\n"
        }
        return h + "</body></html>\n"
    }
}
