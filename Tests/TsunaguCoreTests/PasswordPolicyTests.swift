import Testing
import TsunaguCore

@Suite struct PasswordPolicyTests {
    @Test(arguments: [
        ("short", "password: at least 10 characters"),
        ("password123", "password: too common"),
        ("PassWord123", "password: too common"),
        ("hanako.sato-2026", "password: must not contain your e-mail address"),
        ("aaaaabbbbbb", "password: too few different characters"),
    ])
    func theDefaultPolicyRefuses(password: String, problem: String) {
        #expect(PasswordPolicy().problem(with: password, email: "hanako.sato@sakura.test") == problem)
    }

    @Test func aStricterOrganizationAsksForMoreClasses() {
        let strict = PasswordPolicy(minimumLength: 12, minimumClasses: 3)
        #expect(strict.problem(with: "violet-harbor", email: "x@y.test") != nil)
        #expect(strict.problem(with: "violetharbor92", email: "x@y.test") != nil)
        #expect(strict.problem(with: "Violet-harbor-92", email: "x@y.test") == nil)
        #expect(PasswordPolicy().problem(with: "violet-harbor-92", email: "x@y.test") == nil)
    }
}
