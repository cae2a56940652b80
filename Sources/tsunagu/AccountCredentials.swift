import ArgumentParser

/// `--email E --password-stdin`, as every `admin` command that sets a password takes them: the
/// password is read from standard input, never from the command line, and checked against the
/// password policy before anything is written.
struct AccountCredentials: ParsableArguments {
    @Option(help: "E-mail address of the account.") var email: String
    @Flag(help: "Read the password from standard input.") var passwordStdin = false

    func validate() throws {
        guard passwordStdin else { throw ValidationError("--password-stdin is required (passwords never go on the command line)") }
        guard email.contains("@") else { throw ValidationError("--email: not an e-mail address") }
    }

    /// The password from standard input, once it meets the policy.
    func readPassword() throws -> String {
        let password = try readPasswordFromStandardInput()
        try checkPassword(password, email: email)
        return password
    }
}
