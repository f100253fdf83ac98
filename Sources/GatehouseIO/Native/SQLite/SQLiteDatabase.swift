import CSQLite

/// A failed SQLite call: the result code and SQLite's own message.
package struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The (extended) SQLite result code.
    package let code: Int32
    package let message: String

    package init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(message) (SQLite code \(code))" }

    /// Another connection holds the lock the call needed (SQLITE_BUSY or SQLITE_LOCKED), past the busy timeout.
    package var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }

    /// The statement itself is wrong (SQLITE_ERROR: a syntax error, a missing table or column).
    package var isSQLError: Bool { code & 0xff == SQLITE_ERROR }

    /// A failure of the file rather than of one statement (busy or locked, disk full, I/O, read-only): the same
    /// writes may succeed when tried again later.
    package var isEnvironmental: Bool {
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL,
             SQLITE_CANTOPEN, SQLITE_PROTOCOL, SQLITE_NOTADB:
            true
        default:
            false
        }
    }
}

/// A value bound to a statement parameter.
package enum SQLiteValue: Sendable, Equatable {
    case integer(Int64)
    case blob([UInt8])
    case text(String)
    case null
}

/// A thin wrapper over one SQLite connection. This file is the only one in the package that imports CSQLite,
/// so every unsafe pointer the C API needs stays here.
///
/// Not thread-safe by contract: a connection (and its statements) is used by one thread at a time, handed over
/// from one thread to another only when the first is done with it.
package final class SQLiteDatabase {
    /// How to open the file.
    package enum OpenMode: Sendable {
        case readOnly
        case readWrite
        /// Read-write, creating the file when it is missing.
        case readWriteCreate

        var flags: Int32 {
            switch self {
            case .readOnly: SQLITE_OPEN_READONLY
            case .readWrite: SQLITE_OPEN_READWRITE
            case .readWriteCreate: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
            }
        }
    }

    private var connection: OpaquePointer?
    package let path: String

    /// Opens `path`. A busy timeout makes a locked file (another connection mid-write) wait instead of failing.
    /// - Throws: `SQLiteError` when SQLite cannot open the file.
    package init(path: String, mode: OpenMode = .readWriteCreate, busyTimeoutMilliseconds: Int32 = 5_000)
        throws(SQLiteError)
    {
        var opened: OpaquePointer?
        let rc = sqlite3_open_v2(path, &opened, mode.flags | SQLITE_OPEN_EXRESCODE, nil)
        guard rc == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            // A failed open still allocates a handle that must be released.
            sqlite3_close_v2(opened)
            throw SQLiteError(code: rc, message: message)
        }
        self.path = path
        connection = opened
        sqlite3_busy_timeout(opened, busyTimeoutMilliseconds)
    }

    deinit { close() }

    /// Closes the connection (idempotent). Statements still alive are finalized when they are released.
    package func close() {
        guard let connection else { return }
        // _v2: unfinalized statements turn the connection into a zombie freed with the last of them, not an error.
        sqlite3_close_v2(connection)
        self.connection = nil
    }

    /// Runs one or more statements that return no rows (schema, pragmas, BEGIN/COMMIT).
    package func exec(_ sql: String) throws(SQLiteError) {
        let db = try open()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        guard rc == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Compiles one statement for repeated use.
    package func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        let db = try open()
        var compiled: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &compiled, nil)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: lastErrorMessage) }
        guard let compiled else { throw SQLiteError(code: SQLITE_MISUSE, message: "empty SQL statement") }
        return SQLiteStatement(compiled, database: self)
    }

    /// The first column of the first row of `sql` as an integer (`PRAGMA user_version`, `count(*)`); nil
    /// when there is no row.
    package func int64(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        var value: Int64?
        try statement.forEachRow { row in
            if value == nil { value = row.int64(at: 0) }
        }
        return value
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT`, rolling back when it or the commit throws.
    /// IMMEDIATE takes the write lock up front, so a busy file waits at BEGIN rather than failing mid-way.
    package func transaction<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        try exec("BEGIN IMMEDIATE")
        do throws(SQLiteError) {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            // SQLite may already have rolled back by itself (disk full, I/O error); then there is nothing to undo.
            if let connection, sqlite3_get_autocommit(connection) == 0 { try? exec("ROLLBACK") }
            throw error
        }
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    package var changes: Int { connection.map { Int(sqlite3_changes($0)) } ?? 0 }

    fileprivate var lastErrorMessage: String {
        connection.map { String(cString: sqlite3_errmsg($0)) } ?? "database is closed"
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let connection else { throw SQLiteError(code: SQLITE_MISUSE, message: "database is closed") }
        return connection
    }
}

/// One compiled statement. Parameters are numbered from 1 (SQLite's `?1`), columns from 0.
package final class SQLiteStatement {
    private let statement: OpaquePointer
    /// Kept so the connection outlives its statements.
    private let database: SQLiteDatabase

    fileprivate init(_ statement: OpaquePointer, database: SQLiteDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    /// Binds `values` to parameters 1, 2, ... after clearing earlier bindings.
    package func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    /// Binds one parameter.
    package func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        let rc: Int32
        switch value {
        case .integer(let n):
            rc = sqlite3_bind_int64(statement, index, n)
        case .blob(let bytes):
            // An empty array has no base address, and a null pointer would bind NULL instead of an empty blob.
            rc = bytes.isEmpty
                ? sqlite3_bind_zeroblob(statement, index, 0)
                : bytes.withUnsafeBytes { raw in
                    sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), transient)
                }
        case .text(let string):
            rc = sqlite3_bind_text(statement, index, string, Int32(string.utf8.count), transient)
        case .null:
            rc = sqlite3_bind_null(statement, index)
        }
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: database.lastErrorMessage) }
    }

    /// Advances to the next row: true when there is one, false when the statement is done.
    package func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw SQLiteError(code: rc, message: database.lastErrorMessage)
        }
    }

    /// Rewinds the statement so it can run again (bindings stay).
    package func reset() {
        sqlite3_reset(statement)
    }

    /// Binds `values`, runs the statement to completion and rewinds it (INSERT, UPDATE, DELETE).
    package func execute(_ values: SQLiteValue...) throws(SQLiteError) {
        try bind(values)
        defer { reset() }
        while try step() {}
    }

    /// Binds `values` and calls `body` for each result row, then rewinds the statement.
    package func forEachRow(_ values: SQLiteValue..., body: (SQLiteStatement) -> Void) throws(SQLiteError) {
        try bind(values)
        defer { reset() }
        while try step() { body(self) }
    }

    // Column readers for the current row.

    package func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(statement, column) == SQLITE_NULL
    }

    package func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(statement, column)
    }

    package func blob(at column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let start = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    package func text(at column: Int32) -> String {
        // column_text before column_bytes: the byte count is that of the converted text.
        guard let start = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    }
}

/// SQLITE_TRANSIENT (a macro Swift cannot import): SQLite copies the bound bytes before the call returns, so the
/// Swift buffer may go away at once.
private var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }
