import ArgumentParser
import Foundation
import Trace

/// Input a command cannot use, as the one line that names it: `file[:line:col]: what is wrong`.
/// `main` prints it after `dmemfuzz: ` and exits 2.
struct BadInput: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Finding and loading trace files. A corpus walk reports every file: a file that cannot be
/// used is a `BadInput` of its own, never the end of the walk, and never a silent pass.
enum TraceFiles {
    /// Every trace under `paths`, sorted: a file as given (whatever its name), a directory's
    /// `*.trace` entries at any depth (an entry that is not a regular file is listed too, so
    /// loading it says what it is). A missing path, or a directory that holds no traces, is bad input.
    static func expand(_ paths: [String]) throws(BadInput) -> [String] {
        var out: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                throw BadInput("\(Shown(p)): no such file or directory")
            }
            guard isDir.boolValue else { out.append(p); continue }
            var found: [String] = []
            let e = FileManager.default.enumerator(atPath: p)
            while let f = e?.nextObject() as? String {
                if f.hasSuffix(".trace") { found.append((p as NSString).appendingPathComponent(f)) }
            }
            guard !found.isEmpty else { throw BadInput("\(Shown(p)): a directory with no *.trace files in it") }
            out += found
        }
        return out.sorted()
    }

    /// Seed traces for a campaign; a missing path is skipped (the default `corpora` is relative to
    /// the checkout), anything else that cannot be used is bad input naming it.
    static func seeds(_ paths: [String]) throws(BadInput) -> [Trace] {
        let present = paths.filter { FileManager.default.fileExists(atPath: $0) }
        if present.isEmpty { return [] }
        var traces: [Trace] = []
        for f in try expand(present) { traces.append(try load(f).0) }
        return traces
    }

    /// A trace and the line of each step; bad input if it is not a readable file, does not parse
    /// (file:line:col), or has no ops (an empty trace checks nothing).
    static func load(_ file: String) throws(BadInput) -> (Trace, [Int]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir) else {
            throw BadInput("\(Shown(file)): no such file or directory")
        }
        if isDir.boolValue { throw BadInput("\(Shown(file)): a directory, not a trace file") }
        // A FIFO or device would block the read or never end: only regular files are traces.
        let type = (try? FileManager.default.attributesOfItem(atPath: file)[.type]) as? FileAttributeType
        guard type == .typeRegular else { throw BadInput("\(Shown(file)): not a regular file") }
        guard let data = FileManager.default.contents(atPath: file) else { throw BadInput("\(Shown(file)): cannot read") }
        let parsed: (trace: Trace, lines: [Int])
        do { parsed = try TraceParser(file: file).parseLocated(bytes: Array(data)) }
        catch { throw BadInput(error.description) }
        guard !parsed.trace.steps.isEmpty else { throw BadInput("\(Shown(file)): no ops (an empty trace checks nothing)") }
        return (parsed.trace, parsed.lines)
    }

    /// Every trace under `paths` as loaded or as the reason it cannot be: the walk itself
    /// failing (a missing path, no traces) is the only thing that stops it.
    static func walk(_ paths: [String]) throws(BadInput) -> [(file: String, trace: Result<(Trace, [Int]), BadInput>)] {
        try expand(paths).map { f in (f, Result { () throws(BadInput) in try load(f) }) }
    }
}
