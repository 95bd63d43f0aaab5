/// KTAP as Documentation/dev-tools/ktap.rst defines it: the version line, the plan, one result
/// line per case (`# SKIP` directive for a skip, diagnostic data after `#` otherwise), failure
/// details as diagnostic lines, and kselftest's totals line last
/// (tools/testing/selftests/kselftest.h, ksft_print_cnts).
extension CheckResults {
    public func ktap() -> String {
        var lines = ["KTAP version 1", "1..\(cases.count)"]
        lines += diagnostics.map { "# " + Self.oneLine($0) }
        for (i, c) in cases.enumerated() {
            let name = String(Self.oneLine(c.name).map { $0 == "#" ? "_" : $0 })  // a '#' would start a directive
            let detail = Self.oneLine(c.detail)
            switch c.status {
            case .pass: lines.append("ok \(i + 1) \(name)" + (detail.isEmpty ? "" : " # \(detail)"))
            case .skip: lines.append("ok \(i + 1) \(name) # SKIP" + (detail.isEmpty ? "" : " \(detail)"))
            case .fail:
                lines.append("not ok \(i + 1) \(name)")
                if !detail.isEmpty { lines.append("# \(detail)") }
            }
        }
        lines.append("# Totals: pass:\(count(.pass)) fail:\(count(.fail)) xfail:0 xpass:0 skip:\(count(.skip)) error:0")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line: a line break inside a name or detail would end the result line early.
    static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
