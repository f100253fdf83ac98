import Testing

@testable import GatehouseConfig

@Suite("Configuration: login.queue_timeout")
struct LoginQueueConfigTests {
    static func yaml(_ extra: String) -> String {
        """
        login:
          users_file: users.yaml
        \(extra)
        """ + "\n" + ConfigFixtures.minimal
    }

    @Test("queue_timeout is read; 10s by default")
    func queueTimeoutRead() throws {
        let config = try #require(ConfigFixtures.config(Self.yaml("  queue_timeout: 3s")))
        #expect(config.login?.signIn?.queueTimeout == .seconds(3))
        let defaulted = try #require(ConfigFixtures.config(Self.yaml("")))
        #expect(defaulted.login?.signIn?.queueTimeout == .seconds(10))
    }

    @Test("a zero, negative, over-long or non-duration queue_timeout is refused with its line")
    func queueTimeoutRefused() throws {
        for value in ["0s", "-1s", "11m", "soon"] {
            let error = try #require(ConfigFixtures.singleError(Self.yaml("  queue_timeout: \(value)")), "\(value)")
            #expect(error.key == "login.queue_timeout", "\(value)")
            #expect(error.location?.line == 3, "\(value)")
        }
    }
}
