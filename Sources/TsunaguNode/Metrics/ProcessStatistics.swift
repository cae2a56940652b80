import Foundation

/// This process's resident memory and open file descriptors, read from /proc at scrape time
/// (Linux; nil elsewhere). Read on demand rather than sampled: nothing runs between scrapes.
struct ProcessStatistics {
    var residentBytes: Int?
    var openFiles: Int?

    static func read() -> ProcessStatistics {
        ProcessStatistics(residentBytes: residentBytes(), openFiles: openFileCount())
    }

    /// /proc/self/statm: "size resident shared …" in pages.
    private static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func openFileCount() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")).map(\.count)
    }
}
