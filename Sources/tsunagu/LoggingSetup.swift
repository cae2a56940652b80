import ArgumentParser
import Foundation
import Logging
import TsunaguNode

/// `--log-format` and `--log-level`, for the commands that run services (`up`, `serve`, `balance`).
struct LogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("json or text (default: json when standard output is not a terminal).", valueName: "format"))
    var logFormat: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel = "info"

    func validate() throws {
        if let logFormat, LogLineHandler.Format(rawValue: logFormat) == nil {
            throw ValidationError("--log-format: json or text")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: one of trace, debug, info, notice, warning, error, critical")
        }
    }

    var format: LogLineHandler.Format {
        logFormat.flatMap(LogLineHandler.Format.init) ?? (isatty(STDOUT_FILENO) == 1 ? .text : .json)
    }
}

enum LoggingSetup {
    /// One time-zone policy for everything the process prints: log timestamps, times in mail,
    /// backup file names (the same calendar day the logs show). The zone is the process's, set
    /// here from --time-zone (default Asia/Tokyo).
    static func bootstrap(timeZone: String = "Asia/Tokyo", options: LogOptions? = nil) {
        setenv("TZ", timeZone, 1)
        tzset()
        NSTimeZone.default = TimeZone(identifier: timeZone) ?? NSTimeZone.default
        let format = options?.format ?? (isatty(STDOUT_FILENO) == 1 ? .text : .json)
        let level = options.flatMap { Logger.Level(rawValue: $0.logLevel) } ?? .info
        LoggingSystem.bootstrap({ label, provider in
            LogLineHandler(label: label, format: format, logLevel: level, metadataProvider: provider)
        }, metadataProvider: LogContext.metadataProvider)
    }
}
