import ArgumentParser
import Foundation

/// The operator's one executable (docs/protocol.md §7).
@main
struct Tsunagu: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsunagu",
        abstract: "Tsunagu, a realtime collaboration hub for regional care teams.",
        subcommands: [Up.self, Serve.self, Balance.self, Nodes.self, Admin.self, Audit.self, Backup.self, Restore.self,
                      Store.self])

    /// docs/protocol.md §7: bad arguments are a one-line error naming the flag and exit status 2;
    /// failures at run time are one line and exit status 1.
    static func main() async {
        // The store and the key are the operator's alone: files this process creates are 0600.
        umask(0o077)
        do {
            var command = try parseAsRoot()
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
            guard code == .validationFailure else { exit(withError: error) }
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
