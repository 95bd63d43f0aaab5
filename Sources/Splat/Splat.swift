// Kernel console splat detection: BUG/WARNING/KASAN/UBSAN/lockdep/refcount/list corruption/Oops/
// panic/RCU stall/hung task/soft lockup reports, each with a syzbot-style title.
// Formats follow the printk calls in kernel/panic.c (__warn), lib/bug.c, mm/kasan/report.c,
// kernel/locking/lockdep.c, lib/refcount.c, lib/list_debug.c, lib/ubsan.c, kernel/watchdog.c,
// kernel/hung_task.c, kernel/rcu/tree_stall.h, arch/x86/kernel/dumpstack.c.

// No Foundation: the parser is text in, reports out (stdlib string processing only).

public struct Splat: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case warning, bug, kasan, kcsan, ubsan, lockdep, refcount, listCorruption, oops, panic, rcuStall, hungTask, softLockup
    }
    public var kind: Kind
    /// syzbot-style: "WARNING in f", "KASAN: slab-use-after-free Read in f", "possible deadlock in f".
    public var title: String
    /// Reliable frames of the report's call trace, `func+0x1/0x2 [mod]`, innermost first.
    public var callTrace: [String]
    /// The report's console lines (timestamps stripped).
    public var raw: String
    public var description: String { title }
}

public enum SplatParser {
    /// Finds every report in a console log, in order.
    public static func parse(_ log: String) -> [Splat] {
        // QEMU's serial file has CRLF line ends; "\r\n" is one Character in Swift, so split on both.
        let lines = log.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { strip(Substring($0)) }
        var out: [Splat] = []
        var i = 0
        while i < lines.count {
            guard let kind = startKind(lines[i]) else { i += 1; continue }
            // Preamble that belongs to the report: "cut here", the ==== rule, WARN()/list messages.
            var s = i
            while s > 0 && i - s < 3 && isPreamble(lines[s - 1]) { s -= 1 }
            var e = i + 1
            var sawTrace = false
            while e < lines.count && e - i < 400 {
                let l = lines[e]
                if l.hasPrefix("---[ end trace") || l.hasPrefix("---[ end Kernel panic") { e += 1; break }
                if (kind == .kasan || kind == .kcsan) && l.hasPrefix("=====") { e += 1; break }
                if l.contains("Call Trace:") { sawTrace = true }
                if sawTrace && l.trimmingSpaces == "</TASK>" && [.lockdep, .hungTask, .rcuStall, .bug, .ubsan].contains(kind) && !hasEndMarkerSoon(lines, e) {
                    e += 1; break
                }
                if let k = startKind(l), !continues(kind, with: k, line: l) { break }
                e += 1
            }
            let block = Array(lines[s..<e])
            out.append(make(kind, block, startLine: lines[i]))
            i = e
        }
        return out
    }

    // MARK: classification

    static func startKind(_ l: String) -> Splat.Kind? {
        if l.hasPrefix("BUG: KASAN: ") { return .kasan }
        if l.hasPrefix("BUG: KCSAN: ") { return .kcsan }
        if l.hasPrefix("UBSAN: ") { return .ubsan }
        if l.hasPrefix("WARNING: ") {
            return isWarnLine(l) ? .warning : .lockdep
        }
        if l.hasPrefix("kernel BUG at ") { return .bug }
        if l.hasPrefix("list_add corruption") || l.hasPrefix("list_del corruption") { return .listCorruption }
        if l.hasPrefix("refcount_t: ") { return .refcount }
        if l.hasPrefix("BUG: kernel NULL pointer dereference") || l.hasPrefix("BUG: unable to handle") { return .oops }
        if l.hasPrefix("Oops: ") || l.hasPrefix("general protection fault") { return .oops }
        if l.contains("BUG: soft lockup") { return .softLockup }
        if l.hasPrefix("BUG: ") { return .bug }
        if l.hasPrefix("Kernel panic - not syncing") { return .panic }
        if l.contains("INFO: ") && (l.contains("self-detected stall") || l.contains("detected stalls on CPU")) { return .rcuStall }
        if l.hasPrefix("INFO: task ") && l.contains("blocked for more than") { return .hungTask }
        return nil
    }

