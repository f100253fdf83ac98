import GatehouseIO
import Glibc
import XCTest

/// The SQLite wrapper: values in and out, and each kind of failure the session writer tells apart (a busy or
/// locked file it retries; a statement that is wrong).
final class SQLiteDatabaseTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/gatehouse-sqlite-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(cString: try XCTUnwrap(made))
    }

    override func tearDown() {
        for name in ["db", "db-wal", "db-shm", "db-journal"] { unlink("\(directory)/\(name)") }
        rmdir(directory)
    }

    private var path: String { "\(directory)/db" }

    /// The `SQLiteError` that `body` throws; nil when it throws none.
    private func thrown(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> SQLiteError? {
        do {
            try body()
            return nil
        } catch let error as SQLiteError {
            return error
        } catch {
            XCTFail("not an SQLiteError: \(error)", file: file, line: line)
            return nil
        }
    }

    func testValuesRoundTripThroughBindAndColumns() throws {
        let db = try SQLiteDatabase(path: path)
        try db.exec("CREATE TABLE t (i INTEGER, b BLOB, s TEXT, n TEXT)")
        let insert = try db.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4)")
        try insert.execute(.integer(.min), .blob([0, 255, 0]), .text("grüße ✓"), .null)
        try insert.execute(.integer(.max), .blob([]), .text(""), .text("x"))
        XCTAssertEqual(db.changes, 1)
        var rows: [(Int64, [UInt8], String, Bool, Bool)] = []
        try db.prepare("SELECT i, b, s, n FROM t ORDER BY rowid").forEachRow { row in
            rows.append((row.int64(at: 0), row.blob(at: 1), row.text(at: 2), row.isNull(at: 3), row.isNull(at: 1)))
        }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].0, .min)
        XCTAssertEqual(rows[0].1, [0, 255, 0])
        XCTAssertEqual(rows[0].2, "grüße ✓")
        XCTAssertTrue(rows[0].3)
        XCTAssertEqual(rows[1].0, .max)
        XCTAssertEqual(rows[1].1, [])
        XCTAssertFalse(rows[1].4, "an empty blob is bound as a blob, not as NULL")
        XCTAssertFalse(rows[1].3)
        XCTAssertEqual(try db.int64("SELECT count(*) FROM t"), 2)
        XCTAssertNil(try db.int64("SELECT i FROM t WHERE 0"))
    }

    func testBadSQLIsAnErrorOfTheStatementNotOfTheFile() throws {
        let db = try SQLiteDatabase(path: path)
        for sql in ["SELEC 1", "SELECT * FROM missing", "INSERT INTO"] {
            let error = thrown { _ = try db.prepare(sql) }
            XCTAssertEqual(error?.isSQLError, true, "\(sql): \(String(describing: error))")
            XCTAssertEqual(error?.isEnvironmental, false, sql)
            XCTAssertEqual(error?.isBusy, false, sql)
        }
        let exec = thrown { try db.exec("CREATE TABLE t (a); CREATE TABLE t (a)") }
        XCTAssertTrue(exec?.message.contains("already exists") == true, String(describing: exec))
        let empty = thrown { _ = try db.prepare("   ") }
        XCTAssertNotNil(empty, "an empty statement is refused")
    }

    func testAConstraintFailureIsNotEnvironmental() throws {
        let db = try SQLiteDatabase(path: path)
        try db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        let insert = try db.prepare("INSERT INTO t VALUES (?1)")
        try insert.execute(.integer(1))
        let error = thrown { try insert.execute(.integer(1)) }
        XCTAssertEqual(error.map { $0.code & 0xff }, 19, "SQLITE_CONSTRAINT: \(String(describing: error))")
        XCTAssertEqual(error?.isEnvironmental, false)
        // The statement is reset after the failure and runs again.
        try insert.execute(.integer(2))
        XCTAssertEqual(try db.int64("SELECT count(*) FROM t"), 2)
    }

    func testAFileLockedByAnotherConnectionIsBusyAfterTheTimeout() throws {
        let holder = try SQLiteDatabase(path: path)
        try holder.exec("CREATE TABLE t (a)")
        let waiter = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: 50)
        try holder.exec("BEGIN IMMEDIATE")
        let started = Clocks.monotonicNanoseconds()
        let error = thrown { try waiter.transaction { () throws(SQLiteError) in try waiter.exec("INSERT INTO t VALUES (1)") } }
        let waited = Clocks.monotonicNanoseconds() - started
        XCTAssertEqual(error?.isBusy, true, String(describing: error))
        XCTAssertEqual(error?.isEnvironmental, true, "a busy file is retried")
        XCTAssertGreaterThanOrEqual(waited, 40_000_000, "the busy timeout was waited out first")
        try holder.exec("COMMIT")
        // Once the lock is gone the same transaction goes through.
        try waiter.transaction { () throws(SQLiteError) in try waiter.exec("INSERT INTO t VALUES (1)") }
        XCTAssertEqual(try holder.int64("SELECT count(*) FROM t"), 1)
    }

    func testATableInUseByAReadIsLocked() throws {
        let db = try SQLiteDatabase(path: path)
        try db.exec("CREATE TABLE t (a); INSERT INTO t VALUES (1), (2)")
        let read = try db.prepare("SELECT a FROM t")
        try read.bind([])
        XCTAssertTrue(try read.step(), "a read in progress")
        let error = thrown { try db.exec("DROP TABLE t") }
        XCTAssertEqual(error?.isBusy, true, "SQLITE_LOCKED: \(String(describing: error))")
        XCTAssertEqual(error.map { $0.code & 0xff }, 6)
        read.reset()
        try db.exec("DROP TABLE t")
    }

    func testAFailedTransactionRollsBack() throws {
        let db = try SQLiteDatabase(path: path)
        try db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        let error = thrown {
            try db.transaction { () throws(SQLiteError) in
                try db.exec("INSERT INTO t VALUES (1)")
                try db.exec("INSERT INTO t VALUES (1)")
            }
        }
        XCTAssertNotNil(error)
        XCTAssertEqual(try db.int64("SELECT count(*) FROM t"), 0)
    }

    func testOpeningFailuresAndAClosedDatabase() throws {
        let missing = thrown { _ = try SQLiteDatabase(path: "\(directory)/no/such/dir/db") }
        XCTAssertEqual(missing?.isEnvironmental, true, String(describing: missing))
        let readOnly = thrown { _ = try SQLiteDatabase(path: "\(directory)/absent", mode: .readOnly) }
        XCTAssertNotNil(readOnly, "read-only does not create the file")
        let db = try SQLiteDatabase(path: path)
        db.close()
        db.close()
        let closed = thrown { try db.exec("SELECT 1") }
        XCTAssertEqual(closed?.message, "database is closed")
    }
}
