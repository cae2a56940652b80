/// The PROXY protocol version 2 header (HAProxy's "PROXY protocol" specification, section 2.2):
/// the binary block a TCP proxy sends as the first bytes of a backend connection to name the
/// client it relays. The balancer writes one on every backend connection; a node reads one only
/// from a trusted proxy (docs/security.md, docs/balancer.md).
///
/// Pure: bytes in, a decision out. The node's channel handler decides what to trust and what
/// to do with the bytes (Sources/TsunaguNode/HTTP/ProxyHeaderHandler.swift).
public struct ProxyHeader: Equatable, Sendable {
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, and a port.
    public struct Address: Equatable, Sendable {
        public var bytes: [UInt8]
        public var port: UInt16
        public init(bytes: [UInt8], port: UInt16) {
            self.bytes = bytes
            self.port = port
        }
    }

    public enum Command: UInt8, Sendable {
        /// A connection the proxy made for itself (a health check): use the socket's own address.
        case local = 0
        /// A relayed connection: the addresses below are the client's.
        case proxy = 1
    }

    public var command: Command
    /// The client (source) and the address it connected to (destination); nil for LOCAL and for
    /// AF_UNSPEC, where the receiver keeps the socket's addresses.
    public var source: Address?
    public var destination: Address?

    public init(command: Command, source: Address? = nil, destination: Address? = nil) {
        self.command = command
        self.source = source
        self.destination = destination
    }

    /// The 12-byte signature every version 2 header starts with: "\r\n\r\n\0\r\nQUIT\n".
    public static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// Signature, version/command, family/transport, length.
    public static let fixedLength = 16

    public enum ParseResult: Equatable, Sendable {
        /// The bytes so far are a prefix of a header (or of the signature): read at least this
        /// many bytes in all, then parse again.
        case needMore(Int)
        /// The connection does not open with the signature.
        case notProxy
        /// The signature, then something this parser refuses.
        case invalid(String)
        /// A header of `length` bytes in all (its TLVs included, which are skipped unread: the
        /// caller discards `length` bytes, possibly more than it has buffered).
        case header(ProxyHeader, length: Int)
    }

    /// Reads a header from the start of `bytes`. Only the fixed part and the address block are
    /// needed; the TLVs after them (up to 64 KiB) are never buffered or interpreted.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) -> ParseResult where Bytes.Element == UInt8 {
        let prefix = Array(bytes.prefix(addressBlockOffset + 36))
        let signatureSeen = min(prefix.count, signature.count)
        guard prefix[0..<signatureSeen].elementsEqual(signature[0..<signatureSeen]) else { return .notProxy }
        guard prefix.count >= fixedLength else { return .needMore(fixedLength) }
        let versionCommand = prefix[12]
        guard versionCommand >> 4 == 2 else { return .invalid("version \(versionCommand >> 4)") }
        guard let command = Command(rawValue: versionCommand & 0x0F) else {
            return .invalid("command \(versionCommand & 0x0F)")
        }
        let family = prefix[13]
        let length = Int(prefix[14]) << 8 | Int(prefix[15])
        let total = fixedLength + length
        if command == .local {
            // The receiver must ignore the address block of a LOCAL header, whatever its family.
            return .header(ProxyHeader(command: .local), length: total)
        }
        let addressLength: Int
        switch family {
        case 0x00: return .header(ProxyHeader(command: .proxy), length: total)  // AF_UNSPEC
        case 0x11: addressLength = 4  // TCP over IPv4
        case 0x21: addressLength = 16  // TCP over IPv6
        default: return .invalid("address family and transport 0x\(String(family, radix: 16))")
        }
        let blockLength = 2 * addressLength + 4
        guard length >= blockLength else { return .invalid("length \(length) shorter than the address block") }
        guard prefix.count >= fixedLength + blockLength else { return .needMore(fixedLength + blockLength) }
        var offset = fixedLength
        func take(_ count: Int) -> [UInt8] {
            defer { offset += count }
            return Array(prefix[offset..<offset + count])
        }
        let sourceBytes = take(addressLength)
        let destinationBytes = take(addressLength)
        let ports = take(4)
        let source = Address(bytes: sourceBytes, port: UInt16(ports[0]) << 8 | UInt16(ports[1]))
        let destination = Address(bytes: destinationBytes, port: UInt16(ports[2]) << 8 | UInt16(ports[3]))
        return .header(ProxyHeader(command: .proxy, source: source, destination: destination), length: total)
    }

    private static let addressBlockOffset = fixedLength

    /// The header's bytes: PROXY over TCP when both addresses are of one family (IPv4 or IPv6),
    /// otherwise LOCAL (the receiver then keeps the socket's address). No TLVs.
    public func encoded() -> [UInt8] {
        var bytes = Self.signature
        guard command == .proxy, let source, let destination, source.bytes.count == destination.bytes.count,
            source.bytes.count == 4 || source.bytes.count == 16
        else {
            bytes += [0x20, 0x00, 0x00, 0x00]
            return bytes
        }
        let family: UInt8 = source.bytes.count == 4 ? 0x11 : 0x21
        let length = 2 * source.bytes.count + 4
        bytes += [0x21, family, UInt8(length >> 8), UInt8(length & 0xFF)]
        bytes += source.bytes
        bytes += destination.bytes
        bytes += [UInt8(source.port >> 8), UInt8(source.port & 0xFF),
                  UInt8(destination.port >> 8), UInt8(destination.port & 0xFF)]
        return bytes
    }
}
