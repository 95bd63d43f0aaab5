import XCTest
@testable import DmemModel

/// Issue 9: what a kernel offers beyond the model, from the guest agent's boot-time listing.
final class InterfacesTests: XCTestCase {
    /// 7.3.4 as the agent lists it (root: capacity, current; a child: current, low, max, min, peak).
    let base73 = "root dmem.capacity\nroot dmem.current\nchild dmem.current\nchild dmem.low\nchild dmem.max\nchild dmem.min\nchild dmem.peak\ncontroller memory\ncontroller dmem\n"

    func testTheModelKnowsEverythingOnItsOwnKernel() {
        let i = Interfaces(listing: base73, profile: .v7_3, options: [])
        XCTAssertEqual(i.unmodeled, [])
        XCTAssertEqual(i.absent, [])
        XCTAssertNil(i.summary)
        // 7.2 has no dmem.peak: the 7.2 profile on that kernel does not model it
        XCTAssertEqual(Interfaces(listing: base73, profile: .v7_2, options: []).summary, "unmodeled: dmem.peak")
    }

    func testFilesAndControllersASeriesAdded() {
        let listing = base73 + "child dmem.events\nchild dmem.events.local\nchild dmem.high\ncontroller pids\n"
        let i = Interfaces(listing: listing, profile: .v7_3, options: [])
        XCTAssertEqual(i.unmodeled, ["dmem.events", "dmem.events.local", "dmem.high", "controller pids"])
        XCTAssertEqual(i.files, ["dmem.events", "dmem.events.local", "dmem.high"])
        XCTAssertEqual(i.summary, "unmodeled: dmem.events, dmem.events.local, dmem.high, controller pids")
    }

    func testModeledFilesTheKernelLacks() {
        let noPeak = base73.replacingOccurrences(of: "child dmem.peak\n", with: "")
        XCTAssertEqual(Interfaces(listing: noPeak, profile: .v7_3, options: []).absent, ["dmem.peak"])
        // the source puts dmem.current on the root; the documentation's option does not
        XCTAssertEqual(Interfaces(listing: base73, profile: .v7_3, options: [.noCurrentOnRoot]).unmodeled, ["dmem.current"])
    }

    /// A file the kernel has and the model does not is no ENOENT: the model has no answer.
    func testUnmodeledFilesHaveNoModelAnswer() {
        var m = Model(profile: .v7_3)
        XCTAssertNil(m.mkdir(CgroupPath(["g"])))
        XCTAssertEqual(m.read(CgroupPath(["g"]), "dmem.events"), .error(.ENOENT))
        m.unmodeledFiles = ["dmem.events"]
        XCTAssertEqual(m.read(CgroupPath(["g"]), "dmem.events"), .unmodeled)
        XCTAssertEqual(m.write(CgroupPath(["g"]), "dmem.events", Array("x".utf8)), .unmodeled)
        XCTAssertEqual(m.read(CgroupPath(["g"]), "dmem.bogus"), .error(.ENOENT))
    }
}
