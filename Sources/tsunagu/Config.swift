import ArgumentParser
import Foundation

/// `tsunagu config example | check`: the configuration file's two helpers (docs/operations.md).
struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a complete example configuration file, or check one.",
        subcommands: [Example.self, Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file: exit 0, or name the line and key of each problem.")

        @Option(help: ArgumentHelp("The file to check.", valueName: "file")) var config: String

        mutating func validate() throws {
            config = try PathArgument.existingFile(config, flag: "--config")
        }

        func run() async throws {
            guard let tree = CommandTree.load() else { throw CLIError("cannot describe the commands (internal)") }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: config)) } catch {
                throw CLIError("--config: cannot read \(config): \(oneLine(error))")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(config): not UTF-8 text") }
            let (problems, settings) = ConfigChecker(tree: tree).check(text)
            guard let first = problems.first else {
                print("\(config): ok (\(settings) setting(s))")
                return
            }
            // The full list on standard output, the first in the one-line error.
            for problem in problems { print("\(config):\(problem.line): \(problem.key): \(problem.message)") }
            let more = problems.count > 1 ? " (and \(problems.count - 1) more above)" : ""
            throw CLIError("\(config):\(first.line): \(first.key): \(first.message)\(more)")
        }
    }

    struct Example: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a complete, commented configuration file with every key and its default.")

        func run() throws {
            guard let tree = CommandTree.load() else { throw CLIError("cannot describe the commands (internal)") }
            print(ConfigExample.render(tree), terminator: "")
        }
    }
}

/// The example file, from the commands themselves: every option of every command, with its
/// help text, the commands that take it and its default.
enum ConfigExample {
    static func render(_ tree: CommandTree) -> String {
        var order: [String] = []
        var arguments: [String: CommandTree.Argument] = [:]
        var commands: [String: [String]] = [:]
        for (path, command) in tree.descendants() where (command.subcommands ?? []).isEmpty {
            for argument in command.settable {
                guard let key = argument.key else { continue }
                if arguments[key] == nil { order.append(key); arguments[key] = argument }
                commands[key, default: []].append(path.joined(separator: " "))
            }
        }
        var text = """
            # Tsunagu configuration file (YAML), as printed by `tsunagu config example` (tsunagu \(Version.number)).
            # Use it with `tsunagu COMMAND --config FILE` (or TSUNAGU_CONFIG=FILE); check it with
            # `tsunagu config check --config FILE`.
            #
            # Precedence: this file < the environment < flags. A key is a flag's long name with '_'
            # for '-': --time-zone is `time_zone` here and TSUNAGU_TIME_ZONE in the environment.
            # A key at the top level applies to every command that has that option; under a
            # command's name it applies to that command only and wins over the top level:
            #
            # serve:
            #   listen: 127.0.0.1:9001
            # balance:
            #   listen: 127.0.0.1:8080
            # nodes:
            #   add:
            #     log: /var/log/tsunagu/added-node.log
            #
            # (in the environment: TSUNAGU_SERVE_LISTEN, TSUNAGU_NODES_ADD_LOG).
            # Relative paths are taken from the working directory; prefer absolute paths here.
            # Secrets never go in this file: a key with a password in its name, or a URL with a
            # password in it, is refused. Give them through the environment or a password file.
            # Lists (repeatable flags) are YAML lists; a flag is true or false.
            #
            # Every key follows, commented out, with its default where it has one.

            """
        for key in order {
            guard let argument = arguments[key] else { continue }
            let help = (argument.abstract ?? "").replacingOccurrences(of: "\n", with: " ")
            text += "\n# \(help)\n"
            text += "# (\(commands[key]!.map { "tsunagu \($0)" }.joined(separator: ", ")))\n"
            text += "# \(key): \(value(argument))\n"
        }
        return text
    }

    private static func value(_ argument: CommandTree.Argument) -> String {
        if argument.isFlag { return "false" }
        if let defaultValue = argument.defaultValue, !defaultValue.isEmpty {
            return argument.isRepeating == true ? "[\(defaultValue)]" : quoted(defaultValue)
        }
        let placeholder = "<\(argument.valueName ?? "value")>"
        return argument.isRepeating == true ? "[\(placeholder)]" : placeholder
    }

    /// A YAML scalar that reads back as the same string.
    private static func quoted(_ value: String) -> String {
        value.allSatisfy({ $0.isLetter || $0.isNumber || "./_-:@".contains($0) }) && !value.hasPrefix("@") ? value : "\"\(value.replacingOccurrences(of: "\"", with: "\\\""))\""
    }
}
