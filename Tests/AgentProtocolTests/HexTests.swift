import XCTest
import AgentProtocol

final class HexTests: XCTestCase {
    func testFields() {
        XCTAssertEqual(Hex.text("68690a"), "hi\n")
        XCTAssertEqual(Hex.bytes("-"), [])
        XCTAssertEqual(Hex.field([0, 255]), "00ff")
        XCTAssertEqual(Hex.field([0x9a, 0x0b]), "9a0b")
        XCTAssertEqual(Hex.field([]), "-", "an empty field still takes a token")
        XCTAssertEqual(Hex.field(""), "-")
        XCTAssertEqual(Hex.bytes("9A0B"), [0x9a, 0x0b], "either case decodes")
    }

    func testMalformedFields() {
        XCTAssertNil(Hex.bytes("6"), "odd length")
        XCTAssertNil(Hex.bytes("6g"), "not a hex digit")
        XCTAssertNil(Hex.bytes("--"))
        XCTAssertNil(Hex.bytes(" 0"))
    }

    /// Every byte survives the round trip (`put` sends whole reproducer binaries this way).
    func testEveryByteRoundTrips() {
        let all = (0...255).map(UInt8.init)
        XCTAssertEqual(Hex.bytes(Hex.field(all)), all)
        XCTAssertEqual(Hex.field(all).count, 512)
    }
}
