import Foundation
import Testing

@testable import GatehouseConfig

@Suite("Configuration: sessions.embedded")
struct SessionsEmbeddedConfigTests {
    static func yaml(_ embedded: String) -> String {
        """
        login:
          users_file: users.yaml
        sessions:
          embedded: \(embedded)
        """ + "\n" + ConfigFixtures.minimal
    }

    @Test("max_sessions is read (0 = no limit by default)")
    func maxSessionsRead() throws {
        let config = try #require(ConfigFixtures.config(Self.yaml("{ path: s.db, max_sessions: 50000 }")))
        #expect(config.sessions?.embeddedMaxSessions == 50_000)
        let defaulted = try #require(ConfigFixtures.config(Self.yaml("{ path: s.db }")))
        #expect(defaulted.sessions?.embeddedMaxSessions == 0)
    }

    @Test("a max_sessions out of range or not a number is refused with its line")
    func maxSessionsRefused() throws {
        for value in ["-1", "many", "1000000000"] {
            let error = try #require(ConfigFixtures.singleError(Self.yaml("{ path: s.db, max_sessions: \(value) }")))
            #expect(error.key == "sessions.embedded.max_sessions", "\(value)")
            #expect(error.location?.line == 4)
        }
    }
}
