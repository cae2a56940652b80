import Foundation
import Logging

/// One log line per event on standard error, as text for a person at a terminal or as one JSON
/// object per line for a collector (docs/operations.md, "Logs"). Timestamps carry milliseconds
/// and the deployment's UTC offset (the process zone, set by `LoggingSetup` from --time-zone).
struct LogLineHandler: LogHandler {
    enum Format: String, CaseIterable { case json, text }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        var fields = self.metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit { fields.merge(explicit) { $1 } }
        let text = Self.render(format: format, time: Self.timestamp(), level: level, label: label, message: "\(message)",
                               fields: fields)
        Self.emit(text + "\n")
    }

    static func render(format: Format, time: String, level: Logger.Level, label: String, message: String,
                       fields: Logger.Metadata) -> String {
        switch format {
        case .text:
            let rest = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "\(time) \(level) \(label): \(message)" + (rest.isEmpty ? "" : " " + rest)
        case .json:
            var object = "{\"ts\":\(json(time)),\"level\":\(json(level.rawValue)),\"logger\":\(json(label)),\"msg\":\(json(message))"
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !["ts", "level", "logger", "msg"].contains(key) {
                object += ",\(json(key)):\(json("\(value)"))"
            }
            return object + "}"
        }
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Now, as 2026-11-30T11:12:13.456+09:00 in the process's zone.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        let offset = parts.tm_gmtoff / 60
        let local = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                           Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
        return local + (offset < 0 ? "-" : "+") + String(format: "%02d:%02d", abs(offset) / 60, abs(offset) % 60)
    }

    private static let lock = NSLock()

    /// Whole lines only, even from several threads.
    private static func emit(_ line: String) {
        lock.withLock {
            let bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
