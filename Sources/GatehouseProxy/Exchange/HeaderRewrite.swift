import GatehouseAuth
import GatehouseHTTP

/// Re-serialises heads across the gateway: the request toward the upstream and the response toward the
/// client. Never passes raw bytes through: every field is checked against the hop-by-hop rules, then
/// written back one by one, then the gateway's own fields are added.
///
/// Order of work (SECURITY.md): drop hop-by-hop fields and every field `Connection` names; drop framing
/// fields (the gateway writes its own); then add what the gateway injects, so a client can never remove
/// an injected field by naming it in `Connection`.
enum HeaderRewrite {
    /// Fields that describe one connection and never cross the proxy (RFC 9110 7.6.1), plus the framing
    /// and forwarding fields the gateway rewrites itself.
    static func isHopByHop(_ fields: HeaderFields, _ index: Int) -> Bool {
        let name = fields.fields[index].name
        switch name.count {
        case 2: return fields.bytesEqualIgnoringCase(name, "te")
        case 4: return fields.bytesEqualIgnoringCase(name, "host")
        case 6: return fields.bytesEqualIgnoringCase(name, "expect")
        case 7: return fields.bytesEqualIgnoringCase(name, "trailer") || fields.bytesEqualIgnoringCase(name, "upgrade")
        case 10: return fields.bytesEqualIgnoringCase(name, "connection") || fields.bytesEqualIgnoringCase(name, "keep-alive")
        // HTTP2-Settings belongs to an h2c upgrade, which never crosses (see `upgradesToWebSocket`).
        case 14: return fields.bytesEqualIgnoringCase(name, "content-length") || fields.bytesEqualIgnoringCase(name, "http2-settings")
        case 16: return fields.bytesEqualIgnoringCase(name, "proxy-connection")
        case 17: return fields.bytesEqualIgnoringCase(name, "transfer-encoding")
        case 18: return fields.bytesEqualIgnoringCase(name, "proxy-authenticate")
        case 19: return fields.bytesEqualIgnoringCase(name, "proxy-authorization")
        default: return false
        }
    }

    /// What the gateway does with a request field that tells where the request came from or what it
    /// originally asked for: such a field is only believed from a trusted proxy (`trusted_proxies`).
    enum ForwardingField {
        /// `X-Forwarded-For`, `-Proto`, `-Host`: a trusted proxy's value is kept (and extended), anyone
        /// else's is replaced by the gateway's.
        case forwardedFor, forwardedProto, forwardedHost
        /// `X-Real-IP`: always the gateway's (the client address, resolved through trusted proxies).
        case realIP
        /// Kept from a trusted proxy, removed from anyone else: client-IP claims (`Forwarded`,
        /// `True-Client-IP`, `CF-Connecting-IP`, ...) and scheme/port/prefix claims (`X-Forwarded-Ssl`, ...)
        /// that applications believe.
        case trustedOnly
        /// Never forwarded, even from a trusted proxy: they make an upstream serve another URL or method than
        /// the one the gateway routed and authorised (IIS URL Rewrite consumers, Symfony's old
        /// `X-Original-URL` support, CVE-2018-14773).
        case neverForwarded
    }

    /// The forwarding role of field `index`, if it has one. Names compare ignoring case with `_` read as `-`
    /// (CGI, WSGI and PHP fold `X_Real_IP` into `HTTP_X_REAL_IP` as they fold `X-Real-IP`); the caller drops
    /// the `_` spellings outright rather than believe them.
    static func forwardingField(_ fields: HeaderFields, _ index: Int) -> ForwardingField? {
        let name = fields.fields[index].name
        func named(_ lowercase: StaticString) -> Bool { foldedNameEquals(fields, name, lowercase) }
        switch name.count {
        case 9:
            if named("x-real-ip") { return .realIP }
            return named("forwarded") ? .trustedOnly : nil
        case 11: return named("x-client-ip") ? .trustedOnly : nil
        case 12: return named("x-url-scheme") ? .trustedOnly : nil
        case 13: return named("x-rewrite-url") ? .neverForwarded : nil
        case 14:
            if named("true-client-ip") { return .trustedOnly }
            return named("x-original-url") || named("x-original-uri") ? .neverForwarded : nil
        case 15:
            if named("x-forwarded-for") { return .forwardedFor }
            if named("x-forwarded-uri") || named("x-forwarded-ssl") || named("front-end-https") { return .trustedOnly }
            return nil
        case 16:
            if named("x-forwarded-host") { return .forwardedHost }
            if named("cf-connecting-ip") || named("fastly-client-ip") || named("x-forwarded-port") {
                return .trustedOnly
            }
            return nil
        case 17:
            if named("x-forwarded-proto") { return .forwardedProto }
            return named("x-original-method") ? .neverForwarded : nil
        case 18:
            return named("x-forwarded-prefix") || named("x-forwarded-scheme") || named("x-forwarded-server")
                || named("x-forwarded-method") ? .trustedOnly : nil
        case 19: return named("x-cluster-client-ip") ? .trustedOnly : nil
        default: return nil
        }
    }

