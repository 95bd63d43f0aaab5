import Foundation
import Trace

/// Findings on disk: one directory per title, written into a temporary directory first and
/// renamed into place, so an interrupted campaign never leaves half a finding.
public struct FindingStore {
    public let root: URL
    public init(root: String) throws {
        self.root = URL(fileURLWithPath: root)
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
    }

    /// Saves the finding (deduplicated by title: an existing finding with the same title is kept)
    /// and returns its directory.
    @discardableResult
    public func save(_ f: Finding, minimized: Trace? = nil, manifest kernelDir: URL? = nil) throws -> String {
        let dir = root.appendingPathComponent(f.slug)
        if FileManager.default.fileExists(atPath: dir.path) { return dir.path + " (already known)" }
        let tmp = root.appendingPathComponent(".tmp-\(f.slug)-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let manifest = kernelDir.flatMap { try? String(contentsOf: $0.appendingPathComponent("manifest.json"), encoding: .utf8) } ?? "{}"
        try Data(Report.render(f, minimized: minimized, manifest: manifest).utf8).write(to: tmp.appendingPathComponent("report.txt"))
        try Data(f.traceFile.utf8).write(to: tmp.appendingPathComponent("trace.trace"))
        if let minimized {
            try Data(TracePrinter.trace(minimized).utf8).write(to: tmp.appendingPathComponent("minimized.trace"))
            try Data(Repro.cOrError(minimized).utf8).write(to: tmp.appendingPathComponent("repro.c"))
        }
        try Data(f.console.utf8).write(to: tmp.appendingPathComponent("console.log"))
        try Data(manifest.utf8).write(to: tmp.appendingPathComponent("manifest.json"))
        try FileManager.default.moveItem(at: tmp, to: dir)
        return dir.path
    }

    /// Adds a minimization to a finding directory already written: minimized.trace, repro.c and
    /// the report that shows both, each replaced atomically.
    public static func recordMinimized(_ f: Finding, _ small: Trace, in dir: URL, manifest: String) throws {
        try AtomicFile.write(Data(TracePrinter.trace(small).utf8), to: dir.appendingPathComponent("minimized.trace"))
        try AtomicFile.write(Data(Repro.cOrError(small).utf8), to: dir.appendingPathComponent("repro.c"))
        try AtomicFile.write(Data(Report.render(f, minimized: small, manifest: manifest).utf8), to: dir.appendingPathComponent("report.txt"))
    }

    /// The directory a finding is (or would be) saved in.
    public func directory(of f: Finding) -> URL { root.appendingPathComponent(f.slug) }
}
