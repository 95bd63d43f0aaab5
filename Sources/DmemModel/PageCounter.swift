/// mm/page_counter.c as dmem uses it: units are bytes, protection support on, no failcnt.
public struct PageCounter: Hashable, Sendable {
    /// PAGE_COUNTER_MAX on x86_64: LONG_MAX / PAGE_SIZE.
    public static let max: UInt64 = UInt64(Int64.max) / 4096

    public var usage: UInt64 = 0
    public var min: UInt64 = 0
    public var low: UInt64 = 0
    public var max: UInt64 = PageCounter.max
    /// 7.3's dmem.peak. page_counter_try_charge raises it on every counter it charged before the
    /// failing one, so a charge that failed at an ancestor still leaves its transient usage here.
    public var watermark: UInt64 = 0

    public init() {}

    /// The protected usage page_counter propagates upwards (min_usage / low_usage).
    public var minUsage: UInt64 { Swift.min(usage, min) }
    public var lowUsage: UInt64 { Swift.min(usage, low) }

    /// Whether `try_charge` would fail at this counter: `new > c->max` compares a long converted to
    /// unsigned long, so a wrapped sum is a huge number.
    @inline(__always) public func exceeds(adding n: UInt64) -> Bool { usage &+ n > max }
}

/// How the kernel multiplies and divides inside effective_protection(): 7.2 multiplies in
/// unsigned long and silently wraps; 7.3 uses mul_u64_u64_div_u64 (128-bit intermediate).
public enum ProtectionArithmetic: Sendable {
    case wrapping64, wide128

    @inline(__always) func mulDiv(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        switch self {
        case .wrapping64: return (a &* b) / c
        case .wide128:
            let p = a.multipliedFullWidth(by: b)
            if p.high >= c { return UInt64.max }  // #DE on x86; the 7.3 caller caps so this is unreachable
            return c.dividingFullWidth((p.high, p.low)).quotient
        }
    }
}

/// effective_protection() with recursive_protection = true (dmem always passes true).
public func effectiveProtection(usage: UInt64, parentUsage: UInt64, setting: UInt64,
                                parentEffective: UInt64, siblingsProtected: UInt64,
                                arithmetic: ProtectionArithmetic) -> UInt64 {
    let protected = Swift.min(usage, setting)
    if siblingsProtected > parentEffective {
        return arithmetic.mulDiv(protected, parentEffective, siblingsProtected)
    }
    var ep = protected
    if parentEffective > siblingsProtected && parentUsage > siblingsProtected && usage > protected {
        let parentUnclaimed = parentEffective - siblingsProtected
        let parentUnprotected = parentUsage - siblingsProtected
        switch arithmetic {
        case .wrapping64:
            ep = ep &+ (parentUnclaimed &* (usage - protected)) / parentUnprotected
        case .wide128:
            let unprotected = Swift.min(usage - protected, parentUnprotected)
            ep = ep &+ arithmetic.mulDiv(parentUnclaimed, unprotected, parentUnprotected)
        }
    }
    return ep
}
