/// Close status codes (RFC 6455 §7.4).
enum CloseCode {
    /// Whether a status code may appear in a Close frame.
    ///
    /// §7.4.1 defines 1000–1003 and 1007–1011 for use on the wire; 1012–1014 were added to the
    /// IANA registry later. "1004: Reserved." 1005, 1006 and 1015 "MUST NOT be set as a status
    /// code in a Close control frame by an endpoint." §7.4.2: "0-999: Status codes in the range
    /// 0-999 are not used", 1000–2999 are reserved for this protocol and its extensions (so the
    /// unassigned 1016–2999 are invalid), 3000–3999 are registered with IANA and 4000–4999 are
    /// for private use. Anything above 4999 is undefined.
    static func isValid(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}
