import Testing

@testable import GatehouseConfig

/// The keys of `sessions.redis` and `admin` added for issue 10: validated with file:line like the others.
@Suite("Config: sessions.redis outage and unknown-cookie keys, admin access keys")
struct RedisAndAdminConfigTests {
    private static func redis(_ lines: String) -> String {
        """
        login:
          users_file: users.yaml
        sessions:
          store: redis
          redis:
            url: "redis://127.0.0.1:6379/0"
        \(ConfigFixtures.indent(ConfigFixtures.indent(lines)))
        """ + "\n" + ConfigFixtures.minimal
    }

    @Test("defaults: 5 s outage grace, 20 unknown cookies per 10 s")
    func defaults() throws {
        let config = try #require(ConfigFixtures.config(Self.redis("")))
        guard case .redis(let section)? = config.sessions?.store else {
            Issue.record("not redis")
            return
        }
        #expect(section.outageGrace == .seconds(5))
        #expect(section.unknownCookieLookups == 20)
        #expect(section.unknownCookieWindow == .seconds(10))
    }

    @Test("values are read; 0 turns each off")
    func values() throws {
        let config = try #require(ConfigFixtures.config(Self.redis("outage_grace: 0\nunknown_cookie_limit: { lookups: 0, window: 1m }")))
        guard case .redis(let section)? = config.sessions?.store else {
            Issue.record("not redis")
            return
        }
        #expect(section.outageGrace == .zero)
        #expect(section.unknownCookieLookups == 0)
        #expect(section.unknownCookieWindow == .seconds(60))
    }

    @Test("a grace over 60 s, an unknown key in unknown_cookie_limit and a negative count are refused at their line")
    func refusals() throws {
        let grace = try #require(ConfigFixtures.singleError(Self.redis("outage_grace: 2m")))
        #expect(grace.key == "sessions.redis.outage_grace")
        #expect(grace.location?.line == 7)
        let unknown = try #require(ConfigFixtures.singleError(Self.redis("unknown_cookie_limit: { lookup: 5 }")))
        #expect(unknown.key == "sessions.redis.unknown_cookie_limit.lookup")
        let negative = try #require(ConfigFixtures.singleError(Self.redis("unknown_cookie_limit: { lookups: -1 }")))
        #expect(negative.key == "sessions.redis.unknown_cookie_limit.lookups")
    }

    @Test("admin: allowed_hosts are lowercased names; a port, a scheme or an empty list is refused; token_file is a path")
    func admin() throws {
        let ok = try #require(ConfigFixtures.config("""
            admin:
              listen: "127.0.0.1:9901"
              allowed_hosts: [Admin.Internal, gw-admin]
              token_file: /etc/gatehouse/admin.token
            """ + "\n" + ConfigFixtures.minimal))
        #expect(ok.admin?.allowedHosts == ["admin.internal", "gw-admin"])
        #expect(ok.admin?.tokenFile == "/etc/gatehouse/admin.token")
        for bad in ["[\"admin:9901\"]", "[\"https://admin\"]", "[]", "[\"*.example\"]"] {
            let error = try #require(ConfigFixtures.singleError("""
                admin:
                  listen: "127.0.0.1:9901"
                  allowed_hosts: \(bad)
                """ + "\n" + ConfigFixtures.minimal), "\(bad)")
            #expect(error.key.hasPrefix("admin.allowed_hosts"), "\(bad): \(error.key)")
            #expect(error.location?.line == 3)
        }
        let unknown = try #require(ConfigFixtures.singleError("admin:\n  listen: \"127.0.0.1:1\"\n  token: x\n" + ConfigFixtures.minimal))
        #expect(unknown.key == "admin.token")
    }
}
