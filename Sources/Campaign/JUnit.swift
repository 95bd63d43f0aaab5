/// JUnit XML in the shape of the Jenkins/Ant JUnit schema (junit-10.xsd): one `testsuite` with
/// tests/failures/errors/skipped/time, one `testcase` per case with name, classname and time, a
/// `failure` or `skipped` element with the detail as its message.
extension CheckResults {
    public func junit(suite: String = "dmemfuzz check") -> String {
        let total = cases.reduce(0) { $0 + $1.seconds }
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuite name=\"\(Self.xml(suite))\" tests=\"\(cases.count)\" failures=\"\(count(.fail))\" errors=\"0\" skipped=\"\(count(.skip))\" time=\"\(Self.seconds(total))\">\n"
        for c in cases {
            x += "  <testcase name=\"\(Self.xml(c.name))\" classname=\"\(Self.xml(suite))\" time=\"\(Self.seconds(c.seconds))\">"
            switch c.status {
            case .pass: break
            case .skip: x += "<skipped message=\"\(Self.xml(c.detail))\"/>"
            case .fail: x += "<failure message=\"\(Self.xml(c.detail))\"/>"
            }
            x += "</testcase>\n"
        }
        return x + "</testsuite>\n"
    }

    /// Seconds with two decimals, without Foundation's String(format:).
    static func seconds(_ s: Double) -> String {
        let centis = Int((max(0, s) * 100).rounded())
        let frac = centis % 100
        return "\(centis / 100).\(frac < 10 ? "0" : "")\(frac)"
    }

    /// Attribute text: the five XML escapes; control characters XML 1.0 cannot carry at all
    /// (everything below 0x20 but tab, newline, return) as `\xHH`, the trace's way.
    static func xml(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            default:
                if u.value < 0x20 || u.value == 0xfffe || u.value == 0xffff {
                    let hex = Array("0123456789abcdef")
                    out += "\\x" + String(hex[Int(u.value >> 4) & 15]) + String(hex[Int(u.value & 15)])
                } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
