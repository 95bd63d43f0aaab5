import XCTest
import DmemModel
import Trace
@testable import Campaign

final class ReproLimitsTests: XCTestCase {
    let trace = CampaignTests.everyOp

    /// Issue 11 item 8: the reproducer refuses what its tables cannot hold, and checks anyway.
    func testReproducerBounds() throws {
        func reason(_ text: String) -> String {
            do { _ = try Repro.c(try TraceParser().parse(text)); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(reason("spawn a256 / = ok"), "op 1 (spawn a256 /): actor a256 is beyond the reproducer's a0...a255")
        XCTAssertEqual(reason("spawn a1 /\nalloc a1 vgem/region0 4096 b4096"), "op 2 (alloc a1 vgem/region0 4096 b4096): buffer b4096 is beyond the reproducer's b0...b4095")
        XCTAssertEqual(reason("free b9223372036854775807"), "op 1 (free b9223372036854775807): buffer b9223372036854775807 is beyond the reproducer's b0...b4095")
        XCTAssertEqual(reason("as a300 mkdir /x"), "op 1 (as a300 mkdir /x): actor a300 is beyond the reproducer's a0...a255")
        let big = String(repeating: "\\x20", count: 16385)
        XCTAssertEqual(reason("as a1 write / dmem.max \"\(big)\""), "op 1 (as a1 write / dmem.max \"\(String(repeating: " ", count: 16385))\"): 16385 bytes of data, the reproducer writes at most 16384")
        XCTAssertEqual(reason("spawn a255 /\nalloc a255 vgem/region0 4096 b4095"), "accepted")
        let c = try Repro.c(trace)
        for check in ["if (!ACTOR_OK(a) || !actors[a].pid)", "if (len > sizeof(c.data))", "if (!BUFFER_OK(b) || !buffers[b].live)",
                      "if (!ACTOR_OK(a) || !BUFFER_OK(b))", "#define GOT_SIZE (4 * sizeof(out) + 64)"] {
            XCTAssertTrue(c.contains(check), check)
        }
        XCTAssertTrue(Repro.cOrError(try TraceParser().parse("spawn a256 /")).hasPrefix("#error \"dmemfuzz cannot write a reproducer"))
    }
}
