import Testing

@testable import GatehouseConfig

@Suite("IP addresses, CIDRs and socket addresses")
struct AddressTests {
    @Test("IPv4 dotted quads")
    func ipv4() {
        #expect(IPAddressParser.ipv4("127.0.0.1") == [127, 0, 0, 1])
        #expect(IPAddressParser.ipv4("255.255.255.255") == [255, 255, 255, 255])
        #expect(IPAddressParser.ipv4("0.0.0.0") == [0, 0, 0, 0])
        for bad in ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "a.b.c.d", "1.2.3.4 ", "", "1.2.3.-4"] {
            #expect(IPAddressParser.ipv4(Substring(bad)) == nil, "\(bad) should be refused")
        }
    }

    @Test(
        "IPv6 with compression and an IPv4 tail",
        arguments: [
            ("::", [UInt8](repeating: 0, count: 16)),
            ("::1", [UInt8](repeating: 0, count: 15) + [1]),
            ("fd00::", [0xfd, 0] + [UInt8](repeating: 0, count: 14)),
            (
                "2001:db8::8:800:200c:417a",
                [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0, 0x20, 0x0c, 0x41, 0x7a]
            ),
            (
                "2001:DB8:0:0:8:800:200C:417A",
                [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0, 0x20, 0x0c, 0x41, 0x7a]
            ),
            ("::ffff:192.0.2.1", [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 192, 0, 2, 1]),
            ("64:ff9b::10.0.0.1", [0, 0x64, 0xff, 0x9b] + [UInt8](repeating: 0, count: 8) + [10, 0, 0, 1]),
            ("1:2:3:4:5:6:7::", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]),
            ("1:2:3:4:5:6:1.2.3.4", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]),
        ])
    func ipv6(text: String, bytes: [UInt8]) {
        #expect(IPAddressParser.ipv6(Substring(text)) == bytes)
    }

    @Test("malformed IPv6 is refused")
    func badIPv6() {
        for bad in [
            ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::1", ":1::", "1::2:", "::1.2.3",
            "1.2.3.4::", "::ffff:1.2.3.4:5", "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6:7:1.2.3.4", "",
        ] {
            #expect(IPAddressParser.ipv6(Substring(bad)) == nil, "\(bad) should be refused")
        }
    }

    @Test("CIDRs: v4, v6 and single addresses")
    func cidrs() throws {
        let v4 = try parsedCIDR("10.0.0.0/8")
        #expect(v4.address == [10, 0, 0, 0])
        #expect(v4.prefixLength == 8)
        #expect(v4.description == "10.0.0.0/8")
        let host = try parsedCIDR("127.0.0.1")
        #expect(host.prefixLength == 32)
        let v6 = try parsedCIDR("fd00::/8")
        #expect(v6.address.count == 16)
        #expect(v6.address[0] == 0xfd)
        #expect(v6.prefixLength == 8)
        let loopback = try parsedCIDR("::1")
        #expect(loopback.prefixLength == 128)
        #expect(try parsedCIDR("0.0.0.0/0").prefixLength == 0)
        #expect(try parsedCIDR("::/0").prefixLength == 0)
        #expect(try parsedCIDR("192.168.1.128/25").prefixLength == 25)
        #expect(try parsedCIDR("::ffff:10.0.0.0/104").address.count == 16)
    }

    @Test(
        "bad CIDRs and their reasons",
        arguments: [
            ("10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be a number from 0 to 32"),
            ("::/129", "\"::/129\": the prefix length must be a number from 0 to 128"),
            ("10.0.0.0/", "\"10.0.0.0/\": the prefix length must be a number from 0 to 32"),
            ("10.0.0.0/-1", "\"10.0.0.0/-1\": the prefix length must be a number from 0 to 32"),
            ("10.0.0.0/8/8", "\"10.0.0.0/8/8\": the prefix length must be a number from 0 to 32"),
            ("10.0.0.1/8", "\"10.0.0.1/8\" has bits set after the /8 prefix"),
            ("192.168.1.129/25", "\"192.168.1.129/25\" has bits set after the /25 prefix"),
            ("fd00::1/8", "\"fd00::1/8\" has bits set after the /8 prefix"),
            ("fe80::1%eth0", "\"fe80::1%eth0\": zone identifiers (%...) are not allowed"),
            ("10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address"),
            ("localhost", "\"localhost\" is not an IPv4 or IPv6 address"),
        ])
    func badCIDRs(text: String, reason: String) {
        guard case .invalid(let message) = CIDRSpec.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(message == reason)
    }

    @Test("socket addresses: IPv4, bracketed IPv6, names")
    func socketAddresses() throws {
        let v4 = try parsedAddress("127.0.0.1:8080", requireIP: true, allowPortZero: true)
        #expect(v4.host == "127.0.0.1")
        #expect(v4.port == 8080)
        #expect(v4.description == "127.0.0.1:8080")
        let v6 = try parsedAddress("[::1]:8080", requireIP: true, allowPortZero: true)
        #expect(v6.host == "::1")
        #expect(v6.description == "[::1]:8080")
        #expect(v6.isIPLiteral)
        let ephemeral = try parsedAddress("127.0.0.1:0", requireIP: true, allowPortZero: true)
        #expect(ephemeral.port == 0)
        let name = try parsedAddress("app-1.internal:65535", requireIP: false, allowPortZero: false)
        #expect(name.host == "app-1.internal")
        #expect(name.port == 65535)
        #expect(!name.isIPLiteral)
    }

    @Test(
        "bad socket addresses",
        arguments: [
            ("127.0.0.1", true, "\"127.0.0.1\": missing port; write host:port, e.g. 127.0.0.1:8080"),
            (":8080", true, "\":8080\": missing host; use 0.0.0.0 (all IPv4) or [::] (all IPv6) to listen everywhere"),
            ("::1:8080", true, "\"::1:8080\": put an IPv6 address in brackets, e.g. [::1]:8080"),
            ("[::1]8080", true, "\"[::1]8080\": expected \":port\" after \"]\""),
            ("[::1:8080", true, "\"[::1:8080\": missing \"]\" after the IPv6 address"),
            ("[1.2.3.4]:80", true, "\"1.2.3.4\" is not an IPv6 address"),
            ("127.0.0.1:65536", true, "\"127.0.0.1:65536\": the port must be a number from 0 to 65535"),
            ("127.0.0.1:http", true, "\"127.0.0.1:http\": the port must be a number from 0 to 65535"),
            ("127.0.0.1:", true, "\"127.0.0.1:\": the port must be a number from 0 to 65535"),
            ("300.0.0.1:80", true, "\"300.0.0.1:80\": \"300.0.0.1\" is not an IPv4 address"),
            (
                "localhost:80", true,
                "\"localhost:80\": a listen address needs an IP address (e.g. 127.0.0.1 or [::1]), "
                    + "not the name \"localhost\""
            ),
            ("127.0.0.1:0", false, "\"127.0.0.1:0\": port 0 is not a valid server port"),
            ("bad_-.name:80", false, "\"bad_-.name:80\": \"bad_-.name\" is not a valid host name"),
            (
                "a..b:80", false,
                "\"a..b:80\": \"a..b\" has an empty label (check for \"..\" or a leading or trailing dot)"
            ),
            (
                "app.:80", false,
                "\"app.:80\": \"app.\" has an empty label (check for \"..\" or a leading or trailing dot)"
            ),
            ("-app:80", false, "\"-app:80\": \"-app\" is not a valid host name"),
        ])
    func badSocketAddresses(text: String, listen: Bool, reason: String) {
        guard case .invalid(let message) = SocketAddressSpec.parse(text, requireIP: listen, allowPortZero: listen)
        else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(message == reason)
    }

    private func parsedCIDR(_ text: String) throws -> CIDRSpec {
        guard case .parsed(let value) = CIDRSpec.parse(text) else {
            throw ParseFailure(text: text)
        }
        return value
    }

    private func parsedAddress(_ text: String, requireIP: Bool, allowPortZero: Bool) throws -> SocketAddressSpec {
        guard
            case .parsed(let value) = SocketAddressSpec.parse(text, requireIP: requireIP, allowPortZero: allowPortZero)
        else { throw ParseFailure(text: text) }
        return value
    }
}

/// Thrown by the test helpers when a value that should parse does not.
struct ParseFailure: Error {
    let text: String
}
