import Testing

@testable import GatehouseConfig

/// `sessions.redis.sentinel`, `replica_ack` and `replica_ack_timeout` (issue 15).
@Suite("Config: sessions.redis.sentinel and replica_ack")
struct RedisSentinelConfigTests {
    /// A redis section made of `lines` (no url unless the lines give one).
    private static func redis(_ lines: String) -> String {
        """
        login:
          users_file: users.yaml
        sessions:
          store: redis
          redis:
        \(ConfigFixtures.indent(ConfigFixtures.indent(lines)))
        """ + "\n" + ConfigFixtures.minimal
    }

    private static func section(_ lines: String) throws -> SessionsSection.RedisSection {
        let config = try #require(ConfigFixtures.config(redis(lines)))
        guard case .redis(let section)? = config.sessions?.store else { throw ConfigTestFailure("not redis") }
        return section
    }

    @Test("sentinel without url: master, addresses (names allowed), password_env; replica_ack auto, 250 ms")
    func sentinelRead() throws {
        let section = try Self.section("""
            sentinel:
              master: mymaster
              addresses: ["10.0.0.1:26379", "sentinel-b.internal:26379", "[::1]:26380"]
              password_env: SENTINEL_PASSWORD
            """)
        #expect(section.url == nil)
        let sentinel = try #require(section.sentinel)
        #expect(sentinel.master == "mymaster")
        #expect(sentinel.addresses.map(\.description) == ["10.0.0.1:26379", "sentinel-b.internal:26379", "[::1]:26380"])
        #expect(sentinel.passwordEnv == "SENTINEL_PASSWORD")
        #expect(section.replicaAck == .auto)
        #expect(section.replicaAckTimeout == .milliseconds(250))
    }

    @Test("with sentinel a url may still give the user, password and database; replica_ack takes a count")
    func sentinelWithURL() throws {
        let section = try Self.section("""
            url: "redis://gw:secret@ignored/2"
            sentinel: { master: m, addresses: ["127.0.0.1:26379"] }
            replica_ack: 2
            replica_ack_timeout: 1s
            """)
        #expect(section.url == "redis://gw:secret@ignored/2")
        #expect(section.sentinel?.master == "m")
        #expect(section.replicaAck == .replicas(2))
        #expect(section.replicaAckTimeout == .seconds(1))
        #expect(try Self.section("url: \"redis://127.0.0.1/0\"\nreplica_ack: 0").replicaAck == .replicas(0))
    }

    @Test("refused at their key: no url and no sentinel, a missing master, no addresses, a bad address, a master name with a space, a bad password_env, replica_ack words and numbers out of range")
    func refusals() throws {
        let cases: [(String, String)] = [
            ("key_prefix: \"x:\"", "sessions.redis.url"),
            ("sentinel: { addresses: [\"127.0.0.1:26379\"] }", "sessions.redis.sentinel.master"),
            ("sentinel: { master: m }", "sessions.redis.sentinel.addresses"),
            ("sentinel: { master: m, addresses: [] }", "sessions.redis.sentinel.addresses"),
            ("sentinel: { master: m, addresses: [\"127.0.0.1\"] }", "sessions.redis.sentinel.addresses[0]"),
            ("sentinel: { master: m, addresses: [\"127.0.0.1:0\"] }", "sessions.redis.sentinel.addresses[0]"),
            ("sentinel: { master: \"my master\", addresses: [\"127.0.0.1:26379\"] }", "sessions.redis.sentinel.master"),
            ("sentinel: { master: m, addresses: [\"127.0.0.1:26379\"], password_env: \"not a name\" }",
             "sessions.redis.sentinel.password_env"),
            ("sentinel: { master: m, addresses: [\"127.0.0.1:26379\"], port: 1 }", "sessions.redis.sentinel.port"),
            ("url: \"redis://127.0.0.1/0\"\nreplica_ack: always", "sessions.redis.replica_ack"),
            ("url: \"redis://127.0.0.1/0\"\nreplica_ack: 17", "sessions.redis.replica_ack"),
            ("url: \"redis://127.0.0.1/0\"\nreplica_ack: -1", "sessions.redis.replica_ack"),
            ("url: \"redis://127.0.0.1/0\"\nreplica_ack_timeout: 0", "sessions.redis.replica_ack_timeout"),
        ]
        for (lines, key) in cases {
            let error = try #require(ConfigFixtures.singleError(Self.redis(lines)), "\(lines)")
            #expect(error.key == key, "\(lines): \(error)")
            #expect(error.location != nil, "\(lines): at a line")
        }
    }
}

struct ConfigTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
