import Foundation
import GatehouseTestSupport
import Testing

/// Whether an external tool is installed (the tests that need one are skipped without it).
private func toolExists(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

/// The deployment files in deploy/: the configs they ship load (`gatehouse check-config`), the systemd units
/// pass `systemd-analyze verify`, the upgrade unit stays the main unit's twin, and the container image installs
/// every Debian library the binary links. deploy/check.py runs the same checks and more (compose structure,
/// hadolint) by hand; these keep the files honest as the product changes.
@Suite("Deployment files")
struct DeployFilesTests {
    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// A fresh temporary directory.
    static func scratch(_ label: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-deploy-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Writes `config` (a deploy config's text) into a temporary tree that mirrors the deployment layout:
    /// /etc/gatehouse, /var/lib/gatehouse and /var/log/gatehouse become directories under it, Config/users.yaml
    /// is copied as etc/gatehouse/users.yaml, and `hosts` (compose service names, which resolve only inside
    /// their network; the gateway resolves upstream host names when it loads a file) read as 127.0.0.1.
    /// - Returns: the path of the rewritten config.
    static func hermeticCopy(of config: String, label: String, hosts: [String] = []) throws -> String {
        let base = try scratch(label)
        for directory in ["etc/gatehouse", "var/lib/gatehouse", "var/log/gatehouse"] {
            try FileManager.default.createDirectory(at: base.appendingPathComponent(directory),
                                                    withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: root.appendingPathComponent("Config/users.yaml"),
                                         to: base.appendingPathComponent("etc/gatehouse/users.yaml"))
        var text = config
        for prefix in ["/etc/gatehouse/", "/var/lib/gatehouse/", "/var/log/gatehouse/"] {
            text = text.replacingOccurrences(of: prefix, with: base.path + prefix)
        }
        for host in hosts {
            // "echo:9000" as a list element, not the key `redis:` nor the URL redis://redis:6379.
            let address = try Regex("([\"\\[ ,])\(NSRegularExpression.escapedPattern(for: host)):([0-9]+)")
            text = text.replacing(address) { match in
                "\(match.output[1].substring ?? "")127.0.0.1:\(match.output[2].substring ?? "")"
            }
        }
        let path = base.appendingPathComponent("etc/gatehouse/gatehouse.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `check-config` on `path` and expects both the users file and the config to be ok.
    static func expectConfigLoads(_ path: String, _ what: String) throws {
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status == 0, "\(what): \(result.stderr)")
        #expect(result.stdout.contains("\(path): ok"), "\(what): \(result.stdout)")
        #expect(result.stdout.contains("users.yaml: ok"), "\(what): \(result.stdout)")
    }

    /// Runs an external tool to completion; stdout and stderr together.
    static func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A unit file's settings as (section, key, value), comments and blank lines dropped.
    static func unitEntries(_ text: String) -> [[String]] {
        var section = ""
        var entries: [[String]] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                section = line
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            entries.append([section, String(parts[0]), parts.count > 1 ? String(parts[1]) : ""])
        }
        return entries
    }

    // MARK: Configs

    @Test("deploy/systemd/gatehouse.yaml loads, with its /etc and /var paths in a temporary tree")
    func systemdConfigLoads() throws {
        let config = try Self.read("deploy/systemd/gatehouse.yaml")
        #expect(config.contains("users_file: /etc/gatehouse/users.yaml"))
        #expect(config.contains("path: /var/lib/gatehouse/sessions.sqlite"))
        #expect(config.contains("listen: \"127.0.0.1:9901\""))
        try Self.expectConfigLoads(try Self.hermeticCopy(of: config, label: "systemd"), "deploy/systemd/gatehouse.yaml")
    }

    @Test("the handover unit's copy of the systemd config (admin moved to 127.0.0.1:9902) loads")
    func handoverConfigLoads() throws {
        let unit = try Self.read("deploy/systemd/gatehouse-handover.service")
        // The unit rewrites the config with exactly this sed expression; the test applies the same change.
        #expect(unit.contains("sed \"s/127.0.0.1:9901/127.0.0.1:9902/\" /etc/gatehouse/gatehouse.yaml"))
        let config = try Self.read("deploy/systemd/gatehouse.yaml")
            .replacingOccurrences(of: "127.0.0.1:9901", with: "127.0.0.1:9902")
        #expect(config.contains("listen: \"127.0.0.1:9902\""))
        try Self.expectConfigLoads(try Self.hermeticCopy(of: config, label: "handover"), "handover config")
    }

    @Test("deploy/compose/gatehouse.yaml (the Redis session store) loads")
    func composeConfigLoads() throws {
        let config = try Self.read("deploy/compose/gatehouse.yaml")
        #expect(config.contains("store: redis"))
        #expect(config.contains("url: \"redis://redis:6379/0\""))
        let path = try Self.hermeticCopy(of: config, label: "compose",
                                         hosts: ["echo", "redis", "gateway-a", "gateway-b"])
        try Self.expectConfigLoads(path, "deploy/compose/gatehouse.yaml")
    }

    // MARK: systemd units

    @Test("gatehouse-handover.service is gatehouse.service but for its config, description and restart policy")
    func handoverUnitIsTheMainUnitsTwin() throws {
        let differing: Set<String> = ["Description", "ExecStartPre", "ExecStart", "Restart", "RestartSec",
                                      "RuntimeDirectory"]
        let keep = { (entry: [String]) in entry[0] != "[Install]" && !differing.contains(entry[1]) }
        let main = Self.unitEntries(try Self.read("deploy/systemd/gatehouse.service")).filter(keep)
        let handover = Self.unitEntries(try Self.read("deploy/systemd/gatehouse-handover.service")).filter(keep)
        #expect(main == handover)
        // The handover instance must run as the same user: SO_REUSEPORT shares a port only between equal UIDs.
        #expect(main.contains(["[Service]", "User", "gatehouse"]))
        #expect(main.contains(["[Service]", "DynamicUser", "yes"]))
    }

    @Test("systemd-analyze verify accepts both units (ExecStart pointing at the test binary)",
          .enabled(if: toolExists("/usr/bin/systemd-analyze")))
    func systemdAnalyzeVerify() throws {
        let directory = try Self.scratch("units")
        for name in ["gatehouse.service", "gatehouse-handover.service"] {
            let unit = try Self.read("deploy/systemd/\(name)")
                .replacingOccurrences(of: "/usr/local/bin/gatehouse", with: GatehouseProcess.binaryPath)
            let path = directory.appendingPathComponent(name).path
            try unit.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try Self.runTool("/usr/bin/systemd-analyze", ["verify", path])
            #expect(result.status == 0, "\(name): \(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(name): \(result.output)")
        }
    }

    // MARK: Container

    /// The packages the Containerfile's runtime (last) stage installs with apt-get.
    static func runtimePackages() throws -> Set<String> {
        let text = try read("deploy/container/Containerfile").replacingOccurrences(of: "\\\n", with: " ")
        let stages = text.components(separatedBy: "\nFROM ")
        guard let runtime = stages.last else { return [] }
        var packages: Set<String> = []
        for line in runtime.split(separator: "\n") where line.contains("apt-get install") {
            let afterInstall = line.components(separatedBy: "apt-get install").last ?? ""
            let segment = afterInstall.components(separatedBy: "&&").first ?? ""
            for word in segment.split(separator: " ") where !word.hasPrefix("-") { packages.insert(String(word)) }
        }
        return packages
    }

    /// `packages` and everything they depend on (Depends and Pre-Depends, every alternative), as this machine's
    /// dpkg knows them: the binary was linked here, so every package that owns one of its libraries is installed.
    static func dependencyClosure(of packages: Set<String>) throws -> Set<String> {
        var closure = packages
        var queue = Array(packages)
        while let package = queue.popLast() {
            let query = try runTool("/usr/bin/dpkg-query", ["-W", "-f=${Depends}, ${Pre-Depends}", package])
            guard query.status == 0 else { continue }
            for alternative in query.output.split(whereSeparator: { $0 == "," || $0 == "|" }) {
                let name = alternative.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ":" }).first
                guard let name, closure.insert(String(name)).inserted else { continue }
                queue.append(String(name))
            }
        }
        return closure
    }

    @Test("the container's runtime stage installs the Debian package of every library the binary links",
          .enabled(if: toolExists("/usr/bin/ldd") && toolExists("/usr/bin/dpkg")))
    func containerRuntimeLibraries() throws {
        let listed = try Self.runtimePackages()
        #expect(listed.contains("curl"), "the health check needs curl")
        // apt-get installs what the listed packages depend on, so their libraries (libcurl4's, say) come too.
        let installed = try Self.dependencyClosure(of: listed)
        let essential: Set<String> = ["libc6", "libgcc-s1"]  // in every debian:bookworm-slim
        let ldd = try Self.runTool("/usr/bin/ldd", [GatehouseProcess.binaryPath])
        #expect(ldd.status == 0, "\(ldd.output)")
        var checked = 0
        for line in ldd.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, fields[1] == "=>", fields[2].hasPrefix("/") else { continue }
            let library = String(fields[2])
            var owner: String?
            for candidate in [library, URL(fileURLWithPath: library).resolvingSymlinksInPath().path] {
                let dpkg = try Self.runTool("/usr/bin/dpkg", ["-S", candidate])
                if dpkg.status == 0, let name = dpkg.output.split(separator: ":").first {
                    owner = String(name)
                    break
                }
            }
            // Libraries no package owns come with the Swift toolchain (a debug build links them dynamically);
            // the image links them statically (--static-swift-stdlib).
            guard let owner else { continue }
            checked += 1
            #expect(installed.contains(owner) || essential.contains(owner),
                    "\(fields[0]) comes from \(owner), which the Containerfile's runtime stage does not install")
        }
        #expect(checked >= 4, "ldd named too few Debian libraries: \(ldd.output)")
    }
}