    /// __warn's header: `WARNING: CPU: 0 PID: 1 at f.c:1 fn+0x..` (<= 6.x), `WARNING: f.c:1 at fn+0x.., CPU#0: comm/pid`
    /// or `WARNING: at fn+0x.., CPU#0: ...` (7.x).
    static func isWarnLine(_ l: String) -> Bool {
        l.hasPrefix("WARNING: CPU: ") || l.hasPrefix("WARNING: at ") || l.contains(", CPU#")
    }

    static func isPreamble(_ l: String) -> Bool {
        l.contains("[ cut here ]") || l.hasPrefix("=====") || l.hasPrefix("refcount_t: ")
            || l.hasPrefix("list_add corruption") || l.hasPrefix("list_del corruption")
            || l.hasPrefix("list_add double add")
    }

    /// Does a report of `kind` continue through a line that would start `next`?
    static func continues(_ kind: Splat.Kind, with next: Splat.Kind, line: String) -> Bool {
        switch (kind, next) {
        case (.bug, .oops), (.listCorruption, .bug), (.listCorruption, .oops), (.listCorruption, .warning),
             (.refcount, .warning), (.softLockup, .oops), (.kasan, .oops):
            return line.hasPrefix("Oops: ") || line.hasPrefix("kernel BUG at ") || line.hasPrefix("WARNING: ")
        case (.warning, .refcount), (.warning, .listCorruption): return true  // 7.x prints the WARN text after the header
        case (.oops, .oops): return line.hasPrefix("Oops: ")  // "BUG: unable to handle..." then "Oops: ..."
        default: return false
        }
    }

    static func hasEndMarkerSoon(_ lines: [String], _ at: Int) -> Bool {
        for j in (at + 1)..<min(lines.count, at + 6) where lines[j].hasPrefix("---[ end trace") { return true }
        return false
    }

    // MARK: building a splat

