#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deliberately low-level WebSocket client for conformance tests: a blocking TCP socket, the
/// handshake written by hand, frames masked and parsed by hand (RFC 6455 §5.2, §5.3).
final class RawWebSocketClient {
    struct Frame: Equatable {
        var fin: Bool
        var rsv1: Bool
        var opcode: UInt8
        var payload: [UInt8]

        var text: String { String(decoding: self.payload, as: UTF8.self) }
        var closeCode: UInt16? {
            guard self.opcode == 0x8, self.payload.count >= 2 else { return nil }
            return UInt16(self.payload[0]) << 8 | UInt16(self.payload[1])
        }
    }

    enum ClientError: Error { case connectFailed, timeout, closed, badResponse(String) }

    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 5) throws {
        #if canImport(Glibc)
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        self.fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard self.fd >= 0 else { throw ClientError.connectFailed }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(self.fd)
            throw ClientError.connectFailed
        }
    }

    deinit { close(self.fd) }

    /// Sends the opening handshake and returns the response status code and headers (lowercased names).
    @discardableResult
    func handshake(path: String = "/v1/ws", extensions: String? = nil) throws -> (status: Int, headers: [String: String]) {
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let extensions { request += "Sec-WebSocket-Extensions: \(extensions)\r\n" }
        request += "\r\n"
        try self.write(Array(request.utf8))
        let head = try self.readUntilBlankLine()
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { throw ClientError.badResponse(head) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: " ")
        }
        return (status, headers)
    }

    /// Sends one masked frame.
    func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode]
        switch payload.count {
        case 0...125: frame.append(0x80 | UInt8(payload.count))
        case 126...0xFFFF: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: frame += [0x80 | 127] + (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (8 * UInt64($0))) & 0xFF) }
        }
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try self.write(frame)
    }

    func sendText(_ text: String) throws { try self.send(opcode: 0x1, Array(text.utf8)) }

    func sendClose(_ code: UInt16, reason: String = "") throws {
        try self.send(opcode: 0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8))
    }

    /// Reads the next frame (server frames are never masked).
    func readFrame() throws -> Frame {
        let header = try self.read(2)
        var length = Int(header[1] & 0x7F)
        if length == 126 {
            length = try self.read(2).reduce(0) { $0 << 8 | Int($1) }
        } else if length == 127 {
            length = try self.read(8).reduce(0) { $0 << 8 | Int($1) }
        }
        guard header[1] & 0x80 == 0 else { throw ClientError.badResponse("server frame is masked") }
        return Frame(fin: header[0] & 0x80 != 0, rsv1: header[0] & 0x40 != 0, opcode: header[0] & 0x0F, payload: try self.read(length))
    }

    /// True when the server has closed the TCP connection (EOF) before the timeout.
    func waitForEOF() -> Bool {
        while true {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = recv(self.fd, &chunk, chunk.count, 0)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { socketSend(self.fd, $0) }
            guard written > 0 else { throw ClientError.closed }
            offset += written
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(self.fd, &chunk, chunk.count, 0)
        if count == 0 { throw ClientError.closed }
        if count < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? ClientError.timeout : ClientError.closed }
        self.buffer += chunk[0..<count]
    }

    private func read(_ count: Int) throws -> [UInt8] {
        while self.buffer.count < count { try self.fill() }
        let bytes = Array(self.buffer[0..<count])
        self.buffer.removeFirst(count)
        return bytes
    }

    private func readUntilBlankLine() throws -> String {
        while true {
            if let end = self.buffer.indices.dropLast(3).first(where: {
                self.buffer[$0] == 13 && self.buffer[$0 + 1] == 10 && self.buffer[$0 + 2] == 13 && self.buffer[$0 + 3] == 10
            }) {
                let head = String(decoding: self.buffer[0..<end], as: UTF8.self)
                self.buffer.removeFirst(end + 4)
                return head
            }
            try self.fill()
        }
    }
}

/// The C `send(2)`, out of reach of the client's own `send` methods.
private func socketSend(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(self.drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
