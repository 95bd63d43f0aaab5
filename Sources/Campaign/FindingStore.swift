import Foundation
import Trace

/// Findings on disk: one directory per title, written into a temporary directory first and
/// renamed into place, so an interrupted campaign never leaves half a finding.
public struct FindingStore {
    public let root: URL
    /// Creates the root if missing; a root that is not a writable directory is an error naming
    /// it, before anything runs.
    public init(root: String) throws {
        self.root = URL(fileURLWithPath: root)
        try AtomicFile.checkWritable(root)
    }

    /// Saves the finding (deduplicated by title: an existing finding directory with the same
    /// title is kept) and returns its directory. A write that fails removes what it wrote, so
    /// the store holds either the whole finding or nothing of it, and throws one line naming the
    /// file.
    @discardableResult
    public func save(_ f: Finding, minimized: Trace? = nil, manifest kernelDir: URL? = nil) throws -> String {
        let dir = root.appendingPathComponent(f.slug)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CampaignError("\(dir.path): not a directory (in the way of the finding '\(f.title)')") }
            return dir.path + " (already known)"
        }
        let tmp = root.appendingPathComponent(".tmp-\(f.slug)-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        if mkdir(tmp.path, 0o755) != 0 { throw CampaignError("\(tmp.path): cannot create directory: \(String(cString: strerror(errno)))") }
        do {
            let manifest = kernelDir.flatMap { try? String(contentsOf: $0.appendingPathComponent("manifest.json"), encoding: .utf8) } ?? "{}"
            try AtomicFile.write(Data(Report.render(f, minimized: minimized, manifest: manifest).utf8), to: tmp.appendingPathComponent("report.txt"))
            try AtomicFile.write(Data(f.traceFile.utf8), to: tmp.appendingPathComponent("trace.trace"))
            if let minimized {
                try AtomicFile.write(Data(TracePrinter.trace(minimized).utf8), to: tmp.appendingPathComponent("minimized.trace"))
                try AtomicFile.write(Data(Repro.cOrError(minimized).utf8), to: tmp.appendingPathComponent("repro.c"))
            }
            try AtomicFile.write(Data(f.console.utf8), to: tmp.appendingPathComponent("console.log"))
            try AtomicFile.write(Data(manifest.utf8), to: tmp.appendingPathComponent("manifest.json"))
            if rename(tmp.path, dir.path) != 0 { throw CampaignError("\(dir.path): cannot rename \(tmp.lastPathComponent) into place: \(String(cString: strerror(errno)))") }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            // Name the finding's directory, not the temporary one it was being written in.
            throw CampaignError("\(error)".replacingOccurrences(of: tmp.path, with: dir.path))
        }
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
