import Yams

/// `server.tls`: the listeners that speak HTTPS, and the certificates they present.
///
/// ```yaml
/// server:
///   listen: ["0.0.0.0:80"]
///   tls:
///     listen: ["0.0.0.0:443"]
///     certificates:
///       - { certificate: /etc/gatehouse/app.crt, private_key: /etc/gatehouse/app.key }
///       - { certificate: /etc/gatehouse/api.crt, private_key: /etc/gatehouse/api.key }
/// ```
///
/// The files are read when the configuration is compiled (start-up, reload, `check-config`), not here:
/// each entry keeps its location so that stage can point at it.
package struct TLSSection: Sendable, Equatable {
    /// Addresses that accept TLS connections (IP literals; port 0 = ephemeral); at least one.
    package let listen: [SocketAddressSpec]
    /// The certificates, in file order; at least one. SNI picks the first whose names match the name the
    /// client asks for; a client that asks for no name, or one no certificate has, gets the first.
    package let certificates: [TLSCertificateSection]

    /// Creates a TLS section.
    ///
    /// - Parameters:
    ///   - listen: TLS listen addresses.
    ///   - certificates: The certificates, first = default.
    package init(listen: [SocketAddressSpec], certificates: [TLSCertificateSection]) {
        self.listen = listen
        self.certificates = certificates
    }

    /// The keys `server.tls` accepts.
    static let keys = ["listen", "certificates"]

    /// Reads `server.tls`.
    ///
    /// - Parameters:
    ///   - entry: The `tls` entry of `server` (not null).
    ///   - reader: Collects problems.
    /// - Returns: The section and the node of each listen address (for cross-checks against
    ///   `server.listen`), or `nil` if a problem was reported.
    static func read(_ entry: YAMLEntry, reader: ConfigReader) -> (section: TLSSection, listenNodes: [Node])? {
        guard let fields = reader.fields(
            of: entry.value, path: "server.tls", allowed: keys, near: reader.location(of: entry.keyNode))
        else {
            return nil
        }
        var listen: [SocketAddressSpec]?
        var listenNodes: [Node] = []
        if let node = reader.required(fields, "listen") {
            let path = fields.path("listen")
            listen = reader.socketAddresses(node, path: path, requireIP: true, allowPortZero: true)
            listenNodes = node.sequence.map { Array($0) } ?? [node]
            if let addresses = listen {
                var seen: Set<SocketAddressSpec> = []
                for (index, address) in addresses.enumerated() where !seen.insert(address).inserted {
                    reader.report(
                        .invalidValue, at: listenNodes[index], key: "\(path)[\(index)]", "\(address) is listed twice")
                    listen = nil
                }
            }
        }
        var certificates: [TLSCertificateSection]?
        if let node = reader.required(fields, "certificates") {
            certificates = readCertificates(node, path: fields.path("certificates"), reader: reader)
        }
        guard let listen, let certificates else { return nil }
        return (TLSSection(listen: listen, certificates: certificates), listenNodes)
    }

    private static func readCertificates(_ node: Node, path: String, reader: ConfigReader) -> [TLSCertificateSection]? {
        guard case .sequence(let sequence) = node else {
            reader.report(
                .wrongType, at: node, key: path,
                "expected a list of { certificate: FILE, private_key: FILE } mappings, got \(ConfigReader.describe(node))")
            return nil
        }
        if sequence.count == 0 {
            reader.report(.invalidValue, at: node, key: path, "at least one certificate is required")
            return nil
        }
        var result: [TLSCertificateSection] = []
        var valid = true
        for (index, element) in sequence.enumerated() {
            let elementPath = "\(path)[\(index)]"
            guard let fields = reader.fields(
                of: element, path: elementPath, allowed: TLSCertificateSection.keys, near: reader.location(of: element))
            else {
                valid = false
                continue
            }
            if ConfigReader.isNull(element) {
                reader.report(
                    .missingKey, at: element, key: elementPath, "expected { certificate: FILE, private_key: FILE }")
                valid = false
                continue
            }
            let certificate = reader.required(fields, "certificate").flatMap {
                reader.filePath($0, path: fields.path("certificate"))
            }
            let privateKey = reader.required(fields, "private_key").flatMap {
                reader.filePath($0, path: fields.path("private_key"))
            }
            guard let certificate, let privateKey, let location = reader.location(of: element) else {
                valid = false
                continue
            }
            result.append(TLSCertificateSection(
                certificate: certificate, privateKey: privateKey, location: location, keyPath: elementPath))
        }
        return valid ? result : nil
    }
}

/// One entry of `server.tls.certificates`: a PEM certificate chain and its private key.
package struct TLSCertificateSection: Sendable, Equatable {
    /// The PEM certificate chain (the server's certificate first, then intermediates).
    package let certificate: String
    /// The PEM private key of that certificate (not encrypted).
    package let privateKey: String
    /// Where the entry is, so a file that fails to load is reported against it.
    package let location: SourceLocation
    /// The entry's key path, e.g. `server.tls.certificates[1]`.
    package let keyPath: String

    /// The keys an entry accepts.
    static let keys = ["certificate", "private_key"]

    package init(certificate: String, privateKey: String, location: SourceLocation, keyPath: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.location = location
        self.keyPath = keyPath
    }
}
