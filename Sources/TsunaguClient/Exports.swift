/// The client speaks in the server's own `JSONValue` (and its parser and writer), so callers of
/// `TsunaguClient` get it, `JSONObject` and `JSONParseError` without importing `TsunaguCore`.
@_exported import TsunaguCore
