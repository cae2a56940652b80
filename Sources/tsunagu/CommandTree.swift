import ArgumentParser
import Foundation

/// The commands and their options as swift-argument-parser itself describes them (its
/// `--experimental-dump-help` JSON), so the configuration layers and `config example` know every
/// option of every command, including ones added later, without a list kept by hand.
struct CommandTree: Decodable {
    struct Name: Decodable { var kind: String; var name: String }

    struct Argument: Decodable {
        var kind: String  // "option", "flag" or "positional"
        var names: [Name]?
        var isRepeating: Bool?
        var isOptional: Bool?
        var defaultValue: String?
        var valueName: String?
        var abstract: String?

        var longName: String? { names?.first { $0.kind == "long" }?.name }
        var isOption: Bool { kind == "option" }
        var isFlag: Bool { kind == "flag" }
        /// The key in the config file and, upper-cased after `TSUNAGU_`, in the environment.
        var key: String? { longName.map { $0.replacingOccurrences(of: "-", with: "_") } }
    }

    var commandName: String
    var abstract: String?
    var subcommands: [CommandTree]?
    var arguments: [Argument]?

    /// Built-in flags that no file or environment should set.
    static let builtIns: Set<String> = ["help", "version", "experimental-dump-help", "generate-completion-script"]

    /// Options and flags that configuration can fill.
    var settable: [Argument] {
        (arguments ?? []).filter { ($0.isOption || $0.isFlag) && $0.longName.map { !Self.builtIns.contains($0) } == true }
    }

    func subcommand(named name: String) -> CommandTree? {
        subcommands?.first { $0.commandName == name }
    }

    /// Every command below this one with its path (leaves and groups), depth first.
    func descendants(path: [String] = []) -> [(path: [String], command: CommandTree)] {
        (subcommands ?? []).flatMap { child in [(path + [child.commandName], child)] + child.descendants(path: path + [child.commandName]) }
    }

    /// The root's tree, from the parser.
    static func load() -> CommandTree? {
        do {
            _ = try Tsunagu.parseAsRoot(["--experimental-dump-help"])
            return nil
        } catch {
            struct Document: Decodable { var command: CommandTree }
            let json = Tsunagu.fullMessage(for: error)
            return try? JSONDecoder().decode(Document.self, from: Data(json.utf8)).command
        }
    }

    /// The subcommand path at the start of `arguments` (e.g. ["nodes", "add"]) and that command.
    func resolve(_ arguments: [String]) -> (path: [String], command: CommandTree) {
        var command = self
        var path: [String] = []
        for argument in arguments {
            guard let next = command.subcommand(named: argument) else { break }
            path.append(argument)
            command = next
        }
        return (path, command)
    }
}
