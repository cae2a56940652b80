/// One element of a `Sec-WebSocket-Extensions` header: an extension and its parameters, as a
/// client offers it or a server accepts it. Both the server's and the client's side of the
/// negotiation parse the header here (RFC 6455 §9.1):
///
///     Sec-WebSocket-Extensions = extension-list
///     extension-list = 1#extension
///     extension = extension-token *( ";" extension-param )
///     extension-param = token [ "=" (token | quoted-string) ]
///
/// "When using the quoted-string syntax variant, the value after quoted-string unescaping MUST
/// conform to the 'token' ABNF." Values are returned unquoted.
struct ExtensionElement: Equatable, Sendable {
    var name: String
    var parameters: [(name: String, value: String?)]

    static func == (lhs: ExtensionElement, rhs: ExtensionElement) -> Bool {
        lhs.name == rhs.name && lhs.parameters.elementsEqual(rhs.parameters, by: { $0 == $1 })
    }

    /// All elements of a list of header values, in order. A malformed element yields one with an
    /// empty name, which no extension accepts.
    static func parse(headerValues: [String]) -> [ExtensionElement] {
        headerValues.flatMap { value in
            splitOutsideQuotes(value, on: ",").compactMap { element -> ExtensionElement? in
                let trimmed = element.trimmingWhitespace
                guard !trimmed.isEmpty else { return nil }  // "1#" lists allow empty elements
                return parse(element: trimmed)
            }
        }
    }

    private static func parse(element: Substring) -> ExtensionElement {
        let parts = splitOutsideQuotes(element, on: ";").map { $0.trimmingWhitespace }
        let name = parts[0]
        guard isToken(name) else { return ExtensionElement(name: "", parameters: []) }
        var parameters: [(name: String, value: String?)] = []
        for part in parts.dropFirst() {
            guard let parameter = parseParameter(part) else { return ExtensionElement(name: "", parameters: []) }
            parameters.append(parameter)
        }
        return ExtensionElement(name: name.lowercased(), parameters: parameters)
    }

    private static func parseParameter(_ text: Substring) -> (name: String, value: String?)? {
        guard let equals = text.firstIndex(of: "=") else {
            return isToken(text) ? (text.lowercased(), nil) : nil
        }
        let name = text[..<equals].trimmingWhitespace
        var value = text[text.index(after: equals)...].trimmingWhitespace
        guard isToken(name) else { return nil }
        if value.first == "\"" {
            guard value.count >= 2, value.last == "\"" else { return nil }
            value = value.dropFirst().dropLast()
            var unescaped = ""
            var escaping = false
            for character in value {
                if escaping || character != "\\" {
                    unescaped.append(character)
                    escaping = false
                } else {
                    escaping = true
                }
            }
            guard !escaping, isToken(Substring(unescaped)) else { return nil }
            return (name.lowercased(), unescaped)
        }
        return isToken(value) ? (name.lowercased(), String(value)) : nil
    }

    /// RFC 7230 §3.2.6 token: 1*tchar.
    private static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    private static func splitOutsideQuotes<S: StringProtocol>(_ text: S, on separator: Character) -> [Substring] {
        let text = Substring(text)
        var parts: [Substring] = []
        var start = text.startIndex
        var inQuotes = false
        var escaping = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if escaping {
                escaping = false
            } else if inQuotes && character == "\\" {
                escaping = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == separator && !inQuotes {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
