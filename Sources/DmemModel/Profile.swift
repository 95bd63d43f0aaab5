/// The kernel whose semantics the model reproduces. The dmem UAPI moved between releases, so the
/// model is versioned rather than "approximately right".
public enum KernelProfile: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Debian linux-source-7.2: multi-line limit writes, max below usage silently ignored,
    /// no dmem.peak, TTM eviction without the protection-aware allocation path.
    case v7_2 = "7.2"
    /// Debian linux-source-7.3: one `NAME VALUE` per write, max applied at once then reclaimed
    /// through the region's callback (skipped with O_NONBLOCK), dmem.peak, TTM below_min/below_low.
    case v7_3 = "7.3"

    public var description: String { rawValue }
    public var singlePairWrites: Bool { self != .v7_2 }
    public var hasPeak: Bool { self != .v7_2 }
    public var reclaimOnMaxWrite: Bool { self != .v7_2 }
    public var protectionAwareAllocation: Bool { self != .v7_2 }
    /// Newest profile for a `uname -r` like `7.3.4-amd64` or `7.3.0-rc2+`; nil if unknown.
    public static func forRelease(_ release: String) -> KernelProfile? {
        let parts = release.split(whereSeparator: { $0 == "." || $0 == "-" || $0 == "+" })
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        if major == 7 && minor == 2 { return .v7_2 }
        if major > 7 || (major == 7 && minor >= 3) { return .v7_3 }
        return nil
    }
}

/// Semantics still argued about on the cgroups list, switchable by name on top of a profile.
/// Adding one is a new case plus the branch in the model that honours it.
public enum ModelOption: String, Hashable, Sendable, CaseIterable, Comparable {
    /// A 7.2-era proposal: writing dmem.max below current usage fails with EBUSY instead of
    /// succeeding silently (7.2) or reclaiming (7.3).
    case maxBelowUsageEBUSY = "max-below-usage-ebusy"
    /// cgroup-v2.rst says dmem.current is absent on the root; dmem.c creates it there anyway
    /// (no CFTYPE_NOT_ON_ROOT flag). The model follows the source unless this is set.
    case noCurrentOnRoot = "no-current-on-root"
    /// The kernel has vgem's DRM_IOCTL_VGEM_DMEM_TRANSFER with the charge transfer of the GPU
    /// cgroup controller RFC v2 (the project's own reference patch, Transfer.swift). Without it
    /// the ioctl is unknown to vgem: EINVAL.
    case chargeTransfer = "charge-transfer"
    /// The posted series "cgroup/dmem: accept only one region per limit write" (v2, cgroups list,
    /// 2026-06-09; what 7.3 merged) on a 7.2 kernel: dmemcg_limit_write() takes one `NAME VALUE`
    /// per write, as `KernelProfile.singlePairWrites`, and still applies the limit without reclaim.
    case singleRegionWrite = "single-region-write"
    /// The posted series "cgroup/dmem: introduce a peak file" (v3, cgroups list, 2026-05-15; what
    /// 7.3 merged) on a 7.2 kernel: dmem.peak on non-root cgroups, the pool counter's watermark.
    case peakFile = "peak-file"

    public static func < (a: ModelOption, b: ModelOption) -> Bool { a.rawValue < b.rawValue }
    public var summary: String {
        switch self {
        case .maxBelowUsageEBUSY: return "dmem.max below usage -> EBUSY (proposal; source: 7.2 ignores, 7.3 reclaims)"
        case .noCurrentOnRoot: return "dmem.current absent on root (documentation; source creates it)"
        case .chargeTransfer: return "vgem charge transfer: receiver charged first, ENOMEM and nothing moved at a limit (GPU cgroup RFC v2; project's own reference patch)"
        case .singleRegionWrite: return "one NAME VALUE per limit write on 7.2 (posted series 'accept only one region per limit write' v2)"
        case .peakFile: return "dmem.peak on 7.2 (posted series 'introduce a peak file' v3)"
        }
    }
}

public typealias ModelOptions = Set<ModelOption>
