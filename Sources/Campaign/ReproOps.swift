import DmemModel
import Trace
import Fuzz

/// A standalone reproducer: a static C program that performs a trace's ops in the guest with
/// plain syscalls and the test patches' ioctls, printing each outcome as a trace line and, where
/// it differs, what the model expects. It needs neither dmemfuzz nor its agent.
///
/// repro.c = `ReproTables.header` (generated: errno names, ioctl numbers) + repro/repro.h (the
/// fixed C, a real file) + the trace's ops as `main` (here).
public enum Repro {
    static func cString(_ bytes: [UInt8]) -> String {
        var s = "\""
        for b in bytes {
            switch b {
            case 0x22: s += "\\\""
            case 0x5c: s += "\\\\"
            case 0x20...0x7e where b != 0x3f: s.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let o = Array("01234567")
                s += "\\" + String(o[Int(b >> 6)]) + String(o[Int((b >> 3) & 7)]) + String(o[Int(b & 7)])
            }
        }
        return s + "\""
    }

    /// The reproducer, or a C file that does not compile and says why (for a finding's files,
    /// which are written whatever the trace holds).
    public static func cOrError(_ t: Trace) -> String {
        do { return try c(t) } catch { return "#error \(cString(Array("dmemfuzz cannot write a reproducer for this trace: \(error)".utf8)))\n" }
    }

    public static func c(_ t: Trace) throws(Unsupported) -> String {
        try check(t)
        var body = "", defs = ""
        var model = ModelExecutor(profile: t.profile, options: t.options)
        let skip = skipped(t.steps)
        for (n, st) in t.steps.enumerated() {
            let label = cString(Array(TracePrinter.op(st.op).utf8))
            if case let .par(ops) = st.op {
                // Each member a function of its own, run by group() in a thread; the lines it
                // accepts are every order the model allows from the state before the group.
                var names: [String] = []
                for (k, op) in ops.enumerated() {
                    guard let call = call(op) else { throw Unsupported(description: "op \(n + 1) (\(TracePrinter.op(st.op))): \(TracePrinter.op(op)) cannot run in a reproducer's group") }
                    names.append("g\(n)_\(k)")
                    defs += "static int g\(n)_\(k)(void) { int r; \(call); return r; }\n"
                }
                let orders = model.linearizations(ops)
                let accepted = Set(orders.compactMap { $0.outcome.map(TracePrinter.outcome) }).sorted()
                // Outcomes two orders give with different states after (a charge and the move of
                // its task: `{ ok | ok }` either way, the charge in the old cgroup or the new):
                // what follows depends on the order, which the outcomes do not tell.
                let ambiguous = accepted.filter { text in
                    let afters = orders.filter { $0.outcome.map(TracePrinter.outcome) == text }.map(\.after.model)
                    return afters.contains { $0 != afters[0] }
                }
                _ = model.apply(st.op, recorded: st.expect)
                func list(_ xs: [String]) -> String { (xs.map { cString(Array($0.utf8)) } + ["NULL"]).joined(separator: ", ") }
                body += "\t{ static int (*const fns[])(void) = { \(names.joined(separator: ", ")) };\n"
                body += "\t  static const char *const accept[] = { \(list(accepted.isEmpty ? ["?"] : accepted)) };\n"
                body += "\t  static const char *const ambiguous[] = { \(list(ambiguous)) };\n"
                let recorded = cString(Array((st.expect.map(TracePrinter.outcome) ?? "?").utf8))
                body += "\t  group(\(label), fns, \(ops.count), accept, ambiguous, \(recorded)); }\n"
                continue
            }
            _ = model.apply(st.op)
            let expect = cString(Array((st.expect.map(TracePrinter.outcome) ?? "?").utf8))
            if skip[n] {
                body += "\tprintf(\"# skipped: %s\\n\", \(label));\n"
                continue
            }
            // Timed per verb, named as the agent's statistics name it (the printed op's first
            // word), so `bench lockstep` compares the two per op kind (DMEMFUZZ_REPRO_TIMES=1).
            let verb = cString(Array(TracePrinter.op(st.op).prefix { $0 != " " }.utf8))
            body += "\tTIMED(\(verb), \(call(st.op)!)); report(\(label), r, \(expect));\n"
        }
        // What a run leaves behind, for the next run of a loop (DMEMFUZZ_REPRO_LOOP): every
        // cgroup the trace names, deepest first, and the vkms devices it registers.
        let cgroups = t.paths.sorted { $0.depth > $1.depth }.map { cString(Array($0.description.utf8)) }
        let devices = Set(t.steps.compactMap { st -> String? in
            if case let .register(r, _) = st.op, r.hasPrefix("vkms/"), r != "vkms/default" { return String(r.dropFirst(5)) }
            return nil
        }).sorted().map { cString(Array($0.utf8)) }
        let cleanup = "static const char *const cleanup_cgroups[] = { " + (cgroups + ["NULL"]).joined(separator: ", ") + " };\n"
            + "static const char *const cleanup_vkms[] = { " + (devices + ["NULL"]).joined(separator: ", ") + " };\n"
        return ReproTables.source + defs + cleanup
            + "static int run_trace(void)\n{\n\tint r;\n" + body + "\tprint_times();\n\treturn mismatches ? 1 : 0;\n}\n"
            + "int main(void)\n{\n\tsetvbuf(stdout, NULL, _IONBF, 0);\n\treturn run_loop(run_trace, cleanup_cgroups, cleanup_vkms);\n}\n"
    }