    static func make(_ startKind: Splat.Kind, _ block: [String], startLine: String) -> Splat {
        let trace = callTrace(block)
        let rip = block.first { $0.hasPrefix("RIP: ") && $0.contains(":") && $0.contains("+0x") }
            .flatMap { symbol(afterLast: ":", in: $0) }
        var kind = startKind
        let text = block.joined(separator: "\n")
        if kind == .warning || kind == .bug || kind == .oops {
            if text.contains("refcount_t: ") { kind = .refcount }
            if text.contains("list_add corruption") || text.contains("list_del corruption") || text.contains("list_add double add") { kind = .listCorruption }
        }
        let culprit = firstInteresting(trace)
        var title: String
        switch kind {
        case .warning:
            let f = warnFunction(startLine) ?? culprit ?? "?"
            title = "WARNING in \(f)"
        case .refcount:
            let msg = block.first { $0.hasPrefix("refcount_t: ") }.map { String($0.dropFirst(12)).trimmingSuffix(".") } ?? ""
            let kindWord = msg.hasPrefix("underflow") ? "underflow" : msg.hasPrefix("saturated") ? "saturated" : msg.hasPrefix("addition on 0") ? "addition on 0" : msg.hasPrefix("decrement hit 0") ? "decrement hit 0" : msg.hasPrefix("addition") ? "addition" : "bug"
            title = "refcount bug (\(kindWord)) in \(culprit ?? rip ?? "?")"
        case .listCorruption:
            let which = text.contains("list_del corruption") ? "list_del corruption" : text.contains("list_add double add") ? "list_add double add" : "list_add corruption"
            title = "\(which) in \(culprit ?? rip ?? "?")"
        case .kasan:
            // BUG: KASAN: slab-use-after-free in dmemcg_pool_put+0x12/0x34
            let rest = startLine.dropFirst("BUG: KASAN: ".count)
            let parts = rest.components(" in ")
            let type = parts.first ?? String(rest)
            let f = parts.count > 1 ? symbolName(parts[1]) : (culprit ?? "?")
            let access = block.first { $0.hasPrefix("Read of size") } != nil ? " Read" : block.first { $0.hasPrefix("Write of size") } != nil ? " Write" : ""
            title = "KASAN: \(type)\(access) in \(f)"
        case .kcsan:
            // BUG: KCSAN: data-race in page_counter_try_charge / page_counter_uncharge (syzbot:
            // "KCSAN: data-race in A / B", both functions without offsets)
            let rest = startLine.dropFirst("BUG: KCSAN: ".count)
            let parts = rest.components(" in ")
            let type = parts.first ?? String(rest)
            let fs = parts.count > 1 ? parts[1].components(" / ").map { symbolName($0) }.joined(separator: " / ") : (culprit ?? "?")
            title = "KCSAN: \(type) in \(fs)"
        case .ubsan:
            let rest = startLine.dropFirst("UBSAN: ".count)
            let type = rest.components(" in ").first ?? String(rest)
            title = "UBSAN: \(type) in \(culprit ?? "?")"
        case .lockdep:
            let what = String(startLine.dropFirst("WARNING: ".count))
            let at = block.first { $0.contains(", at: ") }.flatMap { symbol(afterLast: "at: ", in: $0) }
            let f = at ?? culprit ?? "?"
            if what.hasPrefix("possible circular") || what.hasPrefix("possible recursive") || what.contains("lock order detected") || what.contains("lock inversion") {
                title = "possible deadlock in \(f)"
            } else if what.hasPrefix("suspicious RCU usage") {
                title = "suspicious RCU usage in \(culprit ?? f)"
            } else {
                title = "\(what.trimmingSuffix("!").trimmingSuffix(" detected")) in \(f)"
            }
        case .bug:
            if startLine.hasPrefix("kernel BUG at ") {
                title = "kernel BUG in \(rip ?? culprit ?? "?")"
            } else {
                var msg = String(startLine.dropFirst(5))
                if let r = msg.firstRange(of: " at ") { msg = String(msg[..<r.lowerBound]) }
                if let r = msg.firstRange(of: ":") { msg = String(msg[..<r.lowerBound]) }
                title = "BUG: \(msg) in \(culprit ?? rip ?? "?")"
            }
        case .oops:
            let f = rip ?? culprit ?? "?"
            if startLine.hasPrefix("BUG: kernel NULL pointer dereference") { title = "BUG: kernel NULL pointer dereference in \(f)" }
            else if startLine.hasPrefix("BUG: unable to handle") { title = "BUG: unable to handle kernel paging request in \(f)" }
            else if text.contains("general protection fault") { title = "general protection fault in \(f)" }
            else if text.contains("invalid opcode") { title = "invalid opcode in \(f)" }
            else { title = "Oops in \(f)" }
        case .panic:
            title = startLine.trimmingSuffix(".")
        case .rcuStall:
            title = "INFO: rcu detected stall in \(culprit ?? rip ?? "?")"
        case .hungTask:
            title = "INFO: task hung in \(culprit ?? "?")"
        case .softLockup:
            title = "BUG: soft lockup in \(rip ?? culprit ?? "?")"
        }
        return Splat(kind: kind, title: title, callTrace: trace, raw: text)
    }

    /// Function of a __warn header line.
    static func warnFunction(_ l: String) -> String? {
        if l.hasPrefix("WARNING: CPU: ") {  // "... at file:line func+0x/0x [mod]"
            guard let r = l.firstRange(of: " at ") else { return nil }
            let rest = l[r.upperBound...].split(separator: " ")
            return rest.count > 1 ? symbolName(String(rest[1])) : nil
        }
        guard let r = l.firstRange(of: " at ") ?? l.firstRange(of: "WARNING: at ").map({ $0 }) else { return nil }
        let rest = l[r.upperBound...]
        let sym = rest.split(separator: ",").first.map(String.init) ?? String(rest)
        return symbolName(sym)
    }

    /// Reliable frames of the last "Call Trace:" (lockdep prints chains first, the backtrace last).
    static func callTrace(_ block: [String]) -> [String] {
        guard let start = block.lastIndex(where: { $0.contains("Call Trace:") }) else { return [] }
        var frames: [String] = []
        for l in block[(start + 1)...] {
            let t = l.trimmingSpaces
            if t.hasPrefix("<") && t.hasSuffix(">") { continue }  // <TASK> </TASK> <IRQ> ...
            if t.hasPrefix("? ") { continue }                        // unreliable
            guard let plus = t.firstIndex(of: "+"), t[plus...].hasPrefix("+0x"), !t.hasPrefix("RIP") else {
                if frames.isEmpty { continue } else { break }
            }
            frames.append(t)
        }
        return frames
    }

