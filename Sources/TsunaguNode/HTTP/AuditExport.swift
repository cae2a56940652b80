import Foundation
import TsunaguCore
import TsunaguStore

/// How audit entries look in the admin API and its exports: times in the deployment's zone (JST),
/// one entry per line.
enum AuditExport {
    enum Format: String {
        case csv, jsonl
        var contentType: String { self == .csv ? "text/csv" : "application/jsonl" }
    }

    static let pageSize = 500
    static let columns = ["seq", "at", "action", "actor", "target", "source", "node", "details"]
    static let csvHeader = Array((columns.joined(separator: ",") + "\r\n").utf8)

    static func writeFields(_ entry: AuditEntry, time: WireTime, into w: inout JSONWriter) {
        let record = entry.record
        w.field("seq", entry.seq)
        w.field("at", time.format(millis: entry.atMillis))
        w.field("action", record.action)
        if let actor = record.actor { w.field("actor", actor.rawValue) }
        if let target = record.target { w.field("target", target) }
        if let source = record.source { w.field("source", source) }
        if let node = record.node { w.field("node", node) }
        if let details = record.details { w.field("details", details) }
    }

    static func line(_ entry: AuditEntry, format: Format, time: WireTime) -> [UInt8] {
        switch format {
        case .jsonl:
            var w = JSONWriter()
            w.beginObject()
            writeFields(entry, time: time, into: &w)
            w.endObject()
            return w.bytes + [0x0A]
        case .csv:
            let record = entry.record
            let cells = [String(entry.seq), time.format(millis: entry.atMillis), record.action, record.actor?.rawValue ?? "",
                         record.target ?? "", record.source ?? "", record.node ?? "", record.details ?? ""]
            return Array((cells.map(csvCell).joined(separator: ",") + "\r\n").utf8)
        }
    }

    /// RFC 4180 quoting; a cell that a spreadsheet would run as a formula is prefixed with '.
    static func csvCell(_ text: String) -> String {
        var cell = text
        if let first = cell.first, "=+-@".contains(first) { cell = "'" + cell }
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
