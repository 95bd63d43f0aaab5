// The agent reads its requests line by line (AgentProtocol/Request.swift) from the port or stdin.
import Glibc

/// Buffered line reader over a file descriptor.
package final class LineReader {
    let fd: Int32
    var buf: [UInt8] = []
    package init(fd: Int32) { self.fd = fd }
    /// nil on EOF/error (the caller decides whether to retry).
    package func next() -> String? {
        while true {
            if let i = buf.firstIndex(of: 10) {
                var line = Array(buf[..<i]); buf.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buf.append(contentsOf: chunk[0..<n])
        }
    }
}
