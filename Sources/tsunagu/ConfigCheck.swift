import ArgumentParser
import Foundation
import Yams

/// `tsunagu config check`: reads a config file as an operator wrote it and names the line and
/// key of each problem — YAML that does not parse, a key no command knows, a value its command
/// refuses (checked by the command's own parser and checks, so they never disagree with a run),
/// a password written into the file.
struct ConfigChecker {
    struct Problem: CustomStringConvertible {
        var line: Int
        var key: String
        var message: String
        var description: String { "line \(line), key \(key): \(message)" }
    }

    /// One setting the file makes: where, and the values as typed.
    struct Setting {
        var line: Int
        var dottedKey: String
        var values: [String]
    }

    let tree: CommandTree

    /// Placeholders for arguments a command requires and the file does not set, so a command's
    /// other checks are reached; errors that name them are not the file's and are left out.
    static func placeholder(for argument: CommandTree.Argument) -> String {
        switch argument.valueName ?? "" {
        case "host:port": return "127.0.0.1:1"
        default: return argument.longName == "email" ? "operator@example.test" : "x"
        }
    }

    func check(_ text: String) -> (problems: [Problem], settings: Int) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return ([Self.problem(from: error)], 0)
        } catch {
            return ([Problem(line: 1, key: "-", message: oneLine(error))], 0)
        }
        guard let root else { return ([], 0) }
        guard let mapping = root.mapping else {
            return ([Problem(line: root.mark?.line ?? 1, key: "-", message: "the file must be a mapping of keys to values")], 0)
        }
        var problems: [Problem] = []
        var settings: [String: Setting] = [:]  // by dotted key
        walk(mapping, path: [], command: tree, problems: &problems, settings: &settings)
        problems += checkValues(settings)
        return (problems.sorted { $0.line < $1.line }, settings.count)
    }

    /// Keys at one level: a command's section (a mapping under its name) or an option of the
    /// command or of any command below it.
    private func walk(_ mapping: Node.Mapping, path: [String], command: CommandTree, problems: inout [Problem],
                      settings: inout [String: Setting]) {
        let options = Dictionary(([command] + command.descendants().map(\.command)).flatMap(\.settable).compactMap { argument in
            argument.key.map { ($0, argument) }
        }, uniquingKeysWith: { first, _ in first })
        for (keyNode, value) in mapping {
            let line = keyNode.mark?.line ?? 1
            guard let key = keyNode.string else {
                problems.append(Problem(line: line, key: "?", message: "a key must be a plain name"))
                continue
            }
            let dotted = (path + [key]).joined(separator: ".")
            if let section = command.subcommand(named: key), let inner = value.mapping {
                walk(inner, path: path + [key], command: section, problems: &problems, settings: &settings)
                continue
            }
            guard let argument = options[key] else {
                let hint = key.contains("-") ? " (keys use '_' where flags use '-')" : ""
                problems.append(Problem(line: line, key: dotted, message: "unknown key\(hint); `tsunagu config example` lists every key"))
                continue
            }
            let values: [String]
            if let scalar = value.scalar {
                values = [scalar.string]
            } else if let sequence = value.sequence, argument.isRepeating == true {
                values = sequence.compactMap(\.scalar?.string)
                guard values.count == sequence.count else {
                    problems.append(Problem(line: line, key: dotted, message: "a list of plain values is expected"))
                    continue
                }
            } else {
                problems.append(Problem(line: line, key: dotted, message: argument.isRepeating == true
                    ? "a value or a list of values is expected" : "a single value is expected"))
                continue
            }
            if let problem = ConfigLayers.secretProblem(key: key, values: values) {
                problems.append(Problem(line: line, key: dotted, message: problem))
                continue
            }
            if argument.isFlag, !["true", "false", "yes", "no", "on", "off", "1", "0"].contains(values.first?.lowercased() ?? "") {
                problems.append(Problem(line: line, key: dotted, message: "true or false is expected"))
                continue
            }
            settings[dotted] = Setting(line: line, dottedKey: dotted, values: values)
        }
    }

    /// Each command that takes any of the settings parses them as it would at run time; an
    /// error naming one of the file's flags is that setting's problem. The setting is then left
    /// out and the command parsed again, so one mistake does not hide the next.
    private func checkValues(_ settings: [String: Setting]) -> [Problem] {
        var problems: [Problem] = []
        var reported = Set<String>()
        for (path, command) in tree.descendants() where (command.subcommands ?? []).isEmpty {
            var sources: [String: (setting: Setting, argument: CommandTree.Argument)] = [:]  // by long flag name
            for argument in command.settable {
                guard let key = argument.key, let flag = argument.longName else { continue }
                if let setting = ConfigLayers.scopes(path).lazy.compactMap({ settings[($0 + [key]).joined(separator: ".")] }).first {
                    sources[flag] = (setting, argument)
                }
            }
            while !sources.isEmpty {
                var arguments = path
                for argument in command.settable {
                    guard let flag = argument.longName else { continue }
                    if let source = sources[flag] {
                        arguments += (try? ConfigLayers.tokens(flag: flag, argument: source.argument, values: source.setting.values,
                                                               source: source.setting.dottedKey)) ?? []
                    } else if Self.isRequired(argument) {
                        arguments += ["--\(flag)", Self.placeholder(for: argument)]
                    }
                }
                for positional in (command.arguments ?? []) where positional.kind == "positional" && positional.isOptional != true {
                    arguments.append(Self.placeholder(for: positional))
                }
                let message: String
                do {
                    _ = try Tsunagu.parseAsRoot(arguments)
                    break
                } catch {
                    message = Tsunagu.message(for: error)
                }
                guard let found = sources.first(where: { Self.names(message, flag: $0.key) }) else { break }
                let source = found.value
                sources[found.key] = nil
                if reported.insert(source.setting.dottedKey).inserted {
                    let first = message.split(separator: "\n").first.map(String.init) ?? message
                    problems.append(Problem(line: source.setting.line, key: source.setting.dottedKey,
                                            message: "\(first) (tsunagu \(path.joined(separator: " ")))"))
                }
            }
        }
        return problems
    }

    /// Required options carry no default and are not optional in the parser's description.
    static func isRequired(_ argument: CommandTree.Argument) -> Bool {
        argument.isOption && argument.isOptional == false && argument.defaultValue == nil && argument.isRepeating != true
    }

    /// Whether an error message is about `--flag` (and not a longer flag it is the start of).
    static func names(_ message: String, flag: String) -> Bool {
        var searchRange = message.startIndex..<message.endIndex
        while let range = message.range(of: "--\(flag)", range: searchRange) {
            let next = range.upperBound < message.endIndex ? message[range.upperBound] : " "
            if !(next.isLetter || next.isNumber || next == "-") { return true }
            searchRange = range.upperBound..<message.endIndex
        }
        return false
    }

    static func problem(from error: YamlError) -> Problem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            return Problem(line: mark.line, key: "-", message: "not valid YAML: \(problem)\(context.map { " (\($0.text))" } ?? "")")
        case let .duplicatedKeysInMapping(duplicates, context):
            return Problem(line: context.mark.line, key: duplicates.first ?? "-", message: "the key appears more than once")
        default:
            return Problem(line: 1, key: "-", message: "not valid YAML: \(oneLine(error))")
        }
    }
}
