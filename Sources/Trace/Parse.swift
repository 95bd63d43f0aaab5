import DmemModel

/// A parse error that names where: `file:line:col: message`.
public struct TraceError: Error, Equatable, CustomStringConvertible {
    public var file: String, line: Int, column: Int, message: String
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Reads the trace language. One op per line, `# comments`, an optional `= outcome`, and a
/// header of `profile` / `option` lines before the first op.
public struct TraceParser {
    let file: String
    public init(file: String = "<trace>") { self.file = file }

    struct Cursor {
        let bytes: [UInt8]
        var i = 0
        init(_ s: Substring) { bytes = Array(s.utf8) }
        init(_ s: ArraySlice<UInt8>) { bytes = Array(s) }
        mutating func skipBlanks() { while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 } }
        var atEnd: Bool { i >= bytes.count || bytes[i] == 0x23 }
    }

    public func parse(_ text: String) throws(TraceError) -> Trace { try parseLocated(text).trace }

    /// The trace and, for each step, the line it came from (for mismatch messages).
    public func parseLocated(_ text: String) throws(TraceError) -> (trace: Trace, lines: [Int]) {
        try parseLocated(bytes: Array(text.utf8))
    }

    /// The same from a file's bytes as read, so a message shows the bytes that are there (a
    /// String would have replaced bytes that are not UTF-8).
    public func parseLocated(bytes: [UInt8]) throws(TraceError) -> (trace: Trace, lines: [Int]) {
        var trace = Trace(profile: .v7_3)
        var lines: [Int] = []
        var sawProfile = false
        var lineNo = 0
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) {
            throw err(1, 0, "the file starts with a byte-order mark (\\xef\\xbb\\xbf); write traces as UTF-8 without one")
        }
        // Split bytes, not Characters: Swift treats "\r\n" as one Character.
        for raw in bytes.split(separator: 0x0a, omittingEmptySubsequences: false) {
            lineNo += 1
            var c = Cursor(raw.last == 0x0d ? raw.dropLast() : raw)
            c.skipBlanks()
            if c.atEnd { continue }
            let start = c.i
            let word = try token(&c, lineNo)
            switch word {
            case "profile":
                if !trace.steps.isEmpty { throw err(lineNo, start, "profile must come before the first op") }
                if sawProfile { throw err(lineNo, start, "a second profile line (name every profile on one line: profile 7.3 7.2)") }
                var profiles: [KernelProfile] = []
                c.skipBlanks()
                while !c.atEnd {
                    let at = c.i
                    let v = try token(&c, lineNo)
                    guard let p = KernelProfile(rawValue: v) else {
                        throw err(lineNo, at, "unknown profile '\(shown(v))' (known: \(KernelProfile.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    if profiles.contains(p) { throw err(lineNo, at, "profile \(v) named twice") }
                    profiles.append(p)
                    c.skipBlanks()
                }
                guard let first = profiles.first else { throw err(lineNo, c.i, "profile needs a version (known: \(KernelProfile.allCases.map(\.rawValue).joined(separator: ", ")))") }
                trace.profile = first; trace.alsoHoldsFor = Array(profiles.dropFirst()); sawProfile = true
            case "requires":
                if !trace.steps.isEmpty { throw err(lineNo, start, "requires must come before the first op") }
                trace.requires.append(try token(&c, lineNo))
            case "option":
                if !trace.steps.isEmpty { throw err(lineNo, start, "option must come before the first op") }
                c.skipBlanks()
                let at = c.i
                let v = try token(&c, lineNo)
                guard let o = ModelOption(rawValue: v) else {
                    throw err(lineNo, at, "unknown option '\(shown(v))' (known: \(ModelOption.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                trace.options.insert(o)
            default:
                c.i = start
                trace.steps.append(try step(&c, lineNo))
                lines.append(lineNo)
            }
            try end(&c, lineNo)
        }
        return (trace, lines)
    }

    /// One step from one line (no header directives).
    public func parseStep(_ line: Substring, line lineNo: Int = 1) throws(TraceError) -> Step {
        try whole(line, lineNo) { (c: inout Cursor) throws(TraceError) in try step(&c, lineNo) }
    }

    /// One outcome, as the guest agent prints it.
    public func parseOutcome(_ text: Substring, line lineNo: Int = 1) throws(TraceError) -> Outcome {
        try whole(text, lineNo) { (c: inout Cursor) throws(TraceError) in try outcome(&c, lineNo) }
    }

    /// `body` over the whole of `text`: leading blanks skipped, nothing but a comment after it.
    func whole<T>(_ text: Substring, _ lineNo: Int, _ body: (inout Cursor) throws(TraceError) -> T) throws(TraceError) -> T {
        var c = Cursor(text)
        c.skipBlanks()
        let v = try body(&c)
        try end(&c, lineNo)
        return v
    }

    func err(_ line: Int, _ index: Int, _ message: String) -> TraceError {
        TraceError(file: file, line: line, column: index + 1, message: message)
    }

    func end(_ c: inout Cursor, _ line: Int) throws(TraceError) {
        c.skipBlanks()
        if !c.atEnd { throw err(line, c.i, "unexpected '\(TracePrinter.visible(c.bytes[c.i...]))'") }
    }

    /// A token as a message quotes it: invisible and non-ASCII bytes as \xHH.
    func shown(_ t: String) -> String { TracePrinter.visible(t.utf8) }

    /// Path and file names: no control bytes (the kernel would cut a name at NUL), and no '='
    /// (`mkdir /g=ok` is an outcome without its blank, not a cgroup named "g=ok").
    func name(_ t: String, _ line: Int, _ at: Int, what: String) throws(TraceError) {
        if let i = t.utf8.firstIndex(of: 0x3d) {
            let before = String(t[..<i])
            throw err(line, at, "'=' in \(what) '\(shown(t))' (an outcome needs a blank before '=': '\(shown(before)) = ...')")
        }
        if t.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            throw err(line, at, "control byte in \(what) '\(shown(t))'")
        }
    }

    func file(_ c: inout Cursor, _ line: Int) throws(TraceError) -> String {
        c.skipBlanks()
        let at = c.i
        let t = try token(&c, line)
        try name(t, line, at, what: "file name")
        return t
    }

    func token(_ c: inout Cursor, _ line: Int) throws(TraceError) -> String {
        c.skipBlanks()
        let start = c.i
        while c.i < c.bytes.count && c.bytes[c.i] != 0x20 && c.bytes[c.i] != 0x09 { c.i += 1 }
        if start == c.i { throw err(line, start, "missing argument") }
        // Only text outside quotes must be UTF-8 (quoted strings carry any byte); a String would
        // have replaced what is not, and the message would name bytes the file does not hold.
        guard let t = String(validating: c.bytes[start..<c.i], as: UTF8.self) else {
            throw err(line, start, "'\(TracePrinter.visible(c.bytes[start..<c.i]))' is not UTF-8 (write such bytes as \\xHH inside a quoted string)")
        }
        return t
    }

    func path(_ c: inout Cursor, _ line: Int) throws(TraceError) -> CgroupPath {
        c.skipBlanks()
        let at = c.i
        let t = try token(&c, line)
        try name(t, line, at, what: "cgroup path")
        guard let p = CgroupPath(parsing: Substring(t)) else { throw err(line, at, "bad cgroup path '\(shown(t))' (want /, /a, /a/b)") }
        return p
    }

    func id(_ c: inout Cursor, _ line: Int, prefix: Character, what: String) throws(TraceError) -> Int {
        c.skipBlanks()
        let at = c.i
        let t = try token(&c, line)
        guard t.first == prefix, let n = Int(t.dropFirst()), n >= 0 else { throw err(line, at, "bad \(what) '\(shown(t))' (want \(prefix)N)") }
        return n
    }

    /// A uid: decimal, below (uid_t)-1, which setuid(2) and chown(2) read as "unchanged".
    func uid(_ c: inout Cursor, _ line: Int) throws(TraceError) -> UInt32 {
        c.skipBlanks()
        let at = c.i
        let t = try token(&c, line)
        guard let v = UInt32(t), v != UInt32.max else { throw err(line, at, "bad uid '\(shown(t))' (want 0..4294967294)") }
        return v
    }

    /// Sizes: decimal with an optional K/M/G/T suffix (binary).
    func size(_ c: inout Cursor, _ line: Int) throws(TraceError) -> UInt64 {
        c.skipBlanks()
        let at = c.i
        let t = try token(&c, line)
        var digits = Substring(t)
        var shift: UInt64 = 0
        if let last = t.last, let s = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] { shift = UInt64(s); digits.removeLast() }
        guard let v = UInt64(digits) else { throw err(line, at, "bad size '\(shown(t))' (want decimal bytes, optionally with K, M, G or T)") }
        guard shift == 0 || v <= UInt64.max >> shift else { throw err(line, at, "size '\(shown(t))' does not fit in 64 bits") }
        return v << shift
    }

    func string(_ c: inout Cursor, _ line: Int) throws(TraceError) -> [UInt8] {
        c.skipBlanks()
        guard c.i < c.bytes.count, c.bytes[c.i] == 0x22 else { throw err(line, c.i, "expected a quoted string") }
        c.i += 1
        var out: [UInt8] = []
        while c.i < c.bytes.count {
            let b = c.bytes[c.i]
            if b == 0x22 { c.i += 1; return out }
            if b != 0x5c { out.append(b); c.i += 1; continue }
            let at = c.i
            c.i += 1
            guard c.i < c.bytes.count else { break }
            switch c.bytes[c.i] {
            case 0x6e: out.append(0x0a)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0d)
            case 0x22: out.append(0x22)
            case 0x5c: out.append(0x5c)
            case 0x30: out.append(0)
            case 0x78:
                func hex(_ x: UInt8) -> UInt8? {
                    switch x { case 0x30...0x39: return x - 0x30; case 0x61...0x66: return x - 0x57; case 0x41...0x46: return x - 0x37; default: return nil }
                }
                guard c.i + 2 < c.bytes.count, let h = hex(c.bytes[c.i + 1]), let l = hex(c.bytes[c.i + 2]) else {
                    throw err(line, at, "bad \\x escape (want \\xHH)")
                }
                out.append(h << 4 | l); c.i += 2
            default:
                let known = "(known: \\n \\t \\r \\\" \\\\ \\0 \\xHH)"
                let b = c.bytes[c.i]
                if (0x21...0x7e).contains(b) { throw err(line, at, "unknown escape '\\\(Character(Unicode.Scalar(b)))' \(known)") }
                // A non-ASCII character or an invisible byte: name its bytes, not a guess at a character.
                var end = c.i + 1
                if b >= 0xc0 { while end < c.bytes.count && c.bytes[end] & 0xc0 == 0x80 && end - c.i < 4 { end += 1 } }
                throw err(line, at, "unknown escape: '\\' before \(TracePrinter.visible(c.bytes[c.i..<end])) \(known)")
            }
            c.i += 1
        }
        throw err(line, c.bytes.count, "unterminated string")
    }

