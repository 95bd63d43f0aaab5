import Foundation
import XCTest
import AgentProtocol
import DmemModel
import Trace
@testable import Campaign
import Kernel
import VM

final class ReproTablesTests: XCTestCase {
    static var reproH: URL { KernelBuild.packageRoot().appendingPathComponent("Sources/Campaign/repro/repro.h") }

    /// Every errno the model names is in the C table, with its number, and nothing else is.
    func testGeneratedTableHasEveryErrno() {
        let h = ReproTables.header
        XCTAssertFalse(Errno.names.isEmpty)
        for (name, num) in Errno.names {
            XCTAssertTrue(h.contains("\t{ \(num), \"\(name)\" },\n"), name)
        }
        XCTAssertEqual(h.components(separatedBy: "\t{ ").count - 1, Errno.names.count)
        // The fixed C has no errno names of its own.
        XCTAssertFalse(ReproTables.fixedC.contains("\"EPERM\""))
        XCTAssertFalse(ReproTables.fixedC.contains("case ENOSPC"))
    }

    /// The ioctl numbers are the agent's (DrmIoctl), and the fixed C defines none of its own.
    func testGeneratedIoctlNumbersAreTheAgents() {
        let h = ReproTables.header
        XCTAssertTrue(h.contains("#define VGEM_TRANSFER 0x40086445UL\n"), h)
        XCTAssertTrue(h.contains("#define DRM_VERSION 0xc0406400UL\n"), h)
        for (name, value) in DrmIoctl.all { XCTAssertTrue(h.contains("#define \(name) 0x\(String(value, radix: 16))UL\n"), name) }
        XCTAssertEqual(DrmIoctl.all.count, 6)
        XCTAssertFalse(ReproTables.fixedC.contains("#define VGEM_CREATE"))
        XCTAssertFalse(ReproTables.fixedC.contains("#define IOC("))
    }

    /// failslab's fixed attributes are the agent's (Failslab), in its order, and the fixed C
    /// names none of its own.
    func testGeneratedFailslabSettingsAreTheAgents() {
        let h = ReproTables.header
        XCTAssertTrue(h.contains("#define FAILSLAB \"/sys/kernel/debug/failslab/\"\n"), h)
        let rows = Failslab.settings.map { "\t{\"\($0.file)\", \"\($0.value)\"},\n" }
        XCTAssertTrue(h.contains("static const char *const repro_failslab[][2] = {\n" + rows.joined() + "};\n"), h)
        XCTAssertEqual(Failslab.settings.first?.file, "times")   // idle while the rest change
        XCTAssertFalse(ReproTables.fixedC.contains("\"probability\""))
        XCTAssertFalse(ReproTables.fixedC.contains("#define FAILSLAB"))
        // The function the stack filter rejects, by the same name as the agent's.
        XCTAssertTrue(h.contains("#define FAILSLAB_REJECT \"\(Failslab.rejectFunction)\"\n"), h)
        XCTAssertFalse(ReproTables.fixedC.contains(Failslab.rejectFunction))
    }

    /// What the package embeds is the file on disk (the one gcc and the quoting test read).
    func testEmbeddedFixedCIsTheFile() throws {
        XCTAssertEqual(ReproTables.fixedC, try String(contentsOf: Self.reproH, encoding: .utf8))
        XCTAssertTrue(try Repro.c(CampaignTests.everyOp).contains(ReproTables.header + "\n" + ReproTables.fixedC))
    }

    /// The C quoting of the real repro.h (compiled with host gcc) is TracePrinter.quote, byte for
    /// byte, for each of the 256 bytes alone and all of them in one string, and report() prints
    /// a read as the trace line TracePrinter.step prints.
    func testCQuotingIsTracePrinterQuote() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else { throw XCTSkip("no gcc") }
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("repro-quote-\(getpid())")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let all = (0...255).map { UInt8($0) }
        let read = Op.read(CgroupPath(["g"]), file: "dmem.max")
        let label = TracePrinter.op(read)
        try ReproTables.header.write(to: dir.appendingPathComponent("tables.h"), atomically: true, encoding: .utf8)
        let harness = """
            #include "tables.h"
            #include "\(Self.reproH.path)"
            int main(void)
            {
            	static char buf[4 * 256 + 3];
            	static unsigned char all[256];
            	for (int b = 0; b < 256; b++) {
            		unsigned char c = b;
            		quote(buf, &c, 1);
            		printf("%s\\n", buf);
            		all[b] = b;
            	}
            	quote(buf, all, 256);
            	printf("%s\\n", buf);
            	memcpy(out, all, 256);
            	out_len = 256;
            	report(\(Repro.cString(Array(label.utf8))), -1, \(Repro.cString(Array(TracePrinter.quote(all).utf8))));
            	return mismatches;
            }

            """
        let src = dir.appendingPathComponent("quote.c"), bin = dir.appendingPathComponent("quote")
        try harness.write(to: src, atomically: true, encoding: .utf8)
        try await ReproBinary.compile(source: src, output: bin)
        let p = Process()
        p.executableURL = bin
        let pipe = Pipe(); p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "report() saw a mismatch")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 256 + 2 + 1)   // the last is empty: output ends with a newline
        guard lines.count >= 258 else { return }
        for b in 0...255 { XCTAssertEqual(lines[b], TracePrinter.quote([UInt8(b)]), "byte \(b)") }
        XCTAssertEqual(lines[256], TracePrinter.quote(all))
        XCTAssertEqual(lines[257], TracePrinter.step(Step(read, expect: .bytes(all))))
    }
}
