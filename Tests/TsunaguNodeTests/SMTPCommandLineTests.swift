import Foundation
import Testing

/// Issue 11 item 5, the command line: the SMTP password never travels in argv (where `ps` shows
/// it to every user of the machine, and where `up` used to copy it onto every node's command
/// line); it comes from a file or the environment.
@Suite(.processHeavy) struct SMTPCommandLineTests {
    @Test func item5APasswordInTheSMTPURLIsRefusedInOneLineThatDoesNotRepeatIt() async throws {
        let url = "smtp://hub:s3cret-word@127.0.0.1:2525"
        for arguments in [["serve", "--listen", "127.0.0.1:0", "--smtp-url", url], ["up", "--smtp-url", url]] {
            let refused = try await TsunaguExecutable.run(arguments)
            #expect(refused.status == 2, "\(arguments)")
            #expect(refused.output.contains("--smtp-url"), "\(refused.output)")
            #expect(refused.output.contains("--smtp-password-file"))
            #expect(!refused.output.contains("s3cret-word"))
            #expect(refused.output.split(separator: "\n").count == 1, "one line")
        }
        let orphan = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0", "--smtp-password-file", "/tmp/x"])
        #expect(orphan.status == 2)
        #expect(orphan.output.contains("--smtp-password-file"))
    }

    /// The node reads the password from `--smtp-password-file`, `TSUNAGU_SMTP_PASSWORD_FILE` or
    /// `TSUNAGU_SMTP_PASSWORD`: shown by what it says when the file cannot be read, or when a
    /// password arrives for a URL without a user name.
    @Test func item5TheSMTPPasswordComesFromAFileOrTheEnvironment() async throws {
        let store = try await OperatorStore.make("smtp-password")
        defer { store.remove() }
        let serve = ["serve", "--listen", "127.0.0.1:0"] + store.common
        let missing = store.directory + "/no-such-password"
        let fromFlag = try await TsunaguExecutable.run(serve + ["--smtp-url", "smtp://hub@127.0.0.1:2525",
                                                                "--smtp-password-file", missing])
        #expect(fromFlag.status == 1)
        #expect(fromFlag.output.contains("--smtp-password-file: cannot read"), "\(fromFlag.output)")
        let fromEnvironmentFile = try await TsunaguExecutable.run(serve + ["--smtp-url", "smtp://hub@127.0.0.1:2525"],
                                                                  environment: ["TSUNAGU_SMTP_PASSWORD_FILE": missing])
        #expect(fromEnvironmentFile.status == 1)
        #expect(fromEnvironmentFile.output.contains("cannot read"), "\(fromEnvironmentFile.output)")
        let withoutUser = try await TsunaguExecutable.run(serve + ["--smtp-url", "smtp://127.0.0.1:2525"],
                                                          environment: ["TSUNAGU_SMTP_PASSWORD": "s3cret-word"])
        #expect(withoutUser.status == 1)
        #expect(withoutUser.output.contains("user name"), "\(withoutUser.output)")
        #expect(!withoutUser.output.contains("s3cret-word"))
        // The switch to turn the TLS requirement off exists, and is spelled out.
        let help = try await TsunaguExecutable.run(["serve", "--help"])
        #expect(help.output.contains("--smtp-require-tls") && help.output.contains("--no-smtp-require-tls"))
    }
}
