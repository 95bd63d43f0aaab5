import XCTest
@testable import DmemModel

/// memparse()/strstrip() cases worked out from lib/cmdline.c, lib/kstrtox.c and lib/ctype.c.
final class KernelStringTests: XCTestCase {
    func limit(_ s: String) -> UInt64? { KernelString.parseLimit(Array(s.utf8)[...]) }

    func testMemparseSuffixesAndBases() {
        XCTAssertEqual(limit("1M"), 1_048_576)
        XCTAssertEqual(limit("4k"), 4096)
        XCTAssertEqual(limit("0x10"), 16)
        XCTAssertEqual(limit("010"), 8)               // leading 0 means octal
        XCTAssertEqual(limit("0x1g"), 1 << 30)        // 'g' is not a hex digit, so it is the suffix
        XCTAssertEqual(limit("0x1e"), 30)             // 'e' is a hex digit, not the exa suffix
        XCTAssertEqual(limit("1e"), 1 << 60)          // decimal: 'e' is the exa suffix
        XCTAssertNil(limit("m"))                       // a suffix needs a number before it (found by lockstep on 7.3.4)
        XCTAssertEqual(limit("0k"), 0)
        XCTAssertEqual(limit("max"), PageCounter.max)
        XCTAssertEqual(PageCounter.max, 2_251_799_813_685_247)  // LONG_MAX / 4096
    }

    func testMemparseSaturates() {
        XCTAssertEqual(limit("16E"), UInt64.max)                  // check_shl_overflow -> ULLONG_MAX
        XCTAssertEqual(limit("15E"), 15 << 60)
        XCTAssertEqual(limit("18446744073709551616"), UInt64.max) // _parse_integer_limit saturates
        XCTAssertEqual(limit("99999999999999999999999k"), UInt64.max)
        XCTAssertEqual(limit("18446744073709551615"), UInt64.max)
    }

    func testMemparseRejectsTrailingJunk() {
        for bad in ["08", "5KB", "-1", "+5", "1.5M", "0x", "max ", " 5", "5 ", "1kk", "abc", "m", "k", "0xk"] {
            XCTAssertNil(limit(bad), bad)
        }
    }

    func testStrstripKnowsLatin1NBSP() {
        let s: [UInt8] = [0xa0, 0x20, 0x61, 0x0b, 0x0a, 0xa0]
        XCTAssertEqual(Array(KernelString.strstrip(s[...])), [0x61])
        XCTAssertEqual(Array(KernelString.strstrip([0x85, 0x61][...])), [0x85, 0x61])  // 0x85 is _C, not space
    }

    func testEffectiveProtectionArithmetic() {
        // Recursive protection: unclaimed 10M of the parent shared by unprotected usage 6M of 8M.
        XCTAssertEqual(effectiveProtection(usage: 6 << 20, parentUsage: 8 << 20, setting: 0, parentEffective: 10 << 20,
                                           siblingsProtected: 0, arithmetic: .wide128), 7_864_320)
        // Overcommitted siblings: proportional share 4M * 6M / 8M.
        XCTAssertEqual(effectiveProtection(usage: 4 << 20, parentUsage: 8 << 20, setting: 4 << 20, parentEffective: 6 << 20,
                                           siblingsProtected: 8 << 20, arithmetic: .wide128), 3_145_728)
        // 7.2 multiplies in 64 bits: 2^33 * 2^33 wraps to 0, 7.3 does not.
        let big: UInt64 = 1 << 33
        XCTAssertEqual(effectiveProtection(usage: big, parentUsage: big, setting: big, parentEffective: big,
                                           siblingsProtected: big * 2, arithmetic: .wrapping64), 0)
        XCTAssertEqual(effectiveProtection(usage: big, parentUsage: big, setting: big, parentEffective: big,
                                           siblingsProtected: big * 2, arithmetic: .wide128), big / 2)
    }
}