    func step(_ c: inout Cursor, _ line: Int) throws(TraceError) -> Step {
        let at = c.i
        let verb = try token(&c, line)
        let op: Op
        switch verb {
        case "register": op = .register(region: try token(&c, line), size: try size(&c, line))
        case "unregister": op = .unregister(region: try token(&c, line))
        case "mkdir": op = .mkdir(try path(&c, line))
        case "rmdir": op = .rmdir(try path(&c, line))
        case "write", "write-nonblock":
            op = .write(try path(&c, line), file: try file(&c, line), data: try string(&c, line), nonblock: verb == "write-nonblock")
        case "read": op = .read(try path(&c, line), file: try file(&c, line))
        case "spawn": op = .spawn(try id(&c, line, prefix: "a", what: "actor"), try path(&c, line))
        case "move": op = .move(try id(&c, line, prefix: "a", what: "actor"), try path(&c, line))
        case "exit": op = .exit(try id(&c, line, prefix: "a", what: "actor"))
        case "fork": op = .fork(try id(&c, line, prefix: "a", what: "actor"), child: try id(&c, line, prefix: "a", what: "actor"))
        case "fdinfo": op = .fdinfo(try id(&c, line, prefix: "a", what: "actor"), region: try token(&c, line))
        case "alloc":
            op = .alloc(try id(&c, line, prefix: "a", what: "actor"), region: try token(&c, line),
                        size: try size(&c, line), buffer: try id(&c, line, prefix: "b", what: "buffer"))
        case "free": op = .free(try id(&c, line, prefix: "b", what: "buffer"))
        case "transfer":
            op = .transfer(try id(&c, line, prefix: "a", what: "actor"), buffer: try id(&c, line, prefix: "b", what: "buffer"),
                           to: try id(&c, line, prefix: "a", what: "actor"))
        case "resident": op = .resident(try id(&c, line, prefix: "b", what: "buffer"))
        case "dying": op = .dying(try path(&c, line))
        case "evict?": op = .evictQuery(try id(&c, line, prefix: "a", what: "actor"), region: try token(&c, line), size: try size(&c, line))
        case "delegate": op = .delegate(try path(&c, line), uid: try uid(&c, line))
        case "setuid": op = .setuid(try id(&c, line, prefix: "a", what: "actor"), uid: try uid(&c, line))
        case "dropcaps": op = .dropCaps(try id(&c, line, prefix: "a", what: "actor"))
        case "as":
            let a = try id(&c, line, prefix: "a", what: "actor")
            c.skipBlanks()
            let innerAt = c.i
            let inner = try step(&c, line)
            guard inner.op.actorPerformable else {
                throw err(line, innerAt, "an actor can only mkdir, rmdir, write, read or move with 'as'")
            }
            // The outcome (if any) was parsed with the inner op: it belongs to the whole line.
            return Step(.by(a, inner.op), expect: inner.expect)
        case "par": op = try group(&c, line)
        case "fail":
            // `fail N op`: the next N allocations fail; `fail nth K op`: the K-th one alone.
            c.skipBlanks()
            var nAt = c.i
            var t = try token(&c, line)
            let nth = t == "nth"
            if nth { c.skipBlanks(); nAt = c.i; t = try token(&c, line) }
            guard let n = Int(t), (1...Op.maxFaults).contains(n) else {
                throw err(line, nAt, "bad \(nth ? "allocation number" : "failure count") '\(shown(t))' (want 1..\(Op.maxFaults))")
            }
            c.skipBlanks()
            let innerAt = c.i
            let inner = try step(&c, line)
            guard inner.op.faultable else {
                throw err(line, innerAt, "'fail' wraps an op that allocates dmem objects: mkdir, write, alloc, transfer, register, or as aN mkdir/write")
            }
            return Step(nth ? .failNth(n, inner.op) : .fail(count: n, inner.op), expect: inner.expect)
        default: throw err(line, at, "unknown op '\(shown(verb))'")
        }
        c.skipBlanks()
        if c.i < c.bytes.count && c.bytes[c.i] == 0x3d {
            c.i += 1
            return Step(op, expect: try outcome(&c, line))
        }
        return Step(op)
    }

