import XCTest
@testable import VM

/// $DMEMFUZZ_ACCEL: kvm or tcg chooses, unset or empty probes, anything else is a setup error
/// (a typo used to be ignored silently, so `DMEMFUZZ_ACCEL=tgc` still probed KVM).
final class AccelTests: XCTestCase {
    func testEnvironmentOverride() throws {
        XCTAssertEqual(try Accel.fromEnvironment("kvm"), .kvm)
        XCTAssertEqual(try Accel.fromEnvironment("tcg"), .tcg)
        XCTAssertNil(try Accel.fromEnvironment(nil))
        XCTAssertNil(try Accel.fromEnvironment(""))
        XCTAssertThrowsError(try Accel.fromEnvironment("tgc")) { e in
            XCTAssertEqual("\(e)".contains("DMEMFUZZ_ACCEL='tgc': want kvm or tcg"), true, "\(e)")
        }
        XCTAssertThrowsError(try Accel.fromEnvironment("KVM"))
    }
}
