import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Campaign

final class CheckResultsTests: XCTestCase {
    static let sample = CheckResults(cases: [
        .init(name: "corpora/regress/a.trace", status: .pass, seconds: 1.234),
        .init(name: "corpora/regress/b.trace", status: .fail, detail: "step 3: read dmem.max: different data", seconds: 2),
        .init(name: "corpora/regress/c.trace", status: .skip, detail: "needs module dmem_selftest"),
        .init(name: "fuzz 2m seed 1", status: .pass, detail: "2000 ops, 14 signatures", seconds: 120.005),
    ], diagnostics: ["unmodeled: dmem.events", "model: profile 7.3"])

    func testKTAP() {
        XCTAssertEqual(Self.sample.ktap(), """
        KTAP version 1
        1..4
        # unmodeled: dmem.events
        # model: profile 7.3
        ok 1 corpora/regress/a.trace
        not ok 2 corpora/regress/b.trace
        # step 3: read dmem.max: different data
        ok 3 corpora/regress/c.trace # SKIP needs module dmem_selftest
        ok 4 fuzz 2m seed 1 # 2000 ops, 14 signatures
        # Totals: pass:2 fail:1 xfail:0 xpass:0 skip:1 error:0

        """)
    }

    /// Every line is one the KTAP spec (Documentation/dev-tools/ktap.rst) allows, the plan matches
    /// the results, results are numbered 1..N in order, and the totals add up (kselftest.h).
    func testKTAPIsWellFormed() throws {
        let nasty = CheckResults(cases: [
            .init(name: "a#b\nc", status: .fail, detail: "two\nlines"),
            .init(name: "", status: .skip),
            .init(name: "x", status: .pass, detail: "with # inside"),
        ], diagnostics: ["multi\nline"])
        for r in [Self.sample, nasty, CheckResults()] {
            let lines = r.ktap().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(lines.last, "", "ends with a newline")
            let body = lines.dropLast()
            XCTAssertEqual(body.first, "KTAP version 1")
            XCTAssertEqual(body.dropFirst().first, "1..\(r.cases.count)")
            var n = 0, pass = 0, fail = 0, skip = 0
            for l in body.dropFirst(2) {
                if l.hasPrefix("# ") { continue }
                let result = try XCTUnwrap(l.wholeMatch(of: /(ok|not ok) (\d+)( [^#]*)?( # (SKIP)?.*)?/), l)
                n += 1
                XCTAssertEqual(Int(result.2), n, l)
                if result.1 == "not ok" { fail += 1 } else if result.5 != nil { skip += 1 } else { pass += 1 }
            }
            XCTAssertEqual(n, r.cases.count)
            XCTAssertEqual(body.last, "# Totals: pass:\(pass) fail:\(fail) xfail:0 xpass:0 skip:\(skip) error:0")
            XCTAssertEqual([pass, fail, skip], [r.count(.pass), r.count(.fail), r.count(.skip)])
        }
    }

    func testJUnit() {
        XCTAssertEqual(Self.sample.junit(), """
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuite name="dmemfuzz check" tests="4" failures="1" errors="0" skipped="1" time="123.24">
          <testcase name="corpora/regress/a.trace" classname="dmemfuzz check" time="1.23"></testcase>
          <testcase name="corpora/regress/b.trace" classname="dmemfuzz check" time="2.00"><failure message="step 3: read dmem.max: different data"/></testcase>
          <testcase name="corpora/regress/c.trace" classname="dmemfuzz check" time="0.00"><skipped message="needs module dmem_selftest"/></testcase>
          <testcase name="fuzz 2m seed 1" classname="dmemfuzz check" time="120.01"></testcase>
        </testsuite>

        """)
    }

    /// The XML parses, whatever the names and details hold, and has the elements and attributes
    /// the JUnit schema (junit-10.xsd) requires, with counts that match its test cases.
    func testJUnitParsesAndMatchesTheSchema() throws {
        let hostile = CheckResults(cases: [
            .init(name: "a<b>&\"c'", status: .fail, detail: "esc \u{1b}[31m nul \u{0} bell \u{7}\nnewline"),
            .init(name: "ok", status: .skip, detail: "]]> --> <!--"),
            .init(name: "ünïcode ✓", status: .pass, seconds: 0.004),
        ])
        for r in [Self.sample, hostile, CheckResults()] {
            let doc = try XMLDocument(data: Data(r.junit().utf8))
            let suite = try XCTUnwrap(doc.rootElement())
            XCTAssertEqual(suite.name, "testsuite")
            for a in ["name", "tests", "failures", "errors", "skipped", "time"] { XCTAssertNotNil(suite.attribute(forName: a), a) }
            let cases = suite.elements(forName: "testcase")
            XCTAssertEqual(suite.attribute(forName: "tests")?.stringValue, "\(r.cases.count)")
            XCTAssertEqual(cases.count, r.cases.count)
            XCTAssertEqual(suite.attribute(forName: "failures")?.stringValue, "\(cases.filter { !$0.elements(forName: "failure").isEmpty }.count)")
            XCTAssertEqual(suite.attribute(forName: "skipped")?.stringValue, "\(cases.filter { !$0.elements(forName: "skipped").isEmpty }.count)")
            for (c, want) in zip(cases, r.cases) {
                XCTAssertEqual(c.attribute(forName: "name")?.stringValue, want.name, "names survive escaping")
                XCTAssertNotNil(c.attribute(forName: "classname"))
                XCTAssertNotNil(Double(c.attribute(forName: "time")?.stringValue ?? ""))
            }
        }
        let failure = try XMLDocument(data: Data(hostile.junit().utf8)).rootElement()?.elements(forName: "testcase").first?.elements(forName: "failure").first
        XCTAssertEqual(failure?.attribute(forName: "message")?.stringValue, "esc \\x1b[31m nul \\x00 bell \\x07\nnewline")
    }
}
