/// The protocol's byte codec: lowercase hex of raw bytes, `-` for none (fields are space
/// separated, so an empty field needs a token). Decoding takes either case.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    /// A field: hex, or `-` for no bytes.
    public static func field(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "-" }
        var out = [UInt8](); out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
    public static func field(_ text: String) -> String { field(Array(text.utf8)) }

    /// The bytes of a field; nil for an odd length or a non-hex digit.
    public static func bytes<S: StringProtocol>(_ field: S) -> [UInt8]? {
        if field == "-" { return [] }
        let u = Array(field.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8](); out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l); i += 2
        }
        return out
    }
    /// A field as UTF-8 text (invalid sequences replaced, as String(decoding:) does).
    public static func text<S: StringProtocol>(_ field: S) -> String? { bytes(field).map { String(decoding: $0, as: UTF8.self) } }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
