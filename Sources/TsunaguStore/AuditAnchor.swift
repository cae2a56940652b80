import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TsunaguCrypto

/// A signed checkpoint of the audit chain: "the chain had `count` entries and its head link was
/// `head` at `atMillis`". The chain alone cannot show that its last rows were deleted (what remains
/// is still a valid chain); an anchor kept outside the store can. It is signed with HMAC-SHA-256
/// under a key derived for this purpose alone (not the chain key), so neither someone who can edit
/// the store nor someone who can read the chain's links can write one. docs/security.md, "Audit
/// log".
public struct AuditAnchor: Codable, Sendable, Equatable {
    public static let version = 1
    public var version: Int
    /// Entries in the chain (the seq of its last entry).
    public var count: Int64
    /// The chain link of entry `count`, lowercase hex (empty for an empty chain).
    public var head: String
    public var atMillis: Int64
    /// HMAC-SHA-256 over the fields above, lowercase hex.
    public var mac: String

    /// A signed anchor of a chain of `count` entries whose last link is `head`.
    public init(count: Int64, head: [UInt8], atMillis: Int64, key: SymmetricKey) {
        version = Self.version
        self.count = count
        self.head = ByteEncoding.hex(head)
        self.atMillis = atMillis
        mac = ""
        mac = ByteEncoding.hex(HMAC.sha256(key: key.bytes, data: signedBytes))
    }

    /// True when `key` signed exactly these fields.
    public func isSigned(by key: SymmetricKey) -> Bool {
        guard let tag = ByteEncoding.bytes(hex: mac) else { return false }
        return HMAC.isValidSHA256(tag: tag, key: key.bytes, data: signedBytes)
    }

    private var signedBytes: [UInt8] {
        Array("tsunagu-audit-anchor|\(version)|\(count)|\(head)|\(atMillis)".utf8)
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }

    public static func decode(_ data: Data) -> AuditAnchor? {
        try? JSONDecoder().decode(AuditAnchor.self, from: data)
    }
}

/// The anchors kept in `--audit-anchor-dir`: one file per anchor, written beside and renamed (so a
/// crash never leaves half an anchor), the newest `generations` kept.
public struct AuditAnchorDirectory: Sendable {
    public static let generations = 8
    public let path: String

    public init(path: String) { self.path = path }

    /// Writes `anchor` and prunes older generations; answers the file written.
    @discardableResult
    public func write(_ anchor: AuditAnchor) throws -> String {
        let files = FileManager.default
        try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Zero-padded count then time: names sort oldest first, and two nodes anchoring the same
        // count at once write distinct files.
        let name = String(format: "anchor-%020lld-%020lld.json", anchor.count, anchor.atMillis)
        let target = (path as NSString).appendingPathComponent(name)
        let partial = (path as NSString).appendingPathComponent(".\(name).\(UUID().uuidString).partial")
        guard files.createFile(atPath: partial, contents: anchor.encoded(), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: partial])
        }
        guard rename(partial, target) == 0 else {
            try? files.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
        }
        for old in try names().dropLast(Self.generations) {
            try? files.removeItem(atPath: (path as NSString).appendingPathComponent(old))
        }
        return target
    }

    /// The anchors found, oldest first, with their file names; a file that does not parse is
    /// answered as nil so the caller can report it.
    public func anchors() throws -> [(file: String, anchor: AuditAnchor?)] {
        try names().map { name in
            let file = (path as NSString).appendingPathComponent(name)
            return (file, FileManager.default.contents(atPath: file).flatMap(AuditAnchor.decode))
        }
    }

    private func names() throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { $0.hasPrefix("anchor-") && $0.hasSuffix(".json") }
            .sorted()
    }
}