    /// `{ op | op ... }` after `par`: members without outcomes (the group's outcome follows the
    /// closing brace), each an op that can race (`Op.racing`), 2 to `Op.maxGroup` of them.
    func group(_ c: inout Cursor, _ line: Int) throws(TraceError) -> Op {
        try expectWord("{", &c, line, after: "par")
        var ops: [Op] = []
        while true {
            c.skipBlanks()
            let at = c.i
            if c.atEnd { throw err(line, at, "unterminated group: want '|' or '}'") }
            let w = try token(&c, line)
            if w == "}" { if ops.isEmpty { throw err(line, at, "empty group") }; break }
            if w == "|" { if ops.isEmpty { throw err(line, at, "a group starts with an op, not '|'") }; continue }
            c.i = at
            let m = try step(&c, line)
            if m.expect != nil { throw err(line, at, "an op in a group has no outcome of its own: write the group's as '= { ... }' after '}'") }
            if case .par = m.op { throw err(line, at, "groups do not nest") }
            guard m.op.racing else { throw err(line, at, "'\(TracePrinter.op(m.op).prefix { $0 != " " })' cannot race in a group (can: mkdir, rmdir, write, read, move, exit, alloc, free, transfer, register, unregister, and as aN ...)") }
            ops.append(m.op)
            c.skipBlanks()
            if c.i < c.bytes.count, c.bytes[c.i] != 0x7c, c.bytes[c.i] != 0x7d { throw err(line, c.i, "want '|' or '}' after an op of a group") }
        }
        guard ops.count >= 2, ops.count <= Op.maxGroup else { throw err(line, c.i, "a group has 2 to \(Op.maxGroup) ops, this one \(ops.count)") }
        if let why = Op.groupProblem(ops) { throw err(line, c.i, why) }
        return .par(ops)
    }

