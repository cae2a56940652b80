import TsunaguCrypto

/// The key of one direction of one peer link, derived from both hello nonces (`PeerAuth`).
struct PeerLinkKey: Sendable, Equatable {
    let bytes: [UInt8]
}

/// Seals the messages of a peer link: `COUNTER TAG MESSAGE`, where COUNTER counts from 1 on
/// the link and TAG = hex HMAC-SHA-256 under the link key over "COUNTER|MESSAGE". The tag makes a
/// message that was not sent on this link worthless; the counter makes one sent on it count once.
struct PeerFrameSealer: Sendable {
    private let key: PeerLinkKey
    private var counter: UInt64 = 0

    init(key: PeerLinkKey) { self.key = key }

    mutating func seal(_ message: String) -> String {
        counter += 1
        let tag = HMAC.sha256(key: key.bytes, data: Array("\(counter)|\(message)".utf8))
        return "\(counter) \(ByteEncoding.hex(tag)) \(message)"
    }
}

/// Opens the frames `PeerFrameSealer` made, in order. A frame with a bad tag, or a counter that
/// is not the next one (replayed, dropped, reordered), yields nil: the receiver closes the link,
/// and the store's repair sweep covers whatever that link would have carried.
struct PeerFrameOpener: Sendable {
    private let key: PeerLinkKey
    private var expected: UInt64 = 1

    init(key: PeerLinkKey) { self.key = key }

    mutating func open(_ frame: String) -> String? {
        let parts = frame.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let counter = UInt64(parts[0]), counter == expected,
            let tag = ByteEncoding.bytes(hex: String(parts[1]))
        else { return nil }
        let message = String(parts[2])
        guard HMAC.isValidSHA256(tag: tag, key: key.bytes, data: Array("\(counter)|\(message)".utf8)) else { return nil }
        expected += 1
        return message
    }
}