    static let boring: [String] = [
        "dump_stack", "dump_stack_lvl", "show_stack", "__warn", "warn_slowpath_fmt", "report_bug", "handle_bug",
        "exc_invalid_op", "asm_exc_invalid_op", "kasan_report", "print_report", "print_address_description",
        "refcount_warn_saturate", "__refcount_add", "__refcount_sub_and_test", "__refcount_dec_and_test",
        "__refcount_inc", "__refcount_dec", "refcount_dec_and_test", "refcount_sub_and_test",
        "__list_add_valid_or_report", "__list_del_entry_valid_or_report", "check_data_corruption",
        "__schedule", "schedule", "schedule_timeout", "schedule_preempt_disabled", "io_schedule",
        "__mutex_lock", "mutex_lock_nested", "mutex_lock", "__mutex_lock_common", "rwsem_down_write_slowpath",
        "rwsem_down_read_slowpath", "down_write", "down_read", "__wait_for_common", "wait_for_completion",
        "context_switch", "__switch_to", "__switch_to_asm", "lock_acquire", "__lock_acquire", "lockdep_rcu_suspicious",
        "panic", "__might_resched", "__might_sleep", "__might_fault", "preempt_schedule_common",
        "rcu_dump_cpu_stacks", "print_cpu_stall", "check_cpu_stall", "rcu_pending", "rcu_sched_clock_irq",
        "update_process_times", "tick_nohz_handler", "__hrtimer_run_queues", "hrtimer_interrupt",
        "watchdog_timer_fn",
    ]
    static let boringPrefixes = ["__asan_", "__kasan_", "kasan_", "ubsan_", "__ubsan_", "__sanitizer_", "lockdep_",
                                 "print_", "asm_", "sysvec_", "__sysvec_", "irq_exit", "__irq_exit", "__do_softirq",
                                 "entry_SYSCALL", "do_syscall", "x64_sys_call"]

    static func firstInteresting(_ frames: [String]) -> String? {
        for f in frames {
            let n = symbolName(f)
            if boring.contains(n) || boringPrefixes.contains(where: { n.hasPrefix($0) }) { continue }
            return n
        }
        return frames.first.map(symbolName)
    }

    /// `func.cold+0x1/0x2 [mod]` -> `func`.
    static func symbolName(_ s: String) -> String {
        var t = Substring(s.trimmingSpaces)
        if let p = t.firstIndex(of: "+") { t = t[..<p] }
        if let sp = t.firstIndex(of: " ") { t = t[..<sp] }
        if let dot = t.firstIndex(of: "."), dot != t.startIndex { t = t[..<dot] }
        return String(t)
    }
    static func symbol(afterLast marker: String, in l: String) -> String? {
        guard let r = l.ranges(of: marker).last else { return nil }
        let s = String(l[r.upperBound...]).trimmingSpaces
        return s.contains("+0x") ? symbolName(s) : nil
    }

    /// Drops "[    1.234567] " and caller ids "[  T123] " / "[    C1] ", and CRs.
    static func strip(_ l: Substring) -> String {
        var t = l
        if t.last == "\r" { t = t.dropLast() }
        for _ in 0..<2 {
            if t.first == "[", let close = t.firstIndex(of: "]") {
                let inner = t[t.index(after: t.startIndex)..<close].trimmingSpacesSub
                let isTime = !inner.isEmpty && inner.allSatisfy { $0.isNumber || $0 == "." }
                let isCaller = inner.count >= 2 && (inner.first == "T" || inner.first == "C") && inner.dropFirst().allSatisfy(\.isNumber)
                if isTime || isCaller { t = t[t.index(after: close)...]; if t.first == " " { t = t.dropFirst() }; continue }
            }
            break
        }
        return String(t)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
    var trimmingSpacesSub: Substring { Substring(trimmingSpaces) }
    func trimmingSuffix(_ x: String) -> String { hasSuffix(x) ? String(dropLast(x.count)) : String(self) }
    func components(_ sep: String) -> [String] {
        var out: [String] = [], rest = Substring(self)
        while let r = rest.firstRange(of: sep) { out.append(String(rest[..<r.lowerBound])); rest = rest[r.upperBound...] }
        out.append(String(rest))
        return out
    }
}
