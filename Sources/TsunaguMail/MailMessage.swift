/// One outgoing e-mail: a plain-text message to a single recipient, as the outbox stores it.
///
/// Tsunagu only sends transactional mail (activation links, change and incident notices), so a
/// message has exactly one recipient and a text body; anything richer is deliberately absent.
public struct MailMessage: Sendable, Equatable {
    /// The outbox id. It names the `.eml` file of `DirectoryTransport` and is the local part of the
    /// `Message-ID` header, so it must be 1–128 characters of `A–Z a–z 0–9 . _ -` (see `isValidID`).
    public var id: String
    /// The envelope and header sender, a bare address such as `noreply@example.jp`.
    public var from: String
    /// The envelope and header recipient, a bare address.
    public var to: String
    /// The subject; non-ASCII text is sent as RFC 2047 encoded-words.
    public var subject: String
    /// The body as text; any line ending is normalised to CRLF when rendered.
    public var textBody: String

    /// Creates a message; nothing is validated until a transport delivers it.
    public init(id: String, from: String, to: String, subject: String, textBody: String) {
        self.id = id
        self.from = from
        self.to = to
        self.subject = subject
        self.textBody = textBody
    }

    /// Whether `id` is safe both as a file name and inside a `Message-ID`: 1–128 characters of
    /// letters, digits, `.`, `_` and `-`, not starting with `.` (no hidden files, no `..`).
    public static func isValidID(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id.utf8.first != UInt8(ascii: ".") else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }
}
