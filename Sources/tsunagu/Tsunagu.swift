import ArgumentParser

/// The operator's one executable (PROTOCOL.md §6).
@main
struct Tsunagu: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsunagu",
        abstract: "Tsunagu, a realtime collaboration hub for regional care teams.",
        subcommands: [Up.self, Serve.self, Admin.self])
}
