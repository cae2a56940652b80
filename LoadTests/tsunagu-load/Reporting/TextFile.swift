#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `text` to `path` (created or truncated, mode 0644).
func writeTextFile(_ text: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw LoadError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var text = text
    try text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw LoadError("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
    }
}