    /// The C statement that performs `op` and leaves its result in `r`; nil for the ops the
    /// reproducer skips and for a group (its members are statements of their own).
    static func call(_ op: Op) -> String? {
            let call: String
            switch op {
            case let .mkdir(p): call = "r = xmkdir(\(cString(Array(p.description.utf8))))"
            case let .rmdir(p): call = "r = xrmdir(\(cString(Array(p.description.utf8))))"
            case let .write(p, f, d, nb): call = "r = xwrite(\(cString(Array(p.description.utf8))), \(cString(Array(f.utf8))), \(cString(d)), \(d.count), \(nb ? 1 : 0))"
            case let .read(p, f): call = "r = xread(\(cString(Array(p.description.utf8))), \(cString(Array(f.utf8))))"
            case let .spawn(a, p): call = "r = xspawn(\(a), \(cString(Array(p.description.utf8))))"
            case let .move(a, p): call = "r = xmove(\(a), \(cString(Array(p.description.utf8))))"
            case let .exit(a): call = "r = xexit(\(a))"
            case let .fork(a, child): call = "r = xfork(\(a), \(child))"
            case let .fdinfo(a, r): call = "r = xfdinfo(\(a), \(cString(Array(r.utf8))))"
            case let .alloc(a, r, size, b): call = "r = xalloc(\(a), \(cString(Array(r.utf8))), \(size)ULL, \(b))"
            case let .free(b): call = "r = xfree(\(b))"
            case let .transfer(a, b, to): call = "r = xtransfer(\(a), \(b), \(to))"
            case let .resident(b): call = "r = xresident(\(b))"
            case let .dying(p): call = "r = xdying(\(cString(Array(p.description.utf8))))"
            case let .delegate(p, uid): call = "r = xdelegate(\(cString(Array(p.description.utf8))), \(uid))"
            case let .setuid(a, uid): call = "r = xsetuid(\(a), \(uid))"
            case let .dropCaps(a): call = "r = xdropcaps(\(a))"
            case let .by(a, inner):
                switch inner {
                case let .mkdir(p): call = "r = xas(\(a), 'm', \(cString(Array(p.description.utf8))), NULL, \"\", 0)"
                case let .rmdir(p): call = "r = xas(\(a), 'r', \(cString(Array(p.description.utf8))), NULL, \"\", 0)"
                case let .write(p, f, d, nb): call = "r = xas(\(a), '\(nb ? "n" : "w")', \(cString(Array(p.description.utf8))), \(cString(Array(f.utf8))), \(cString(d)), \(d.count))"
                case let .read(p, f): call = "r = xas(\(a), 'R', \(cString(Array(p.description.utf8))), \(cString(Array(f.utf8))), \"\", 0)"
                case let .move(b, p): call = "r = xasmove(\(a), \(b), \(cString(Array(p.description.utf8))))"
                default: call = "r = EINVAL"
                }
            case let .register(r, _) where r == Model.selftestRegion:
                call = "r = system(\"modprobe dmem_selftest\") ? ENOENT : 0"   // busybox in the guest; status, not errno
            case let .unregister(r) where r == Model.selftestRegion:
                call = "r = system(\"rmmod dmem_selftest\") ? ENOENT : 0"
            case let .register(r, _) where r.hasPrefix("vkms/") && r != "vkms/default":
                call = "r = xvkms_create(\(cString(Array(r.dropFirst(5).utf8))))"
            case let .unregister(r) where r.hasPrefix("vkms/") && r != "vkms/default":
                call = "r = xvkms_destroy(\(cString(Array(r.dropFirst(5).utf8))))"
            // The agent's module loads (AgentCore Executor.register): vgem/regionN loads vgem with
            // N + 1 regions, vkms/default loads vkms.
            case let .register(r, size) where r.hasPrefix("vgem/region") && UInt64(r.dropFirst(11)) != nil:
                call = "r = xmodload(\"vgem\", \"dmem_regions=\(UInt64(r.dropFirst(11))! + 1) dmem_size=\(size)\")"
            case let .register(r, size) where r == "vkms/default":
                call = "r = xmodload(\"vkms\", \"dmem_size=\(size)\")"
            case let .unregister(r) where r.hasPrefix("vgem/"): call = "r = xmodunload(\"vgem\")"
            case let .unregister(r) where r == "vkms/default": call = "r = xmodunload(\"vkms\")"
            case .register, .unregister: call = "r = EINVAL"
            case let .fail(n, inner), let .failNth(n, inner):
                guard let c = Self.call(inner) else { return nil }
                let fn = cString(Array(inner.faultFunction.utf8))
                let nth = op.isFailNth ? 1 : 0
                call = "if (!(r = fail_arm(\(n), \(nth), \(fn), \(inner.faultActor ?? -1)))) { \(c); fail_disarm(\(n), \(nth)); }"
            case .evictQuery, .par: return nil
            }
            return call
    }

    /// The steps the reproducer does not perform (it prints `# skipped: <op>`): `evict?`, a
    /// question only the model answers, and the boot prologue's module loads (the leading
    /// registers of vgem and vkms/default, which the guest's boot has done). A register or
    /// unregister later in the trace is performed.
    public static func skipped(_ steps: [Step]) -> [Bool] {
        var prologue = true
        return steps.map { st in
            if case .evictQuery = st.op { return true }
            guard case let .register(r, _) = st.op, prologue else { prologue = false; return false }
            return r.hasPrefix("vgem/") || r == "vkms/default"
        }
    }
}
