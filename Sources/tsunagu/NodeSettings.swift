import Foundation

/// The node flags a cluster runs with, recorded by `tsunagu up` beside the store
/// (`node-settings.json`, mode 0600 like the key beside it: it may hold the SMTP URL), so that
/// `tsunagu nodes add` starts a node like its siblings (TLS, mail, time zone, public URL) rather
/// than with the defaults.
enum NodeSettings {
    static let fileName = "node-settings.json"

    static func record(_ arguments: [String], dataDirectory: String) throws {
        let path = dataDirectory + "/" + fileName
        do {
            let data = try JSONSerialization.data(withJSONObject: ["serve_arguments": arguments], options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            chmod(path, 0o600)
        } catch {
            throw CLIError("cannot record the node settings at \(path): \(oneLine(error))")
        }
    }

    /// The recorded arguments, if `up` left any.
    static func recorded(dataDirectory: String) throws -> [String]? {
        let path = dataDirectory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let arguments = object["serve_arguments"] as? [String]
        else { throw CLIError("\(path) is damaged; delete it to start nodes with the flags given") }
        return arguments
    }

    /// What `nodes add` passes to its node: the node flags given to it (on the command line, in
    /// the environment or the config file) when any differs from the defaults, else the recorded
    /// settings, else the defaults.
    static func arguments(for options: NodeOptions, dataDirectory: String) throws -> [String] {
        let given = options.arguments
        if given != (try NodeOptions.parse([])).arguments { return given }
        return try recorded(dataDirectory: dataDirectory) ?? given
    }
}
