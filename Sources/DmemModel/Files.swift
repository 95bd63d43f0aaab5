/// The interface files: which exist where, what a read prints, what a write does.
public enum DmemFile: String, CaseIterable, Sendable {
    case capacity = "dmem.capacity", current = "dmem.current", min = "dmem.min"
    case low = "dmem.low", max = "dmem.max", peak = "dmem.peak"
    case subtreeControl = "cgroup.subtree_control"

    public var writable: Bool { self == .min || self == .low || self == .max || self == .subtreeControl }
}

/// What the model says about a read or write it does not model (cgroup core files other than
/// subtree_control, other controllers' files): the lockstep driver does not compare those.
public enum FileResult: Equatable, Sendable {
    case ok
    case data([UInt8])
    case error(Errno)
    case unmodeled
}

extension Model {
    /// kernfs atomic_write_len for cgroup files.
    public static let maxWrite = 4096

    /// Does `file` exist on the cgroup? nil when the model does not know the file at all.
    func exists(_ file: String, on cg: Int) -> Bool? {
        guard let f = DmemFile(rawValue: file) else {
            if unmodeledFiles.contains(file) { return nil }
            if file.hasPrefix("dmem.") { return false }
            if file.hasPrefix("cgroup.") || file.contains(".") { return nil }
            return false
        }
        let isRoot = cgroups[cg].parent == nil
        let hasDmem = cgroups[cg].css != nil  // root always has one
        switch f {
        case .subtreeControl: return true
        case .capacity: return isRoot
        case .current: return hasDmem && !(isRoot && options.contains(.noCurrentOnRoot))
        case .min, .low, .max: return hasDmem && !isRoot
        case .peak: return hasDmem && !isRoot && (profile.hasPeak || options.contains(.peakFile))
        }
    }

    public mutating func read(_ path: CgroupPath, _ file: String) -> FileResult {
        guard let cg = livePaths[path] else { return .error(.ENOENT) }
        guard let present = exists(file, on: cg) else { return .unmodeled }
        guard present, let f = DmemFile(rawValue: file) else { return .error(.ENOENT) }
        if f == .subtreeControl {
            let names = controllers.indices.filter { cgroups[cg].subtree & (1 << UInt32($0)) != 0 }.map { controllers[$0] }
            // cgroup_print_ss_mask(): the newline only follows a non-empty list.
            return .data(names.isEmpty ? [] : Array((names.joined(separator: " ") + "\n").utf8))
        }
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for r in liveRegions {
            out.append(contentsOf: regions[r].name.utf8)
            if f == .capacity {
                out.append(0x20); out.append(contentsOf: String(regions[r].size).utf8); out.append(0x0a)
                continue
            }
            let pool = findPool(css: cgroups[cg].css!, region: r)
            let c = pool.map { pools[$0].counter }
            let v: UInt64
            switch f {
            case .current: v = c?.usage ?? 0
            case .min: v = c?.min ?? 0
            case .low: v = c?.low ?? 0
            case .max: v = c?.max ?? PageCounter.max
            case .peak: v = c?.watermark ?? 0
            default: v = 0
            }
            // dmemcg_limit_show(): "%lld" below PAGE_COUNTER_MAX, "max" at or above.
            if v < PageCounter.max { out.append(0x20); out.append(contentsOf: String(v).utf8); out.append(0x0a) }
            else { out.append(contentsOf: " max\n".utf8) }
        }
        return .data(out)
    }

    public mutating func write(_ path: CgroupPath, _ file: String, _ data: [UInt8], nonblock: Bool = false, by creds: Creds = .root) -> FileResult {
        guard let cg = livePaths[path] else { return .error(.ENOENT) }
        guard let present = exists(file, on: cg) else { return .unmodeled }
        guard present, let f = DmemFile(rawValue: file) else { return .error(.ENOENT) }
        // open(O_WRONLY): read-only files (0444) refuse even their owner without CAP_DAC_OVERRIDE.
        if !Model.mayWrite(creds, owner: owner(of: f, on: cg), ownerWritable: f.writable) { return .error(.EACCES) }
        // Root may open a 0444 cgroup file for writing (cgroupfs does not set
        // KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK); kernfs then checks the length, and
        // cgroup_file_write() returns 0 for no bytes and -EINVAL when the cftype has no handler.
        if data.count > Model.maxWrite { return .error(.E2BIG) }
        if data.isEmpty { return .ok }
        guard f.writable else { return .error(.EINVAL) }
        // kernfs NUL-terminates the copy; the handlers see a C string.
        let text = data[..<(data.firstIndex(of: 0) ?? data.endIndex)]
        let err: Errno?
        switch f {
        case .subtreeControl: err = writeSubtreeControl(cg, text, uid: creds.uid)
        default: err = profile.singlePairWrites || options.contains(.singleRegionWrite)
            ? limitWriteSingle(css: cgroups[cg].css!, f, text, nonblock: nonblock)
            : limitWriteLines(css: cgroups[cg].css!, f, text)
        }
        return err.map(FileResult.error) ?? .ok
    }