    func expectWord(_ w: String, _ c: inout Cursor, _ line: Int, after: String) throws(TraceError) {
        c.skipBlanks()
        let at = c.i
        guard !c.atEnd, try token(&c, line) == w else { throw err(line, at, "want '\(w)' after '\(after)'") }
    }

    func outcome(_ c: inout Cursor, _ line: Int) throws(TraceError) -> Outcome {
        c.skipBlanks()
        if c.i < c.bytes.count && c.bytes[c.i] == 0x7b {
            // A group's outcomes: `{ o1 | o2 } [evicted bN...]`.
            try expectWord("{", &c, line, after: "=")
            var group: [Outcome] = []
            while true {
                c.skipBlanks()
                let at = c.i
                if c.atEnd { throw err(line, at, "unterminated group outcome: want '|' or '}'") }
                if c.bytes[c.i] == 0x7d || c.bytes[c.i] == 0x7c {
                    let w = try token(&c, line)
                    if w == "}" { break }
                    if w != "|" || group.isEmpty { throw err(line, at, "unexpected '\(shown(w))' in a group outcome") }
                    continue
                }
                group.append(try single(&c, line))
            }
            var o = Outcome(group: group)
            try evictions(&c, line, into: &o)
            return o
        }
        var o = try single(&c, line)
        try evictions(&c, line, into: &o)
        return o
    }

