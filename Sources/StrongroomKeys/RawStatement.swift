import Foundation
import GRDB
import GRDBSQLite

/// A value bound to a statement parameter.
enum SQLValue {
    case blob([UInt8])
    case int(Int64)
    case text(String)
    case null
}

/// Runs a cached statement with its parameters bound straight from Swift values.
///
/// The statements that make and look up keys run for every new key: GRDB's argument arrays
/// (a `Data` per blob, every column of a result copied into a `Row`) cost more than SQLite's
/// own work there. The statement is reset, and its bindings cleared, before this returns.
struct RawStatement: ~Copyable {
    /// Held so the statement outlives this value whatever GRDB's cache does meanwhile.
    private let statement: Statement
    private let s: OpaquePointer

    /// Binds `values` to parameters 1, 2, … of `statement`: exactly as many as it has.
    init(_ statement: Statement, _ values: [SQLValue]) throws(KeyStoreError) {
        self.statement = statement
        s = statement.sqliteStatement
        sqlite3_reset(s)
        sqlite3_clear_bindings(s)
        // A missing value would be bound as NULL by SQLite without a word.
        guard sqlite3_bind_parameter_count(s) == Int32(values.count) else {
            throw KeyStoreError(.storage, "statement expects \(sqlite3_bind_parameter_count(s)) values")
        }
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let code: Int32
            switch value {
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { raw in
                    // An empty array may have no address: SQLite would read that as NULL.
                    raw.isEmpty
                        ? sqlite3_bind_zeroblob(s, index, 0)
                        : sqlite3_bind_blob(s, index, raw.baseAddress, Int32(raw.count), transient)
                }
            case .int(let n): code = sqlite3_bind_int64(s, index, n)
            case .text(let text): code = sqlite3_bind_text(s, index, text, -1, transient)
            case .null: code = sqlite3_bind_null(s, index)
            }
            guard code == SQLITE_OK else {
                sqlite3_clear_bindings(s)
                throw KeyStoreError(.storage, "binding failed (SQLite code \(code))")
            }
        }
    }

    deinit {
        sqlite3_reset(s)
        sqlite3_clear_bindings(s)
    }

    /// Steps once: true with a row to read, false when done.
    func step() throws(KeyStoreError) -> Bool {
        switch sqlite3_step(s) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            // SQLite's message names the constraint or condition, never a bound value.
            let message = sqlite3_db_handle(s).flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? ""
            throw KeyStoreError(.storage, "statement failed (SQLite code \(code): \(message))")
        }
    }

    /// Runs a statement that returns no rows; the rows it changed.
    func execute() throws(KeyStoreError) -> Int {
        guard try !step() else { throw KeyStoreError(.storage, "statement returned a row") }
        return Int(sqlite3_changes(sqlite3_db_handle(s)))
    }

    /// Whether column `i` of the current row is NULL.
    func isNull(_ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_NULL }

    /// Column `i` as an integer; a NULL or non-integer column is an error.
    func int(_ i: Int32) throws(KeyStoreError) -> Int64 {
        guard sqlite3_column_type(s, i) == SQLITE_INTEGER else {
            throw KeyStoreError(.storage, "column \(i): integer expected")
        }
        return sqlite3_column_int64(s, i)
    }

    /// Whether column `i` is the text `expected`, byte for byte; anything but text is an error.
    func hasText(_ i: Int32, _ expected: StaticString) throws(KeyStoreError) -> Bool {
        guard sqlite3_column_type(s, i) == SQLITE_TEXT, let text = sqlite3_column_text(s, i) else {
            throw KeyStoreError(.storage, "column \(i): text expected")
        }
        let count = Int(sqlite3_column_bytes(s, i))
        return count == expected.utf8CodeUnitCount && memcmp(text, expected.utf8Start, count) == 0
    }

    /// Column `i` as bytes; anything but a blob is an error.
    func blob(_ i: Int32) throws(KeyStoreError) -> [UInt8] {
        guard sqlite3_column_type(s, i) == SQLITE_BLOB else {
            throw KeyStoreError(.storage, "column \(i): blob expected")
        }
        let count = Int(sqlite3_column_bytes(s, i))
        guard count > 0, let base = sqlite3_column_blob(s, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the bind returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
