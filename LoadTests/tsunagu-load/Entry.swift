import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Entry point: ArgumentParser for the flags, but our own exit statuses
/// (0 passed, 1 failed or could not run, 2 bad flags).
@main
enum Entry {
    static func main() async {
        let options: TsunaguLoad
        do {
            options = try TsunaguLoad.parse()
        } catch {
            if TsunaguLoad.exitCode(for: error) == .success {
                print(TsunaguLoad.fullMessage(for: error))
                exit(0)
            }
            let message = TsunaguLoad.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            printError("tsunagu-load: error: \(message)")
            exit(2)
        }
        if options.worker { exit(await WorkerMain.run()) }
        let json = options.json
        let runner = Runner(options: options, log: { printError($0) })
        do {
            let report = try await runner.run()
            if let path = options.plot {
                let plot = report.plot
                try writeTextFile(path.lowercased().hasSuffix(".svg") ? plot.svg : plot.html, to: path)
            }
            if json {
                printError(report.summary)
                print(report.json.serialized())
            } else {
                print(report.summary)
            }
            exit(report.passed ? 0 : 1)
        } catch {
            printError("tsunagu-load: \(error)")
            exit(1)
        }
    }
}

/// One line on stderr, written whole.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
