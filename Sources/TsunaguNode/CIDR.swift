import NIOCore

/// An IPv4 or IPv6 address range such as `127.0.0.0/8` or `::1/128`: what `--trusted-proxy`
/// takes (docs/security.md, "Client addresses").
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// Network order, 4 or 16 bytes, with the bits past the prefix cleared.
    public let network: [UInt8]
    public let prefixLength: Int

    /// The loopback addresses: a balancer on the same host is trusted without configuration.
    public static let loopback: [CIDR] = [CIDR("127.0.0.0/8")!, CIDR("::1/128")!]

    /// nil for anything that is not `ADDRESS/BITS` with a literal IPv4 or IPv6 address (a bare
    /// address means one host).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty,
            let address = try? SocketAddress(ipAddress: String(first), port: 0), let bytes = address.packedBytes
        else { return nil }
        let length: Int
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII), let bits = Int(parts[1]),
                (0...bytes.count * 8).contains(bits)
            else { return nil }
            length = bits
        } else {
            length = bytes.count * 8
        }
        network = Self.masked(bytes, length)
        prefixLength = length
    }

    public func contains(_ bytes: [UInt8]) -> Bool {
        bytes.count == network.count && Self.masked(bytes, prefixLength) == network
    }

    /// Whether a socket address lies in the range; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a node listening on `::` sees for IPv4 clients) is compared as IPv4.
    public func contains(_ address: SocketAddress) -> Bool {
        guard var bytes = address.packedBytes else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF,
            bytes[11] == 0xFF
        {
            bytes = Array(bytes[12...])
        }
        return contains(bytes)
    }

    public var description: String {
        let text = (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network), port: 0))?.ipAddress ?? "?"
        return "\(text)/\(prefixLength)"
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsHere = max(0, min(8, length - index * 8))
            result[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return result
    }
}

extension SocketAddress {
    /// The IP address in network order (4 or 16 bytes); nil for a Unix-domain address.
    var packedBytes: [UInt8]? {
        switch self {
        case .v4(let address):
            return withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }
}

extension CIDR {
    /// Whether a socket address is a loopback address (IPv4-mapped included).
    static func isLoopback(_ address: SocketAddress) -> Bool {
        loopback.contains { $0.contains(address) }
    }

    /// Whether a host as the registry lists it is a loopback address: `localhost` or a literal
    /// address in `loopback`. Any other name may resolve off the host.
    static func isLoopback(host: String) -> Bool {
        if host == "localhost" { return true }
        guard let address = try? SocketAddress(ipAddress: host, port: 0) else { return false }
        return isLoopback(address)
    }
}