    /// Hop-by-hop names that contain a `-`, for their `_` spellings (`Proxy_Authorization`): a CGI-style
    /// upstream reads those as the real field. (`Content_Length` and `Transfer_Encoding` never get here: the
    /// parser refuses them.)
    static func isHopByHopSpelling(_ fields: HeaderFields, _ index: Int) -> Bool {
        let name = fields.fields[index].name
        for candidate: StaticString in ["keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                                        "http2-settings"]
        where foldedNameEquals(fields, name, candidate) {
            return true
        }
        return false
    }

    /// True when the name in `range` equals `lowercase` ignoring case, with `_` read as `-`.
    static func foldedNameEquals(_ fields: HeaderFields, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { want in
            var i = 0
            for b in fields.storage[range] {
                let folded = b == UInt8(ascii: "_") ? UInt8(ascii: "-") : asciiLower(b)
                if folded != want[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// True when the field's name holds a `_` (checked only for heads where the parser saw one).
    static func hasUnderscore(_ fields: HeaderFields, _ index: Int) -> Bool {
        fields.storage[fields.fields[index].name].contains(UInt8(ascii: "_"))
    }

    /// True when the field's name starts with one of `prefixes` (lowercase, `-` separated), ignoring case
    /// and treating `_` as `-`: several legacy stacks read `X_Auth_User` as `X-Auth-User`, so a client must
    /// not be able to smuggle an identity header through either spelling.
    static func hasStrippedPrefix(_ fields: HeaderFields, _ index: Int, prefixes: [[UInt8]]) -> Bool {
        let name = fields.fields[index].name
        for prefix in prefixes where name.count >= prefix.count {
            if startsWithFolded(fields.storage, name, prefix) { return true }
        }
        return false
    }

    /// True when `storage[name]` starts with `lowercase`, ignoring case and reading `_` as `-`.
    private static func startsWithFolded(_ storage: [UInt8], _ name: Range<Int>, _ lowercase: [UInt8]) -> Bool {
        for k in 0..<lowercase.count {
            var b = asciiLower(storage[name.lowerBound + k])
            if b == UInt8(ascii: "_") { b = UInt8(ascii: "-") }
            if b != lowercase[k] { return false }
        }
        return true
    }

    /// True when the field's name is one of the tokens listed in `Connection`.
    static func isNamedByConnection(_ fields: HeaderFields, _ index: Int, tokens: ConnectionTokens) -> Bool {
        guard !tokens.isEmpty else { return false }
        let name = fields.fields[index].name
        return fields.storage.withUnsafeBufferPointer { storage in
            for t in 0..<tokens.count {
                let token = tokens[t]
                guard token.count == name.count else { continue }
                var equal = true
                for k in 0..<name.count
                where asciiLower(storage[name.lowerBound + k]) != asciiLower(storage[token.lowerBound + k]) {
                    equal = false
                    break
                }
                if equal { return true }
            }
            return false
        }
    }

    /// Writes the request head that goes to the upstream into `out`.
    static func writeRequest(_ head: RequestHead, host: UnsafeRawBufferPointer, peer: PeerInfo,
                             snapshot: ProxySnapshot, policy: RoutePolicy, identity: Identity?,
                             framing: BodyFraming, upgrade: Bool, assertion: [UInt8]? = nil,
                             sharedSecret: [UInt8]? = nil, into out: inout [UInt8]) {
        let keepForwarded = peer.trusted
        let bytes = head.bytes
        out.append(contentsOf: bytes[head.methodRange])
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.normalizedPath)
        out.append(contentsOf: bytes[head.queryRange])
        append(" HTTP/1.1\r\nHost: ", to: &out)
        out.append(contentsOf: host)
        append("\r\n", to: &out)
        let fields = head.headers
        var priorForwardedFor: Range<Int>? = nil
        var forwardedProto: Range<Int>? = nil
        var forwardedHost: Range<Int>? = nil
        var upgradeValue: Range<Int>? = nil
        for index in fields.fields.indices {
            let field = fields.fields[index]
            if isHopByHop(fields, index) {
                if upgrade, fields.nameEquals(index, "upgrade") { upgradeValue = field.value }
                continue
            }
            if head.hasUnderscoreNames, hasUnderscore(fields, index) {
                // nginx's `underscores_in_headers off`: backends that fold `_` into `-` would read these as
                // another field. Forwarded only when configured, and never in the spelling of a hop-by-hop or
                // forwarding field: a trusted proxy passes `X_Forwarded_For` on as it came from the client.
                if !snapshot.forwardsUnderscoreHeaders || isHopByHopSpelling(fields, index)
                    || forwardingField(fields, index) != nil
                {
                    continue
                }
            }
            if !head.connectionTokens.isEmpty, isNamedByConnection(fields, index, tokens: head.connectionTokens) {
                continue
            }
            if hasStrippedPrefix(fields, index, prefixes: snapshot.strippedHeaderPrefixes)
                || hasStrippedName(fields, index, names: snapshot.strippedHeaderNames)
            {
                continue
            }
            if fields.nameEquals(index, "authorization"), policy.dropsClientAuthorization {
                continue
            }
            if policy.stripsCredentialCookies, !policy.credentialCookies.isEmpty, fields.nameEquals(index, "cookie") {
                writeCookie(fields, index, removing: policy.credentialCookies, into: &out)
                continue
            }
            if let role = forwardingField(fields, index) {
                switch role {
                case .neverForwarded, .realIP: continue
                case .trustedOnly: guard keepForwarded else { continue }
                case .forwardedFor:
                    // Several XFF lines: the last one wins (combined below).
                    if keepForwarded { priorForwardedFor = field.value }
                    continue
                case .forwardedProto:
                    if keepForwarded { forwardedProto = field.value }
                    continue
                case .forwardedHost:
                    if keepForwarded { forwardedHost = field.value }
                    continue
                }
            }
            appendField(fields, field, to: &out)
        }
        appendFraming(framing, to: &out)
        append("X-Forwarded-For: ", to: &out)
        if let prior = priorForwardedFor {
            out.append(contentsOf: fields.storage[prior])
            append(", ", to: &out)
        }
        out.append(contentsOf: peer.hostBytes)
        append("\r\nX-Forwarded-Proto: ", to: &out)
        if let proto = forwardedProto {
            out.append(contentsOf: fields.storage[proto])
        } else if peer.tls {
            append("https", to: &out)
        } else {
            append("http", to: &out)
        }
        append("\r\nX-Forwarded-Host: ", to: &out)
        if let fwdHost = forwardedHost { out.append(contentsOf: fields.storage[fwdHost]) } else { out.append(contentsOf: host) }
        // As nginx users set it (`proxy_set_header X-Real-IP $remote_addr` behind the realip module).
        append("\r\nX-Real-IP: ", to: &out)
        if let client = ClientAddress.resolve(forwardedFor: priorForwardedFor, in: fields.storage, snapshot: snapshot) {
            out.append(contentsOf: fields.storage[client])
        } else {
            out.append(contentsOf: peer.hostBytes)
        }
        append("\r\n", to: &out)
        if let identity {
            for template in policy.identityHeaders { template.render(identity, into: &out) }
            if let inject = policy.injectBasic { appendBasic(inject, identity, into: &out) }
        }
        // Whole `Name: value\r\n` lines the gateway made (a signed assertion, the upstream's shared secret).
        if let assertion { out.append(contentsOf: assertion) }
        if let sharedSecret { out.append(contentsOf: sharedSecret) }
        if upgrade, let value = upgradeValue {
            append("Connection: upgrade\r\nUpgrade: ", to: &out)
            out.append(contentsOf: fields.storage[value])
            append("\r\n", to: &out)
        }
        append("\r\n", to: &out)
    }

    /// `Authorization: Basic base64(user:secret)`, the user rendered from `identity` by the route's template. Not
    /// sent when the template's claim is missing or the rendered name holds a `:` (RFC 7617: the upstream would
    /// cut the name there); the upstream then sees no credential and refuses.
    static func appendBasic(_ inject: BasicInjection, _ identity: Identity, into out: inout [UInt8]) {
        var pair: [UInt8] = []
        pair.reserveCapacity(64)
        inject.username.render(identity, into: &pair)  // ": name\r\n" (the template's name is empty)
        guard pair.count > 4 else { return }
        pair.removeLast(2)
        pair.removeFirst(2)
        guard !pair.contains(UInt8(ascii: ":")) else { return }
        pair.append(contentsOf: inject.colonAndPassword)
        append("Authorization: Basic ", to: &out)
        CredentialExtractor.encodeBase64(pair, into: &out)
        append("\r\n", to: &out)
    }

    /// True when the field's name is exactly one of `names` (lowercase, `-`), `_` read as `-`.
    static func hasStrippedName(_ fields: HeaderFields, _ index: Int, names: [[UInt8]]) -> Bool {
        let name = fields.fields[index].name
        for candidate in names where candidate.count == name.count {
            if startsWithFolded(fields.storage, name, candidate) { return true }
        }
        return false
    }

    /// Writes a `Cookie` field without the credential cookies (the upstream has no use for the gateway's
    /// tokens); drops the field when nothing is left.
    static func writeCookie(_ fields: HeaderFields, _ index: Int, removing names: [[UInt8]], into out: inout [UInt8]) {
        let field = fields.fields[index]
        let start = out.count
        out.append(contentsOf: fields.storage[field.name])
        append(": ", to: &out)
        let valueStart = out.count
        var rest = fields.storage[field.value]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
            var pair = rest[..<end]
            rest = end < rest.endIndex ? rest[(end + 1)...] : rest[rest.endIndex...]
            while pair.first == UInt8(ascii: " ") { pair = pair.dropFirst() }
            if pair.isEmpty { continue }
            let nameEnd = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            if names.contains(where: { $0.elementsEqual(pair[..<nameEnd]) }) { continue }
            if out.count > valueStart { append("; ", to: &out) }
            out.append(contentsOf: pair)
        }
        if out.count == valueStart {
            out.removeSubrange(start...)
        } else {
            append("\r\n", to: &out)
        }
    }

    /// True when every `Upgrade` field says exactly `websocket` (and there is one): the only protocol the gateway
    /// tunnels. A list (`websocket, h2c`) is not taken apart: the client gets plain HTTP/1.1 instead.
    static func upgradesToWebSocket(_ fields: HeaderFields) -> Bool {
        var seen = false
        for index in fields.fields.indices where fields.nameEquals(index, "upgrade") {
            let value = fields.fields[index].value
            guard fields.bytesEqualIgnoringCase(value, "websocket") else { return false }
            seen = true
        }
        return seen
    }

    /// Writes the response head that goes to the client into `out`.
    /// - Parameters:
    ///   - clientFraming: the framing the client will see (`.chunked` when the upstream's body is chunked or runs
    ///     until close and the client speaks 1.1; `.untilClose` for an HTTP/1.0 client then). `Trailer` is kept
    ///     only with `.chunked`: the trailers it announces are forwarded only then.
    ///   - close: add `Connection: close`.
    static func writeResponse(_ head: ResponseHead, clientFraming: BodyFraming, close: Bool, upgrade: Bool,
                              into out: inout [UInt8]) {
        let bytes = head.bytes
        let reason = head.reasonRange
        if head.version == .http11, reason.lowerBound == 13, reason.upperBound + 1 < bytes.count,
            bytes[reason.upperBound + 1] == 10
        {
            // `HTTP/1.1 NNN reason` CRLF as received (the parser checked every byte of it): copied as it is.
            out.append(contentsOf: bytes[0..<(reason.upperBound + 2)])
        } else {
            append("HTTP/1.1 ", to: &out)
            appendDecimal(Int64(head.status), to: &out)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: bytes[reason])
            append("\r\n", to: &out)
        }
        let fields = head.headers
        var upgradeValue: Range<Int>? = nil
        for index in fields.fields.indices {
            let field = fields.fields[index]
            if isHopByHop(fields, index) {
                if upgrade, fields.nameEquals(index, "upgrade") { upgradeValue = field.value }
                // A HEAD/304 response keeps the Content-Length the upstream declared.
                if case .none = clientFraming, fields.nameEquals(index, "content-length"), head.status != 204,
                    head.status >= 200
                {
                    appendField(fields, field, to: &out)
                }
                if case .chunked = clientFraming, fields.nameEquals(index, "trailer") { appendField(fields, field, to: &out) }
                continue
            }
            if !head.connectionTokens.isEmpty, isNamedByConnection(fields, index, tokens: head.connectionTokens) {
                continue
            }
            appendField(fields, field, to: &out)
        }
        appendFraming(clientFraming, to: &out)
        if upgrade, let value = upgradeValue {
            append("Connection: upgrade\r\nUpgrade: ", to: &out)
            out.append(contentsOf: fields.storage[value])
            append("\r\n", to: &out)
        } else if close {
            append("Connection: close\r\n", to: &out)
        }
        append("\r\n", to: &out)
    }

    /// Whether trailer field `index` crosses the gateway (already validated by the parser): never a hop-by-hop
    /// field, and for requests (`snapshot` given) never an identity field or a credential. The chunk framing
    /// around the kept fields is `ChunkEncoder`'s.
    static func forwardsTrailer(_ trailers: HeaderFields, _ index: Int, strippedBy snapshot: ProxySnapshot?) -> Bool {
        if isHopByHop(trailers, index) { return false }
        guard let snapshot else { return true }
        // Request trailers pass the same identity stripping as headers: a trailer is a header too for
        // some upstream stacks.
        if hasStrippedPrefix(trailers, index, prefixes: snapshot.strippedHeaderPrefixes)
            || hasStrippedName(trailers, index, names: snapshot.strippedHeaderNames)
        {
            return false
        }
        // Credentials never cross in request trailers (RFC 9110 6.5.1 keeps authentication and request
        // modifiers out of trailers): the gateway judged the header section, and a bearer token sent as an
        // `Authorization` trailer would otherwise reach the upstream despite `forward_authorization: false`
        // (and a token cookie despite `strip_credential_cookies`).
        if trailers.nameEquals(index, "authorization") || trailers.nameEquals(index, "cookie") { return false }
        // `underscores_in_headers` applies to request trailers as to headers (a backend that folds `_` into
        // `-` reads a trailer as a header too); hop-by-hop spellings never cross.
        if hasUnderscore(trailers, index), !snapshot.forwardsUnderscoreHeaders || isHopByHopSpelling(trailers, index) {
            return false
        }
        return true
    }

    /// Writes one field as received: `Name: value` CRLF.
    ///
    /// A field that arrived spelled exactly so (one space after the colon, no trailing whitespace) is copied as
    /// one run of bytes, which are then the same bytes the four pieces would make: most fields arrive so, and
    /// one copy instead of four is a tenth of the rewrite's cost.
    static func appendField(_ fields: HeaderFields, _ field: HeaderFields.Field, to out: inout [UInt8]) {
        let storage = fields.storage
        let colon = field.name.upperBound
        let lineEnd = field.value.upperBound
        if field.value.lowerBound == colon + 2, lineEnd + 1 < storage.count, storage[colon] == UInt8(ascii: ":"),
            storage[colon + 1] == UInt8(ascii: " "), storage[lineEnd] == 13, storage[lineEnd + 1] == 10
        {
            out.append(contentsOf: storage[field.name.lowerBound..<(lineEnd + 2)])
            return
        }
        out.append(contentsOf: fields.storage[field.name])
        append(": ", to: &out)
        out.append(contentsOf: fields.storage[field.value])
        append("\r\n", to: &out)
    }

    /// Writes the gateway's own framing field for a body: Content-Length or Transfer-Encoding, or nothing.
    static func appendFraming(_ framing: BodyFraming, to out: inout [UInt8]) {
        switch framing {
        case .length(let n):
            append("Content-Length: ", to: &out)
            appendDecimal(n, to: &out)
            append("\r\n", to: &out)
        case .chunked:
            append("Transfer-Encoding: chunked\r\n", to: &out)
        case .none, .untilClose:
            break
        }
    }

    static func append(_ text: StaticString, to out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[count] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }
}
