// failslab around one op (Trace `fail N op`, issue 9). lib/fault-inject.c's should_fail_ex()
// with probability 100, interval 1 and `times` N fails every allocation that passes its filters
// until N are used up; task-filter lets through only tasks whose make-it-fail is set (the one
// doing the op), and the stack filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER) only
// allocations with a frame inside [require-start, require-end): the text of the one dmem.c
// function that allocates the op's dmem objects. So the kernel fails exactly the allocations
// the model counts (Model.allocates), and nothing of vgem's, TTM's or the VFS's.
import AgentProtocol
import Glibc

struct FaultInjector {
    static let dir = Failslab.dir
    /// [start, end) of each function asked for so far (`/proc/kallsyms`); nil: not in it.
    var ranges: [String: (UInt64, UInt64)?] = [:]
    var ready = false

    /// The attributes that stay the same for every op; `times` 0 keeps failslab idle between.
    mutating func setUp() -> String? {
        if ready { return nil }
        guard Sys.exists(Self.dir + "/require-start") else {
            return "\(Self.dir)/require-start is missing: the kernel lacks CONFIG_FAULT_INJECTION_STACKTRACE_FILTER"
        }
        for (f, v) in Failslab.settings where Sys.writeFile(Self.dir + "/" + f, v) != 0 {
            return "writing \(v) to \(Self.dir)/\(f): errno \(errno)"
        }
        ready = true
        return nil
    }

    /// The function's text: its address in /proc/kallsyms (sorted by address for the kernel
    /// image) up to the next symbol's. A clone gcc suffixed (`.isra.0`, `.constprop.0`) counts.
    mutating func range(of fn: String) -> (UInt64, UInt64)? {
        if let r = ranges[fn] { return r }
        guard let text = Sys.readText("/proc/kallsyms") else { return nil }
        let r = Self.range(of: fn, kallsyms: text)
        ranges[fn] = .some(r)
        return r
    }

    static func range(of fn: String, kallsyms text: String) -> (UInt64, UInt64)? {
        var start: UInt64?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3, let addr = UInt64(f[0], radix: 16) else { continue }
            if let s = start {
                if addr > s { return (s, addr) }
                continue
            }
            if f[1] == "t" || f[1] == "T", f[2] == fn || f[2].hasPrefix(fn + "."), addr != 0 { start = addr }
        }
        return nil
    }

    /// Arms `count` failures in `fn` for the task whose make-it-fail file is `task`; `nth`: the
    /// count-th allocation in `fn` alone, `task` being its fail-nth file (should_fail_ex() takes
    /// that path before probability, task-filter and times, after the stack filter; times stays 0).
    mutating func arm(_ count: Int, in fn: String, task: String, nth: Bool = false) -> String? {
        if let e = setUp() { return e }
        guard let (s, e) = range(of: fn) else { return "\(fn) is not in /proc/kallsyms (inlined in this build?)" }
        let reject = range(of: Failslab.rejectFunction).map { Self.bounds("reject", $0) } ?? []
        for (f, v) in reject + Self.bounds("require", (s, e)) + (nth ? [] : [("times", String(count))])
        where Sys.writeFile(Self.dir + "/" + f, v) != 0 {
            return "writing \(v) to \(Self.dir)/\(f): errno \(errno)"
        }
        let v = nth ? String(count) : "1"
        if Sys.writeFile(task, v) != 0 { return "writing \(v) to \(task): errno \(errno)" }
        return nil
    }

    /// The `<kind>-start` and `<kind>-end` attributes of a stack filter range, in hex (repro.h's
    /// fail_set_range).
    static func bounds(_ kind: String, _ r: (UInt64, UInt64)) -> [(String, String)] {
        [("\(kind)-start", "0x" + String(r.0, radix: 16)), ("\(kind)-end", "0x" + String(r.1, radix: 16))]
    }

    /// Disarms; how many of the `count` failures were injected (`nth`: 1 when fail-nth reads 0).
    func disarm(_ count: Int, task: String, nth: Bool = false) -> Int {
        if nth {
            let left = Sys.readText(task).flatMap { Int($0.split(separator: "\n").first ?? "") }
            _ = Sys.writeFile(task, "0")
            return left == 0 ? 1 : 0
        }
        _ = Sys.writeFile(task, "0")
        let left = Sys.readText(Self.dir + "/times").flatMap { Int($0.split(separator: "\n").first ?? "") } ?? count
        _ = Sys.writeFile(Self.dir + "/times", "0")
        return count - left
    }
}
