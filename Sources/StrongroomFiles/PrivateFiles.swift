#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a private file or directory could not be made or used.
public struct PrivateFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What happened, with the path (never file contents).
    public let description: String

    init(_ description: String) { self.description = description }
}

/// Files that hold secrets, plaintext or the data directory's state: private from their
/// first byte.
///
/// Every such file is created with `open(O_CREAT | O_EXCL | O_NOFOLLOW, 0600)` — never
/// created with the umask's mode and tightened afterwards, which leaves a window another user
/// can open it in — and written whole through a temporary file that is renamed into place.
/// SQLite gives its `-wal`, `-shm` and `-journal` files the mode of their database, so a
/// database created here first keeps them 0600 too. An existing directory or file that group
/// or others can reach is tightened (0700, 0600) before use; a symbolic link is refused.
public enum PrivateFiles {
    /// Creates `path` as a 0700 directory (and its missing parents), or tightens an existing one.
    public static func directory(_ path: String) throws(PrivateFileError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            let parent = NSStringPath(path: path).deletingLastComponent
            var parentInfo = stat()
            if !parent.isEmpty, parent != path, lstat(parent, &parentInfo) != 0 { try directory(parent) }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw PrivateFileError("cannot create directory \(path) (errno \(errno))")
            }
            // Whatever is there now (ours, or a racer's) is checked like an existing one.
            guard lstat(path, &info) == 0 else { throw PrivateFileError("cannot create directory \(path)") }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw PrivateFileError("\(path) is not a directory (a symbolic link is refused)")
        }
        guard info.st_uid == geteuid() else { throw PrivateFileError("\(path) belongs to another user") }
        if info.st_mode & 0o077 != 0 {
            // Tightened through a descriptor opened without following links, never by path.
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            guard fd >= 0, fchmod(fd, 0o700) == 0 else {
                throw PrivateFileError("\(path) is accessible by group or others and cannot be tightened: chmod 700")
            }
        }
    }

    /// Creates `path` empty and 0600 if absent; an existing regular file is tightened to 0600.
    ///
    /// Call it before a database or log opens `path`, so the file is never readable by others.
    public static func prepare(_ path: String) throws(PrivateFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            close(fd)
            return
        }
        guard errno == EEXIST else { throw PrivateFileError("cannot create \(path) (errno \(errno))") }
        try tighten(path)
    }

    /// Prepares an SQLite database at `path`: the file itself 0600 before SQLite opens it (its
    /// `-wal`, `-shm` and `-journal` files then take that mode), and any of those that already
    /// exist tightened.
    public static func prepareDatabase(_ path: String) throws(PrivateFileError) {
        try prepare(path)
        for suffix in ["-wal", "-shm", "-journal"] { try tighten(path + suffix) }
    }

    /// Tightens an existing regular file to 0600; refuses a symbolic link or a non-file.
    public static func tighten(_ path: String) throws(PrivateFileError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw PrivateFileError("\(path) is not a regular file (a symbolic link is refused)")
        }
        if info.st_mode & 0o077 != 0 {
            // Through a descriptor opened without following links: a link swapped in after the
            // check is refused, never chmod-ed.
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            guard fd >= 0, fchmod(fd, 0o600) == 0 else {
                throw PrivateFileError("\(path) is accessible by group or others and cannot be tightened: chmod 600")
            }
        }
    }

    /// Writes `bytes` to `path` atomically: a new 0600 temporary file beside it
    /// (`O_EXCL | O_NOFOLLOW`), fsync, rename over `path`, fsync the directory.
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(PrivateFileError) {
        let directory = NSStringPath(path: path).deletingLastComponent
        var random = SystemRandomNumberGenerator()
        let temporary = path + ".tmp-\(String(random.next() as UInt64, radix: 16))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PrivateFileError("cannot create \(temporary) (errno \(errno))") }
        var ok = true
        let data = Array(bytes)
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, base + offset, raw.count - offset)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    ok = false
                    return
                }
                offset += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PrivateFileError("cannot write \(path) (errno \(errno))")
        }
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `bytes` to `path` only if nothing is there; false when `path` already exists.
    ///
    /// A complete 0600 file appears at once or not at all, and an existing file is never replaced.
    public static func createNew(_ bytes: some Collection<UInt8>, at path: String) throws(PrivateFileError) -> Bool {
        var random = SystemRandomNumberGenerator()
        let staging = path + ".new-\(String(random.next() as UInt64, radix: 16))"
        try write(bytes, to: staging)
        defer { unlink(staging) }
        // link(2) fails with EEXIST rather than replace: the first writer wins, whole.
        guard link(staging, path) == 0 else {
            if errno == EEXIST { return false }
            throw PrivateFileError("cannot create \(path) (errno \(errno))")
        }
        return true
    }

    /// Opens `path` for appending, creating it 0600 (`O_NOFOLLOW`); the caller closes the descriptor.
    public static func openForAppend(_ path: String) throws(PrivateFileError) -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PrivateFileError("cannot open \(path) (errno \(errno))") }
        try tighten(path)
        return fd
    }
}

/// Path arithmetic without Foundation.
struct NSStringPath {
    let path: String

    var deletingLastComponent: String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
}

private func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}