    /// 7.2 dmemcg_limit_write(): one `NAME VALUE` per line; blank lines skipped; the first bad line
    /// ends the write with its errno while earlier lines stay applied.
    mutating func limitWriteLines(css: Int, _ f: DmemFile, _ text: ArraySlice<UInt8>) -> Errno? {
        var rest: ArraySlice<UInt8>? = text
        while let buf = rest {
            let line: ArraySlice<UInt8>
            if let nl = buf.firstIndex(of: 0x0a) { line = buf[buf.startIndex..<nl]; rest = buf[(nl + 1)...] }
            else { line = buf; rest = nil }
            let stripped = KernelString.strstrip(line)
            if stripped.isEmpty { continue }
            let (name, value) = KernelString.strsepBlank(stripped)
            if name.isEmpty { continue }
            guard let value, !value.isEmpty else { return .EINVAL }
            guard let region = liveRegion(named: String(decoding: name, as: UTF8.self)) else { return .EINVAL }
            guard let limit = KernelString.parseLimit(value) else { return .EINVAL }
            if let e = apply(f, limit, css: css, region: region, nonblock: false) { return e }
        }
        return nil
    }

    /// 7.3 dmemcg_limit_write(): exactly one `NAME VALUE` after strstrip of the whole buffer.
    mutating func limitWriteSingle(css: Int, _ f: DmemFile, _ text: ArraySlice<UInt8>, nonblock: Bool) -> Errno? {
        let (name, value) = KernelString.strsepBlank(KernelString.strstrip(text))
        guard let value, !name.isEmpty else { return .EINVAL }
        guard let region = liveRegion(named: String(decoding: name, as: UTF8.self)) else { return .EINVAL }
        guard let limit = KernelString.parseLimit(value) else { return .EINVAL }
        return apply(f, limit, css: css, region: region, nonblock: nonblock)
    }

    mutating func apply(_ f: DmemFile, _ limit: UInt64, css: Int, region: Int, nonblock: Bool) -> Errno? {
        guard let pool = getPool(css: css, region: region) else { return .ENOMEM }
        switch f {
        case .min: pools[pool].counter.min = limit
        case .low: pools[pool].counter.low = limit
        case .max:
            if options.contains(.maxBelowUsageEBUSY) && pools[pool].counter.usage > limit { return .EBUSY }
            if profile.reclaimOnMaxWrite {
                pools[pool].counter.max = limit
                if !nonblock && regions[region].evicting { reclaim(pool: pool, limit: limit) }
            } else if pools[pool].counter.usage <= limit {
                // page_counter_set_max() returns -EBUSY here, which set_resource_max() ignores.
                pools[pool].counter.max = limit
            }
        default: break
        }
        return nil
    }
}

/// What a booted kernel offers that the model does not know, from the guest agent's listing of
/// the root's and a child's dmem.* files and the root's cgroup.controllers: files a series added
/// (dmem.events, dmem.high) or controllers the kernel has beyond the model's. Reads of those
/// files are still made, and their outcomes recorded, but nothing is compared.
public struct Interfaces: Sendable, Equatable {
    /// `dmem.events`, or `controller pids`.
    public var unmodeled: [String]
    /// Files the model has and the kernel does not (a profile forced onto another kernel).
    public var absent: [String]

    /// `listing`: `root <file>`, `child <file>`, `controller <name>` lines.
    public init(listing: String, profile: KernelProfile, options: ModelOptions) {
        var kernel: [String: Set<String>] = ["root": [], "child": [], "controller": []]
        for line in listing.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 1)
            if f.count == 2 { kernel[String(f[0]), default: []].insert(String(f[1])) }
        }
        var m = Model(profile: profile, options: options)
        let child = CgroupPath(["dmemfuzz-probe"])
        _ = m.mkdir(child)
        func modeled(_ cg: Int) -> Set<String> {
            Set(DmemFile.allCases.map(\.rawValue).filter { $0.hasPrefix("dmem.") && m.exists($0, on: cg) == true })
        }
        let model = ["root": modeled(0), "child": modeled(m.livePaths[child]!)]
        unmodeled = Array(kernel["root"]!.subtracting(model["root"]!).union(kernel["child"]!.subtracting(model["child"]!))).sorted()
            + kernel["controller"]!.subtracting(m.controllers).sorted().map { "controller " + $0 }
        absent = Array(model["root"]!.subtracting(kernel["root"]!).union(model["child"]!.subtracting(kernel["child"]!))).sorted()
        files = kernel["root"]!.union(kernel["child"]!).subtracting(DmemFile.allCases.map(\.rawValue)).sorted()
    }

    /// The unmodeled dmem.* file names (the whole-tree read reads them too).
    public var files: [String]

    /// `unmodeled: dmem.events, dmem.events.local`, or nil when the model knows everything.
    public var summary: String? {
        var parts: [String] = []
        if !unmodeled.isEmpty { parts.append("unmodeled: " + unmodeled.joined(separator: ", ")) }
        if !absent.isEmpty { parts.append("modeled but absent: " + absent.joined(separator: ", ")) }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}
