import Foundation
import Shell

/// Which source lines of the KCOV-counted functions (KcovRanges) can be reached, and which line
/// each PC KCOV reports belongs to: the kernel's own code and debug info, nothing guessed.
/// gcc's -fsanitize-coverage=trace-pc calls __sanitizer_cov_trace_pc at the start of each basic
/// block and KCOV records that call's return address, so a function's instrumented PCs are the
/// addresses right after those calls (`objdump -d`), and addr2line of PC - 1 (the call itself)
/// names the block's line. vm/build-kernel.sh compiles the counted files with -g for it.
public struct LineMap: Sendable, Equatable {
    public struct Line: Hashable, Sendable, Comparable {
        public var file: String, line: Int
        public init(file: String, line: Int) { self.file = file; self.line = line }
        public static func < (a: Line, b: Line) -> Bool { (a.file, a.line) < (b.file, b.line) }
    }
    /// Every instrumented PC of the counted functions and its line (paths relative to the tree).
    public var lines: [UInt64: Line]
    public init(lines: [UInt64: Line]) { self.lines = lines }

    /// `pc file line` per line, as cached beside the build.
    public var text: String {
        lines.sorted { $0.key < $1.key }.map { String($0.key, radix: 16) + " \($0.value.file) \($0.value.line)" }.joined(separator: "\n")
    }
    public init(text: String) {
        var l: [UInt64: Line] = [:]
        for row in text.split(separator: "\n") {
            let f = row.split(separator: " ")
            if f.count == 3, let pc = UInt64(f[0], radix: 16), let n = Int(f[2]) { l[pc] = Line(file: String(f[1]), line: n) }
        }
        lines = l
    }
}

public enum LineCoverage {
    /// The line map of the build, computed once and kept beside it (`kcov-lines`); nil without
    /// vmlinux, ranges or debug info (a build from before -g: every line would be `??`).
    public static func map(for kernel: KernelBuild) async -> LineMap? {
        let cache = kernel.dir.appendingPathComponent("kcov-lines")
        if let t = try? String(contentsOf: cache, encoding: .utf8) { return LineMap(text: t) }
        let vmlinux = kernel.dir.appendingPathComponent("vmlinux").path
        let ranges = parseRanges(await KcovRanges.text(for: kernel))
        guard FileManager.default.fileExists(atPath: vmlinux), !ranges.isEmpty else { return nil }
        var pcs: [UInt64] = []
        for (lo, hi) in clusters(ranges) {
            guard let asm = try? await Shell.run(["objdump", "-d", "--no-show-raw-insn", "--start-address=0x" + String(lo, radix: 16),
                                                  "--stop-address=0x" + String(hi, radix: 16), vmlinux]) else { return nil }
            pcs += callReturns(objdump: asm).filter { pc in ranges.contains { $0.0 < pc && pc <= $0.1 } }
        }
        guard !pcs.isEmpty else { return nil }
        var lines: [UInt64: LineMap.Line] = [:]
        // addr2line takes the addresses as arguments; a few thousand fit in one command line.
        for chunk in stride(from: 0, to: pcs.count, by: 2000).map({ Array(pcs[$0..<min($0 + 2000, pcs.count)]) }) {
            guard let out = try? await Shell.run(["addr2line", "-a", "-i", "-e", vmlinux] + chunk.map { "0x" + String($0 - 1, radix: 16) }) else { return nil }
            for (addr, l) in locations(addr2line: out) { lines[addr + 1] = l }
        }
        guard !lines.isEmpty else { return nil }
        let map = LineMap(lines: lines)
        try? map.text.write(to: cache, atomically: true, encoding: .utf8)
        return map
    }

    static func parseRanges(_ text: String) -> [(UInt64, UInt64)] {
        text.split(separator: "\n").compactMap { l in
            let f = l.split(separator: " ")
            guard f.count == 2, let s = UInt64(f[0], radix: 16), let e = UInt64(f[1], radix: 16) else { return nil }
            return (s, e)
        }
    }

    /// Sorted ranges joined where the gap is small, so one objdump covers a file's functions.
    static func clusters(_ ranges: [(UInt64, UInt64)]) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        for r in ranges.sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, r.0 <= last.1 + 0x10000 { out[out.count - 1].1 = max(last.1, r.1) } else { out.append(r) }
        }
        return out
    }

    /// The address after each `call ... <__sanitizer_cov_trace_pc>` of `objdump -d` output: what
    /// KCOV records for that call.
    static func callReturns(objdump: String) -> [UInt64] {
        var out: [UInt64] = []
        var pendingCall = false
        for line in objdump.split(separator: "\n") {
            let t = line.drop { $0 == " " }
            guard let colon = t.firstIndex(of: ":"), let addr = UInt64(t[..<colon], radix: 16), t[colon...].hasPrefix(":\t") else { continue }
            if pendingCall { out.append(addr); pendingCall = false }
            if t.contains("call") && t.hasSuffix("<__sanitizer_cov_trace_pc>") { pendingCall = true }
        }
        return out
    }

    /// `addr2line -a -i` output: each address, then its inline chain innermost first. A block
    /// inlined from a header (kzalloc from slab.h) belongs to the line of the counted function
    /// that it was inlined into, and a static helper inlined within the same file to its own
    /// line: the innermost frame in the file of the outermost one.
    static func locations(addr2line: String) -> [(UInt64, LineMap.Line)] {
        var out: [(UInt64, LineMap.Line)] = []
        var addr: UInt64?, chain: [LineMap.Line] = []
        func flush() {
            if let a = addr, let outer = chain.last, let l = chain.first(where: { $0.file == outer.file }) { out.append((a, l)) }
            chain = []
        }
        for row in addr2line.split(separator: "\n") {
            if row.hasPrefix("0x"), let a = UInt64(row.dropFirst(2), radix: 16) { flush(); addr = a; continue }
            if let l = parseLocation(row) { chain.append(l) }
        }
        flush()
        return out
    }

    /// `/…/src/kernel/cgroup/dmem.c:455 (discriminator 3)` -> kernel/cgroup/dmem.c 455; nil for `??`.
    static func parseLocation(_ row: Substring) -> LineMap.Line? {
        let loc = row.split(separator: " ").first ?? ""
        guard let colon = loc.lastIndex(of: ":"), let n = Int(loc[loc.index(after: colon)...]), n > 0 else { return nil }
        var path = String(loc[..<colon])
        if let r = path.range(of: "/src/", options: .backwards) { path = String(path[r.upperBound...]) }
        while path.hasPrefix("./") || path.hasPrefix("../") { path = String(path.drop { $0 == "." }.dropFirst()) }
        return LineMap.Line(file: path, line: n)
    }
}
