/// Opaque, prefixed identifiers. The prefix makes a misplaced id obvious in logs and in the wire
/// protocol ("tl_…" can never be mistaken for "u_…"), and the random part is 20 characters of
/// lowercase base32 (100 bits), so ids are unguessable.
public protocol PrefixedID: Hashable, Sendable, Codable, CustomStringConvertible,
    Comparable
{
    static var prefix: String { get }
    var rawValue: String { get }
    init(unchecked rawValue: String)
}

extension PrefixedID {
    /// Parses an id received from a client; nil unless it has this type's prefix and a well-formed tail.
    public init?(_ rawValue: String) {
        guard rawValue.hasPrefix(Self.prefix) else { return nil }
        let tail = rawValue.utf8.dropFirst(Self.prefix.utf8.count)
        guard (1...64).contains(tail.count),
            tail.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) })
        else { return nil }
        self.init(unchecked: rawValue)
    }

    /// A new random id.
    public static func random() -> Self {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        var tail = [UInt8]()
        tail.reserveCapacity(20)
        for _ in 0..<20 { tail.append(alphabet[Int(generator.next() % 32)]) }
        return Self(unchecked: prefix + String(decoding: tail, as: UTF8.self))
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = Self(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a valid \(Self.prefix) id"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

public struct UserID: PrefixedID {
    public static let prefix = "u_"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct OrganizationID: PrefixedID {
    public static let prefix = "o_"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct TimelineID: PrefixedID {
    public static let prefix = "tl_"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct SessionID: PrefixedID {
    public static let prefix = "s_"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// A node's id in the membership registry, e.g. "n_k3…" or an operator-chosen name.
public struct NodeID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func random() -> NodeID {
        NodeID("n_" + TimelineID.random().rawValue.dropFirst(TimelineID.prefix.count).prefix(8))
    }
}
