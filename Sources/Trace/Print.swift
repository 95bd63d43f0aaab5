import DmemModel

/// The canonical text of ops, outcomes and traces. `TraceParser` reads back exactly what this
/// writes (and more: comments, K/M/G sizes), so print(parse(print(t))) == print(t).
public enum TracePrinter {
    public static func quote(_ bytes: [UInt8]) -> String {
        var s = "\""
        for b in bytes {
            switch b {
            case 0x0a: s += "\\n"
            case 0x09: s += "\\t"
            case 0x0d: s += "\\r"
            case 0x22: s += "\\\""
            case 0x5c: s += "\\\\"
            case 0x20...0x7e: s.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789abcdef")
                s += "\\x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return s + "\""
    }

    /// Bytes as a one-line message shows them: printable ASCII as is, everything else (NUL, ESC,
    /// a BOM, NBSP, a newline, any non-ASCII byte) as `\xHH`, so what is invisible on a terminal
    /// is visible in the message and nothing in it can move the cursor.
    public static func visible<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var s = ""
        let hex = Array("0123456789abcdef")
        for b in bytes {
            if (0x20...0x7e).contains(b) { s.unicodeScalars.append(Unicode.Scalar(b)) }
            else { s += "\\x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)]) }
        }
        return s
    }

    public static func actor(_ a: ActorID) -> String { "a\(a)" }
    public static func buffer(_ b: BufferID) -> String { "b\(b)" }

    public static func op(_ op: Op) -> String {
        switch op {
        case let .register(r, size): return "register \(r) \(size)"
        case let .unregister(r): return "unregister \(r)"
        case let .mkdir(p): return "mkdir \(p)"
        case let .rmdir(p): return "rmdir \(p)"
        case let .write(p, file, data, nonblock): return "\(nonblock ? "write-nonblock" : "write") \(p) \(file) \(quote(data))"
        case let .read(p, file): return "read \(p) \(file)"
        case let .spawn(a, p): return "spawn \(actor(a)) \(p)"
        case let .move(a, p): return "move \(actor(a)) \(p)"
        case let .exit(a): return "exit \(actor(a))"
        case let .fork(a, child): return "fork \(actor(a)) \(actor(child))"
        case let .fdinfo(a, r): return "fdinfo \(actor(a)) \(r)"
        case let .alloc(a, r, size, b): return "alloc \(actor(a)) \(r) \(size) \(buffer(b))"
        case let .free(b): return "free \(buffer(b))"
        case let .transfer(a, b, to): return "transfer \(actor(a)) \(buffer(b)) \(actor(to))"
        case let .resident(b): return "resident \(buffer(b))"
        case let .dying(p): return "dying \(p)"
        case let .evictQuery(a, r, size): return "evict? \(actor(a)) \(r) \(size)"
        case let .delegate(p, uid): return "delegate \(p) \(uid)"
        case let .setuid(a, uid): return "setuid \(actor(a)) \(uid)"
        case let .dropCaps(a): return "dropcaps \(actor(a))"
        case let .by(a, inner): return "as \(actor(a)) " + TracePrinter.op(inner)
        case let .par(ops): return "par { " + ops.map { TracePrinter.op($0) }.joined(separator: " | ") + " }"
        case let .fail(n, inner): return "fail \(n) " + TracePrinter.op(inner)
        case let .failNth(n, inner): return "fail nth \(n) " + TracePrinter.op(inner)
        }
    }

    /// What coverage signatures and finding titles call an op: the op an actor performed for `as`
    /// (`byActor`), its verb as printed, and the file and cgroup it touches, where it has them.
    public static func summary(_ op: Op) -> (verb: String, file: String?, path: CgroupPath?, byActor: Bool) {
        var op = op, byActor = false
        if case let .par(ops) = op { return ("par(" + ops.map { summary($0).verb }.joined(separator: "|") + ")", nil, nil, false) }
        if case let .fail(_, inner) = op { let s = summary(inner); return ("fail " + s.verb, s.file, s.path, s.byActor) }
        if case let .failNth(_, inner) = op { let s = summary(inner); return ("fail nth " + s.verb, s.file, s.path, s.byActor) }
        if case let .by(_, inner) = op { op = inner; byActor = true }
        let verb = String(self.op(op).prefix { $0 != " " })
        switch op {
        case let .write(p, f, _, _), let .read(p, f): return (verb, f, p, byActor)
        case let .mkdir(p), let .rmdir(p), let .spawn(_, p), let .move(_, p): return (verb, nil, p, byActor)
        default: return (verb, nil, nil, byActor)
        }
    }

    public static func outcome(_ o: Outcome) -> String {
        var s: String
        if let g = o.group { s = "{ " + g.map(outcome).joined(separator: " | ") + " }" }
        else if let e = o.errno { s = e.description }
        else if let d = o.data { s = quote(d) }
        else if let v = o.value { s = String(v) }
        else { s = "ok" }
        if let n = o.injected { s += " injected \(n)" }
        if !o.evicted.isEmpty { s += " evicted " + o.evicted.map(buffer).joined(separator: " ") }
        return s
    }

    public static func step(_ st: Step) -> String {
        st.expect.map { op(st.op) + " = " + outcome($0) } ?? op(st.op)
    }

    /// `comments`: lines after the first (each gets its `# `); `notes`: a trailing `# note` on
    /// the step with that index. The parser drops both.
    public static func trace(_ t: Trace, comments: [String] = [], notes: [Int: String] = [:]) -> String {
        var s = "# dmemfuzz trace\n"
        for c in comments { s += "# \(c)\n" }
        s += "profile \(t.profiles.map(\.rawValue).joined(separator: " "))\n"
        for o in t.options.sorted() { s += "option \(o.rawValue)\n" }
        for m in t.requires { s += "requires \(m)\n" }
        for (i, st) in t.steps.enumerated() { s += step(st) + (notes[i].map { "  # " + $0 } ?? "") + "\n" }
        return s
    }
}
