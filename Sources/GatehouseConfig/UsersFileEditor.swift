import Foundation
import Yams

/// Reads the account names of a users file, and sets one scalar key of one account (`gatehouse totp enroll
/// --write`), touching nothing else: the text is edited, not re-serialised, so comments, order and quoting stay.
///
/// Safe by construction rather than by a YAML writer: the edit is one line (the key's line replaced, or a new
/// line inserted after the account's name), and the edited text is parsed again and must be the same document
/// with only that key changed; anything else (a flow-style account, a multi-line value, anchors that moved) is
/// refused with "edit the file by hand". The file is replaced atomically (a temporary file in the same directory,
/// with the original's mode and owner, fsynced, then renamed over it), so the gateway never reads half a file.
package enum UsersFileEditor {
    /// Why an edit was refused or failed.
    package struct EditError: Error, CustomStringConvertible {
        package let description: String
    }

    /// The account names in `path`, in file order (the file is not otherwise validated).
    /// - Throws: ``EditError`` when the file cannot be read or has no `users` mapping.
    package static func userNames(path: String) throws(EditError) -> [String] {
        let (_, users) = try parse(try read(path), path: path)
        return users.keys.compactMap(\.string)
    }

    /// `text` with `users.<user>.<key>` set to the plain scalar `value`.
    /// - Throws: ``EditError`` when the user is missing, the account is not a block mapping, or the result would
    ///   differ from the original in anything but that key.
    package static func setting(_ key: String, to value: String, user: String, in text: String, path: String)
        throws(EditError) -> String
    {
        let byHand = "; edit \(path) by hand"
        let (root, users) = try parse(text, path: path)
        guard let userKey = users.keys.first(where: { $0.string == user }), let account = users[userKey] else {
            throw EditError(description: "\(path) has no user \"\(user)\"")
        }
        // Yams's composer leaves `style` at `.any`, so block style is told by the marks: the first key on a line
        // after the name. A flow mapping spread over lines passes this and fails the re-parse check below.
        guard case .mapping(let fields) = account, let userLine = userKey.mark?.line,
            let firstKey = fields.keys.first, let firstMark = firstKey.mark, firstMark.line > userLine
        else {
            throw EditError(description: "users.\(user) is not a block mapping with its keys on their own lines"
                + byHand)
        }
        let newline = text.contains("\r\n") ? "\r\n" : "\n"
        var lines = text.components(separatedBy: newline)
        let indent = String(repeating: " ", count: firstMark.column - 1)
        let replacement = indent + key + ": " + value
        if let existing = fields.keys.first(where: { $0.string == key }), let line = existing.mark?.line {
            lines[line - 1] = replacement
        } else {
            lines.insert(replacement, at: userLine)
        }
        let edited = lines.joined(separator: newline)
        // The check that makes a line edit safe: the same document, but for this one key.
        let (newRoot, newUsers) = try parse(edited, path: path)
        guard case .mapping(let newFields)? = newUsers[userKey], newFields[key]?.string == value,
            without(key, user: user, root) == without(key, user: user, newRoot)
        else {
            throw EditError(description: "setting users.\(user).\(key) would change more than that line" + byHand)
        }
        return edited
    }

    /// What ``set(_:to:user:path:)`` wrote.
    package struct Written: Sendable, Equatable {
        /// The file replaced (symbolic links followed, so a link stays a link).
        package let path: String
        /// Whether every local user may read it (mode o+r), now that it holds a secret.
        package let othersCanRead: Bool
    }

    /// Sets `users.<user>.<key>` in the file at `path` and replaces the file atomically.
    /// - Throws: ``EditError`` as ``setting(_:to:user:in:path:)`` does, or when the file cannot be written.
    @discardableResult
    package static func set(_ key: String, to value: String, user: String, path: String) throws(EditError) -> Written
    {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        // Two enrolments at once would each read the old file and the later rename would drop the earlier edit:
        // read-edit-rename runs under an exclusive flock on the directory (the file's inode changes with each
        // rename, the directory's does not). Only other `--write`s take it; an editor does not.
        let directory = target.lastIndex(of: "/").map { String(target[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 }
        let lockFD = open(directory ?? ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard lockFD >= 0 else { throw EditError(description: "\(directory ?? "."): \(lastError())") }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw EditError(description: "\(directory ?? "."): lock: \(lastError())") }
        }
        let edited = try setting(key, to: value, user: user, in: try read(target), path: path)
        let mode = try replaceAtomically(target, with: Array(edited.utf8))
        return Written(path: target, othersCanRead: mode & 0o004 != 0)
    }

    // MARK: Reading

    private static func read(_ path: String) throws(EditError) -> String {
        switch ConfigLoader.readFile(path) {
        case .parsed(let text): return text
        case .invalid(let reason): throw EditError(description: reason)
        }
    }

    /// The document and its `users` mapping.
    private static func parse(_ text: String, path: String) throws(EditError) -> (Node, Node.Mapping) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw EditError(description: "\(path): not valid YAML: \(error)")
        }
        guard let root, case .mapping(let top) = root, case .mapping(let users)? = top["users"] else {
            throw EditError(description: "\(path): expected a \"users\" mapping of user name to account")
        }
        return (root, users)
    }

    /// `root` with `users.<user>.<key>` removed, for comparing two versions of a file.
    private static func without(_ key: String, user: String, _ root: Node) -> Node {
        guard case .mapping(var top) = root, case .mapping(var users)? = top["users"],
            let userKey = users.keys.first(where: { $0.string == user }), case .mapping(let fields)? = users[userKey]
        else { return root }
        let kept = fields.filter { $0.key.string != key }.map { ($0.key, $0.value) }
        users[userKey] = .mapping(Node.Mapping(kept, fields.tag, fields.style, fields.mark))
        top["users"] = .mapping(users)
        return .mapping(top)
    }

    // MARK: Writing

    /// Writes `bytes` to a new file beside `path` with `path`'s mode (and owner, when allowed), fsyncs it, renames
    /// it over `path`, and fsyncs the directory.
    /// - Returns: the file's mode (kept from the original).
    private static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(EditError) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw EditError(description: "\(path): \(lastError())") }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).gatehouse-\(getpid())"
        // 0600 until the mode is copied: the file holds password hashes and now a shared secret.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EditError(description: "\(temporary): \(lastError())") }
        var failure: String?
        if fchmod(fd, status.st_mode & 0o7777) != 0 { failure = "chmod: \(lastError())" }
        // Keeping the owner needs privilege; an unprivileged edit of one's own file needs none.
        if failure == nil, status.st_uid != geteuid() || status.st_gid != getegid(),
            fchown(fd, status.st_uid, status.st_gid) != 0
        {
            failure = "chown: \(lastError())"
        }
        var written = 0
        while failure == nil, written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = "write: \(lastError())"
            } else {
                written += count
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "fsync: \(lastError())" }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = "rename: \(lastError())" }
        if let failure {
            unlink(temporary)
            throw EditError(description: "\(path): not changed: \(failure)")
        }
        let directoryFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
        return status.st_mode & 0o7777
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
