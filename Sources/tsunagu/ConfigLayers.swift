import ArgumentParser
import Configuration
import Foundation
import SystemPackage

/// Where an option's value may come from besides the command line, lowest first: the config
/// file (`--config FILE` or `TSUNAGU_CONFIG`, YAML), then the environment (`TSUNAGU_*`); a flag on
/// the command line wins over both (docs/operations.md, "Configuration").
///
/// This is the one seam between configuration and the commands: before swift-argument-parser
/// parses, every option the command line leaves unset is looked up here and, when found, added
/// to the arguments as if typed. So every option of every command, including ones added later,
/// is configurable with no code of its own, and its checks (ranges, paths, names) apply to a
/// value from a file exactly as to one typed.
///
/// Keys: an option `--time-zone` is `time_zone` in the file and `TSUNAGU_TIME_ZONE` in the
/// environment. A key under a command's section (`serve:` → `listen:`; `nodes:` → `add:` →
/// `log:`) applies to that command only and wins over the same key at the top level; in the
/// environment that is `TSUNAGU_SERVE_LISTEN`.
struct ConfigLayers {
    var environment: ConfigReader
    var file: ConfigReader?
    var filePath: String?

    static let environmentPrefix = "tsunagu"

    init(filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws {
        self.environment = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        self.filePath = filePath
        if let filePath {
            do {
                file = ConfigReader(provider: try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath)))
            } catch {
                throw ValidationError("--config: \(filePath) is not a usable YAML file (\(oneLine(error))); `tsunagu config check --config \(filePath)` names the line")
            }
        }
    }

    /// The scopes a command's keys are looked up in, the command's own section first.
    static func scopes(_ path: [String]) -> [[String]] {
        (0...path.count).reversed().map { Array(path.prefix($0)) }
    }

    /// The command-line tokens for `argument` of the command at `path`, or nil when neither the
    /// environment nor the file sets it.
    func tokens(for argument: CommandTree.Argument, path: [String]) throws -> [String]? {
        guard let key = argument.key, let flag = argument.longName else { return nil }
        for scope in Self.scopes(path) {
            let environmentKey = ConfigKey([Self.environmentPrefix] + scope + [key])
            if let values = read(environment, environmentKey, argument) {
                let name = "TSUNAGU_" + (scope + [key]).joined(separator: "_").uppercased()
                return try Self.tokens(flag: flag, argument: argument, values: values, source: name)
            }
        }
        guard let file, let filePath else { return nil }
        for scope in Self.scopes(path) {
            if let values = read(file, ConfigKey(scope + [key]), argument) {
                let name = (scope + [key]).joined(separator: ".")
                if let problem = Self.secretProblem(key: key, values: values) {
                    throw ValidationError("--config \(filePath): \(name): \(problem)")
                }
                return try Self.tokens(flag: flag, argument: argument, values: values, source: "\(filePath): \(name)")
            }
        }
        return nil
    }

    private func read(_ reader: ConfigReader, _ key: ConfigKey, _ argument: CommandTree.Argument) -> [String]? {
        if argument.isRepeating == true, let values = reader.stringArray(forKey: key) { return values }
        return reader.string(forKey: key).map { [$0] }
    }

    static func tokens(flag: String, argument: CommandTree.Argument, values: [String], source: String) throws -> [String] {
        if argument.isFlag {
            switch values.first?.lowercased() {
            case "true", "yes", "on", "1": return ["--\(flag)"]
            case "false", "no", "off", "0": return []
            default: throw ValidationError("\(source): '\(values.first ?? "")' is not true or false")
            }
        }
        let list = argument.isRepeating == true && values.count == 1
            ? values[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            : values
        return list.flatMap { ["--\(flag)", $0] }
    }

    /// Secrets never sit in the config file (it is read by more people and tools than a key
    /// file): a password goes in the environment or in a file named by a `*_password_file` key.
    static func secretProblem(key: String, values: [String]) -> String? {
        if key.contains("password") && !key.hasSuffix("_file") && !key.hasSuffix("_stdin") {
            return "a password does not go in the config file; use the environment or a password file"
        }
        for value in values where value.firstMatch(of: /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\/@]*:[^\/@]*@/) != nil {
            return "this URL carries a password; keep the URL without it here and give the password through the environment or a password file"
        }
        return nil
    }
}

/// The seam itself: the arguments as typed, with `--config FILE` taken out and every unset
/// option filled from the environment and the file.
enum ConfigSeam {
    static func fill(_ arguments: [String], tree: CommandTree?,
                     environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> [String] {
        guard let tree else { return arguments }
        let (path, command) = tree.resolve(arguments)
        // `config check` reads its file itself (a broken one is what it reports); help is
        // shown whatever the configuration says.
        if path.first == "config" || arguments.contains(where: { ["--help", "-h", "help", "--experimental-dump-help"].contains($0) }) {
            return arguments
        }
        var typed = arguments
        var filePath = environment["TSUNAGU_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if let index = typed.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }), index < (typed.firstIndex(of: "--") ?? typed.endIndex) {
            if typed[index] == "--config" {
                guard index + 1 < typed.count else { throw ValidationError("--config: missing the file name") }
                filePath = typed[index + 1]
                typed.removeSubrange(index...(index + 1))
            } else {
                filePath = String(typed[index].dropFirst("--config=".count))
                typed.remove(at: index)
            }
        }
        if let raw = filePath { filePath = try PathArgument.existingFile(raw, flag: "--config") }
        let layers = try await ConfigLayers(filePath: filePath, environment: environment)
        let given = Set(typed.prefix { $0 != "--" }.compactMap { token -> String? in
            guard token.hasPrefix("--") else { return nil }
            let name = token.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return name.hasPrefix("no-") ? String(name.dropFirst(3)) : name
        })
        var filled: [String] = []
        for argument in command.settable {
            guard let flag = argument.longName, !given.contains(flag) else { continue }
            if let tokens = try layers.tokens(for: argument, path: path) { filled += tokens }
        }
        guard !filled.isEmpty else { return typed }
        // Before a `--` terminator, so they are read as options.
        let end = typed.firstIndex(of: "--") ?? typed.endIndex
        typed.insert(contentsOf: filled, at: end)
        return typed
    }
}
