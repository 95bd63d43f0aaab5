/// Byte-level helpers that reproduce lib/string.c, lib/ctype.c, lib/kstrtox.c and lib/cmdline.c,
/// because limit writes are parsed by them and must be matched to the byte.
public enum KernelString {
    /// lib/ctype.c marks \t \n \v \f \r, space and 0xA0 (Latin-1 NBSP) as _S.
    @inline(__always) public static func isspace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0d) || c == 0xa0
    }

    /// strstrip(): trailing then leading whitespace.
    public static func strstrip(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = s.endIndex
        while end > s.startIndex && isspace(s[end - 1]) { end -= 1 }
        var start = s.startIndex
        while start < end && isspace(s[start]) { start += 1 }
        return s[start..<end]
    }

    /// strsep(&s, " \t"): the token and the rest after the first delimiter (nil when none).
    public static func strsepBlank(_ s: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>?) {
        if let i = s.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) {
            return (s[s.startIndex..<i], s[(i + 1)...])
        }
        return (s, nil)
    }

    /// memparse() of lib/cmdline.c (identical in 7.2 and 7.3): simple_strtoull(base 0), whose
    /// _parse_integer_limit() saturates at ULLONG_MAX on overflow, then one K/M/G/T/P/E suffix,
    /// consumed only when at least one digit preceded it, shifted with check_shl_overflow()
    /// (saturating again). Returns the value and the index where parsing stopped.
    public static func memparse(_ s: ArraySlice<UInt8>) -> (value: UInt64, end: ArraySlice<UInt8>.Index) {
        var i = s.startIndex
        func at(_ k: Int) -> UInt8 { k < s.endIndex ? s[k] : 0 }
        func lower(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5a) ? c | 0x20 : c }
        func isxdigit(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (lower(c) >= 0x61 && lower(c) <= 0x66)
        }
        // _parse_integer_fixup_radix()
        var base: UInt64 = 10
        if at(i) == 0x30 {
            if lower(at(i + 1)) == 0x78 && isxdigit(at(i + 2)) { base = 16; i += 2 } else { base = 8 }
        }
        var result: UInt64 = 0
        let digitsStart = i
        while i < s.endIndex {
            let c = s[i], lc = lower(c)
            let v: UInt64
            if c >= 0x30 && c <= 0x39 { v = UInt64(c - 0x30) }
            else if lc >= 0x61 && lc <= 0x66 { v = UInt64(lc - 0x61 + 10) }
            else { break }
            if v >= base { break }
            if result & (~UInt64(0) << 60) != 0 {
                let (m, o1) = result.multipliedReportingOverflow(by: base)
                let (a, o2) = m.addingReportingOverflow(v)
                result = (o1 || o2) ? UInt64.max : a
            } else {
                result = result * base + v
            }
            i += 1
        }
        var shift: UInt64 = 0
        switch at(i) {
        case 0x45, 0x65: shift = 60  // E
        case 0x50, 0x70: shift = 50  // P
        case 0x54, 0x74: shift = 40  // T
        case 0x47, 0x67: shift = 30  // G
        case 0x4d, 0x6d: shift = 20  // M
        case 0x4b, 0x6b: shift = 10  // K
        default: break
        }
        // `ptr != endptr`: the base prefix alone never counts, since "0x" is skipped only before
        // a hex digit, so "consumed something" is "parsed a digit" (a lone "0" is a digit).
        if shift > 0 && i > digitsStart {
            let shifted = result << shift
            result = (shifted >> shift) == result ? shifted : UInt64.max
            i += 1
        }
        return (result, i)
    }

    /// dmemcg_parse_limit(): "max" or a memparse value with nothing after it.
    public static func parseLimit(_ s: ArraySlice<UInt8>) -> UInt64? {
        if s.elementsEqual("max".utf8) { return PageCounter.max }
        let (v, end) = memparse(s)
        return end == s.endIndex ? v : nil
    }
}
