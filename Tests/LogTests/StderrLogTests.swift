import XCTest
import Logging
@testable import Log

/// The handler prints what the message says and nothing else: the progress lines and one-line
/// errors are pinned byte for byte by Tests/CLITests.
final class StderrLogTests: XCTestCase {
    func testAMessageIsItsTextAndANewline() {
        XCTAssertEqual(StderrLogHandler.format("fuzz: round 3: 400 ops"), "fuzz: round 3: 400 ops\n")
        XCTAssertEqual(StderrLogHandler.format("boot failed: x\nconsole: /tmp/c"), "boot failed: x\nconsole: /tmp/c\n")
    }

    func testTheLevelDecidesWhatIsShown() {
        let quiet = Logger.dmemfuzz(level: .error)
        XCTAssertEqual(quiet.logLevel, .error)
        XCTAssertEqual(Logger.dmemfuzz().logLevel, .info)
        var h = StderrLogHandler(level: .warning)
        h[metadataKey: "k"] = "v"
        XCTAssertEqual(h[metadataKey: "k"], "v")
    }
}
