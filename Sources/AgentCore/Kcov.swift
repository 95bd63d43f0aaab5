// KCOV (Documentation/dev-tools/kcov.rst) for the dmem code: each task that does ops (the agent,
// every actor) traces its own syscalls; only PCs inside the functions of kernel/cgroup/dmem.c and
// mm/page_counter.c (and the C files of a --series) count; consecutive ones form the edges
// reported to the host, and each PC is reported as well.
import Glibc
import CKmod

/// Text ranges [start, end) of the functions that count, sorted; the host computes them from the
/// kernel's symbol table (KCOV reports link-time PCs: it subtracts the KASLR offset).
struct KcovFilter {
    var starts: [UInt64] = [], ends: [UInt64] = []

    /// `start end` pairs in hex, one per line.
    init(text: String) {
        var pairs: [(UInt64, UInt64)] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let s = UInt64(f[0], radix: 16), let e = UInt64(f[1], radix: 16), s < e { pairs.append((s, e)) }
        }
        pairs.sort { $0.0 < $1.0 }
        starts = pairs.map(\.0); ends = pairs.map(\.1)
    }
    var isEmpty: Bool { starts.isEmpty }

    func contains(_ pc: UInt64) -> Bool {
        var lo = 0, hi = starts.count
        while lo < hi { let mid = (lo + hi) / 2; if starts[mid] <= pc { lo = mid + 1 } else { hi = mid } }
        return lo > 0 && pc < ends[lo - 1]
    }
}

/// One task's KCOV buffer in PC-trace mode.
final class Kcov {
    static let initTrace: UInt = 0x8008_6301   // KCOV_INIT_TRACE = _IOR('c', 1, unsigned long)
    static let enable: UInt = 0x6364            // KCOV_ENABLE = _IO('c', 100)
    static let tracePC: UInt = 0                // KCOV_TRACE_PC
    let fd: Int32
    let area: UnsafeMutablePointer<UInt64>
    let entries: Int
    let filter: KcovFilter
    /// Edges seen since the host last asked.
    var edges = Set<UInt64>()

    /// nil when the kernel has no KCOV (no /sys/kernel/debug/kcov) or it refuses this task.
    init?(filter: KcovFilter, entries: Int = 1 << 18) {
        let fd = open("/sys/kernel/debug/kcov", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard dmemfuzz_ioctl_val(fd, Kcov.initTrace, UInt(entries)) == 0,
              let p = mmap(nil, entries * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            close(fd); return nil
        }
        guard dmemfuzz_ioctl_val(fd, Kcov.enable, Kcov.tracePC) == 0 else {
            munmap(p, entries * 8); close(fd); return nil
        }
        self.fd = fd; self.entries = entries; self.filter = filter
        area = p.assumingMemoryBound(to: UInt64.self)
        area[0] = 0
    }

    /// Folds what the task traced since the last call into `edges` and restarts the trace.
    func collect() {
        let n = min(Int(area[0]), entries - 1)
        var prev: UInt64 = 0
        if n > 0 {
            for i in 1...n {
                let pc = area[i]
                guard filter.contains(pc) else { continue }
                // syzkaller's edge: the previous counted PC, mixed, xor this one. The PC itself
                // goes in too, for line coverage (Campaign/CoverageReport.swift): the host tells
                // PCs from edges by the filter's ranges, where an edge hash lands with odds of
                // about 2^-45 (a few hundred KiB of text in 2^64).
                edges.insert((prev &* 0x9E37_79B9_7F4A_7C15) ^ pc)
                edges.insert(pc)
                prev = pc
            }
        }
        area[0] = 0
    }

    /// The edges gathered so far, emptied.
    func take() -> [UInt64] { collect(); defer { edges.removeAll(keepingCapacity: true) }; return Array(edges) }
}