    func evictions(_ c: inout Cursor, _ line: Int, into o: inout Outcome) throws(TraceError) {
        c.skipBlanks()
        // '|' or '}' ends an op of a group: `group` names the mistake better than this would.
        if c.i < c.bytes.count && (c.bytes[c.i] == 0x7c || c.bytes[c.i] == 0x7d) { return }
        if !c.atEnd, c.bytes[c.i...].starts(with: Array("injected".utf8)) {
            _ = try token(&c, line)
            c.skipBlanks()
            let at = c.i
            let t = try token(&c, line)
            guard let n = Int(t), n >= 0 else { throw err(line, at, "bad injected count '\(shown(t))'") }
            o.injected = n
            c.skipBlanks()
        }
        if !c.atEnd {
            let at = c.i
            guard try token(&c, line) == "evicted" else { throw err(line, at, "expected 'evicted' or end of line") }
            c.skipBlanks()
            while !c.atEnd { o.evicted.append(try id(&c, line, prefix: "b", what: "buffer")); c.skipBlanks() }
            if o.evicted.isEmpty { throw err(line, c.i, "'evicted' needs at least one buffer") }
            o.evicted.sort()  // a set: see Outcome.evicted
        }
    }

    /// ok, an errno name, a number or a quoted string.
    func single(_ c: inout Cursor, _ line: Int) throws(TraceError) -> Outcome {
        c.skipBlanks()
        var o = Outcome()
        if c.i < c.bytes.count && c.bytes[c.i] == 0x22 {
            o.data = try string(&c, line)
        } else {
            let at = c.i
            let t = try token(&c, line)
            if t == "ok" {
            } else if let v = UInt64(t) {
                o.value = v
            } else if let e = Errno(name: t) {
                o.errno = e
            } else {
                throw err(line, at, "bad outcome '\(shown(t))' (want ok, an errno name, a number or a quoted string)")
            }
        }
        return o
    }
}
