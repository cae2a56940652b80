import TsunaguCore
import TsunaguStore

extension UserRecord {
    /// `{"id","name","org"}`: how the `auth` reply, login and activation name the user.
    func writeSummary(into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", id.rawValue)
        w.field("name", name)
        w.field("org", organization.rawValue)
        w.endObject()
    }
}
