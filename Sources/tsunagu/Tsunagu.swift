import ArgumentParser
import Foundation

/// The operator's one executable (docs/protocol.md §7).
@main
struct Tsunagu: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsunagu",
        abstract: "Tsunagu, a realtime collaboration hub for regional care teams.",
        discussion: """
            Every command reads --config FILE (YAML; or $TSUNAGU_CONFIG) < the environment \
            (TSUNAGU_TIME_ZONE for --time-zone, …) < flags; `tsunagu config example` prints every key \
            (docs/operations.md).
            """,
        subcommands: [Up.self, Serve.self, Balance.self, Nodes.self, Admin.self, Audit.self, Backup.self, Restore.self,
                      Config.self, Version.self, Keys.self, Notices.self, Incidents.self, Store.self])

    /// docs/protocol.md §7: bad arguments are a one-line error naming the flag and exit status 2;
    /// failures at run time are one line and exit status 1.
    static func main() async {
        // The store and the key are the operator's alone: files this process creates are 0600.
        umask(0o077)
        do {
            var arguments = Array(CommandLine.arguments.dropFirst())
            // `tsunagu --version` is `tsunagu version`: the same lines, the data location included.
            if arguments.first == "--version" { arguments[0] = "version" }
            arguments = try await ConfigSeam.fill(arguments, tree: CommandTree.load())
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("tsunagu: \(error.message)\n".utf8))
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode { exit(withError: error) }
            guard code == .validationFailure else {
                // Any other failure is one line too: never a library's multi-line dump.
                FileHandle.standardError.write(Data("tsunagu: \(oneLine(error))\n".utf8))
                Foundation.exit(1)
            }
            var line = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
            FileHandle.standardError.write(Data("tsunagu: \(line)\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// A failure worth one line to the operator. Never carries a secret.
struct CLIError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
