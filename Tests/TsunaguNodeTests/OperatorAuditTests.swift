import Foundation
import Testing

/// Operator commands are in the audit log, with the command line as their source
/// (docs/security.md, "Audit log").
@Suite struct OperatorAuditTests {
    @Test func operatorCommandsAreRecorded() async throws {
        let store = try await OperatorStore.make("operator-audit")
        defer { store.remove() }
        let common = store.common
        #expect(try await TsunaguExecutable.run(["nodes", "drain", "n_gone", "--wait", "1"] + common).status == 1)
        #expect(try await TsunaguExecutable.run(["nodes", "remove", "n_gone"] + common).status == 1)
        #expect(try await TsunaguExecutable.run(["backup"] + common).status == 0)
        let rows = try await Tool.run("/usr/bin/env", ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\\n'.join(a + ' ' + (s or '') for a, s in c.execute('SELECT action, source FROM audit_log ORDER BY seq')))",
            store.storePath])
        #expect(rows.status == 0, "\(rows.output)")
        let lines = rows.output.split(separator: "\n").map(String.init)
        #expect(lines.map { String($0.prefix { $0 != " " }) }
                == ["admin.bootstrap", "admin.add-user", "nodes.drain", "nodes.remove", "operator.backup"], "\(lines)")
        #expect(lines.allSatisfy { $0.contains(" cli") })
    }
}
