import Testing

@testable import GatehouseConfig

@Suite("server.limits.max_connections")
struct ConnectionLimitConfigTests {
    @Test("absent or auto: derived when the gateway starts; an integer is taken as it is")
    func accepted() throws {
        #expect(ConfigFixtures.config(ConfigFixtures.minimal)?.server.limits.maxConnections == nil)
        let auto = ConfigFixtures.config(ConfigFixtures.withServer("limits:\n    max_connections: auto"))
        #expect(auto?.server.limits.maxConnections == nil)
        let fixed = ConfigFixtures.config(ConfigFixtures.withServer("limits:\n    max_connections: 4096"))
        #expect(fixed?.server.limits.maxConnections == 4096)
    }

    @Test("0, negative, too large or not a number: refused with file:line", arguments: ["0", "-5", "16777217", "lots", "1.5"])
    func refused(_ value: String) throws {
        let error = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer("limits:\n    max_connections: \(value)")))
        #expect(error.key == "server.limits.max_connections")
        #expect(error.location?.line == 3)
        #expect(error.description.contains("\"auto\" or an integer from 1 to 16777216"), "\(error)")
    }
}
