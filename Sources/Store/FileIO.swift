#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import DICOM
import Foundation

/// An error of the store itself (files, layout, arguments). Catalog
/// failures are ``SQLiteError``; failures of a source are passed through.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A file or folder of the store could not be read or written.
        case io
        /// The summary or source cannot be stored (no SOP Instance UID, …).
        case invalidInput = "invalid-input"
        /// The source streamed a different number of bytes than it announced.
        case sizeMismatch = "size-mismatch"
        /// The catalog was written by a newer discport (higher schema version).
        case newerSchema = "newer-schema"
        /// The store was closed.
        case closed
        /// A failure injected by a test.
        case injected
        /// The home holds no store (no catalog) and was not to be created.
        case noStore = "no-store"
        /// The store's file system is full or over quota (ENOSPC, EDQUOT):
        /// nothing more can be stored until space is freed.
        case full
    }
    public var kind: Kind
    public var message: String
    public var path: String?

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    /// An I/O error from the current `errno` (``Kind/full`` when the file
    /// system is full or over quota).
    static func posix(_ what: String, path: String) -> StoreError {
        let code = errno
        return StoreError(code == ENOSPC || code == EDQUOT ? .full : .io, "\(what): \(String(cString: strerror(code)))", path: path)
    }

    /// Whether `error` says the store's disk is full: a file that could not
    /// be written (ENOSPC, EDQUOT) or a catalog that could not grow
    /// (SQLITE_FULL). Every further instance would fail the same way.
    public static func isStorageFull(_ error: any Error) -> Bool {
        switch error {
        case let error as StoreError: return error.kind == .full
        case let error as SQLiteError: return error.isFull
        default: return false
        }
    }

    public var description: String {
        [path, message].compactMap { $0 }.joined(separator: ": ")
    }
}

/// POSIX file helpers: streaming reads, hashing, folders, fsync.
enum FileIO {
    /// Read and write chunk size.
    static let chunkSize = 1 << 20

    /// Streams a file to `sink` in chunks of at most 1 MiB.
    static func stream(path: String, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.posix("cannot open", path: path) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress!, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.posix("cannot read", path: path)
            }
            if n == 0 { return }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// SHA-256 (hex) and size of a file, streamed.
    static func sha256(path: String) throws -> (sha256: String, size: Int64) {
        var hasher = SHA256()
        var size: Int64 = 0
        try stream(path: path) { chunk in
            hasher.update(bufferPointer: chunk)
            size += Int64(chunk.count)
        }
        return (hex(hasher.finalize()), size)
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String { DICOMBinary.hex(digest) }

    static func sha256Hex(of text: String) -> String {
        hex(SHA256.hash(data: Data(text.utf8)))
    }

    /// lstat: nil when the path does not exist.
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func isRegularFile(_ path: String) -> Bool {
        guard let info = status(path) else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    /// `mkdir -p`; appends every folder it had to create to `created`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755, created: inout [String]) throws {
        if mkdir(path, mode) == 0 { created.append(path); return }
        switch errno {
        case EEXIST:
            guard let info = status(path), (info.st_mode & S_IFMT) == S_IFDIR else {
                throw StoreError(.io, "exists and is not a folder", path: path)
            }
        case ENOENT:
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { throw StoreError.posix("cannot create folder", path: path) }
            try makeDirectories(parent, mode: mode, created: &created)
            if mkdir(path, mode) == 0 {
                created.append(path)
            } else if errno != EEXIST {
                throw StoreError.posix("cannot create folder", path: path)
            }
        default:
            throw StoreError.posix("cannot create folder", path: path)
        }
    }

    /// fsync of a file's data.
    static func syncFile(_ fd: Int32, path: String) throws {
        #if os(Linux)
        let rc = fdatasync(fd)
        #else
        let rc = fsync(fd)
        #endif
        if rc != 0 { throw StoreError.posix("cannot flush to disk", path: path) }
    }

    /// syncfs(2): flushes every dirty page of the file system holding `fd`
    /// (one journal commit for a whole batch instead of one per file).
    /// Glibc declares it only under _GNU_SOURCE, which Swift's Glibc module
    /// does not define, so it is looked up at run time; nil where missing.
    static let syncfsFunction: (@convention(c) (Int32) -> Int32)? = {
        #if os(Linux)
        guard let symbol = dlsym(nil, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// syncfs(2) on the file system holding `path`.
    static func syncFileSystem(containing path: String) throws {
        guard let syncfs = syncfsFunction else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.posix("cannot open folder", path: path) }
        defer { close(fd) }
        if syncfs(fd) != 0 { throw StoreError.posix("cannot flush the file system", path: path) }
    }

    /// fsync of a folder, so the names created or renamed in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.posix("cannot open folder", path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL {
            throw StoreError.posix("cannot flush folder to disk", path: path)
        }
    }

    /// Regular files under `root`, as paths relative to it (sorted). Hidden
    /// entries count. Symbolic links are listed, never followed.
    static func regularFiles(under root: String) -> [String] {
        var result: [String] = []
        func walk(_ relative: String) {
            let absolute = relative.isEmpty ? root : root + "/" + relative
            guard let dir = opendir(absolute) else { return }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                let child = relative.isEmpty ? name : relative + "/" + name
                var type = entry.pointee.d_type
                if type == UInt8(DT_UNKNOWN) {
                    guard let info = status(root + "/" + child) else { continue }
                    switch info.st_mode & S_IFMT {
                    case S_IFDIR: type = UInt8(DT_DIR)
                    case S_IFREG: type = UInt8(DT_REG)
                    default: type = UInt8(DT_LNK)
                    }
                }
                if type == UInt8(DT_DIR) {
                    walk(child)
                } else {
                    result.append(child)
                }
            }
        }
        walk("")
        return result.sorted()
    }

    /// Removes a file or a folder with everything in it.
    static func removeTree(_ path: String) {
        guard let info = status(path) else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafePointer(to: entry.pointee.d_name) {
                        $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Now as ISO 8601 UTC with milliseconds: `2026-11-22T05:41:07.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    /// The operator: `$USER`, else `$LOGNAME`, else the passwd name of the uid.
    static func currentUser() -> String {
        let environment = ProcessInfo.processInfo.environment
        for key in ["USER", "LOGNAME"] {
            if let value = environment[key], !value.isEmpty { return value }
        }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name {
            return String(cString: name)
        }
        return "uid \(getuid())"
    }

    static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}

/// Writes a temporary file while hashing what goes through it: small chunks
/// are gathered into a buffer of at most 1 MiB, large ones written directly.
final class HashingWriter {
    let fd: Int32
    let path: String
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Hash of everything written (the stored file).
    private var storedHasher = SHA256()
    /// Hash of the source bytes only, when a header was written in front.
    private var sourceHasher: SHA256?
    private(set) var storedSize: Int64 = 0
    private(set) var sourceSize: Int64 = 0

    /// Creates `path` (must not exist) with mode 0444: stored files are not
    /// meant to be edited.
    init(path: String, capacity: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw StoreError.posix("cannot create temporary file", path: path) }
        self.fd = fd
        self.path = path
        self.buffer = .allocate(byteCount: max(4096, min(capacity, FileIO.chunkSize)), alignment: 16)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    /// Bytes the store adds in front of the source (the Part 10 header).
    func writeHeader(_ header: Data) throws {
        sourceHasher = SHA256()
        try header.withUnsafeBytes { try put($0) }
        storedHasher.update(data: header)
        storedSize += Int64(header.count)
    }

    /// Bytes of the source replaced by the header: hashed as source, not written.
    func skipSource(_ chunk: UnsafeRawBufferPointer) {
        guard chunk.count > 0 else { return }
        sourceHasher?.update(bufferPointer: chunk)
        sourceSize += Int64(chunk.count)
    }

    /// Bytes of the source.
    func writeSource(_ chunk: UnsafeRawBufferPointer) throws {
        guard chunk.count > 0 else { return }
        try put(chunk)
        storedHasher.update(bufferPointer: chunk)
        sourceHasher?.update(bufferPointer: chunk)
        storedSize += Int64(chunk.count)
        sourceSize += Int64(chunk.count)
    }

    private func put(_ chunk: UnsafeRawBufferPointer) throws {
        if buffered == 0 && chunk.count >= buffer.count {
            // As large as the buffer (a whole small file read at once):
            // written as it is rather than copied into the buffer first.
            try writeAll(chunk)
            return
        }
        if buffered + chunk.count <= buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + chunk.count)]).copyMemory(from: chunk)
            buffered += chunk.count
            if buffered == buffer.count { try flush() }
            return
        }
        try flush()
        if chunk.count >= buffer.count {
            try writeAll(chunk)
        } else {
            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<chunk.count]).copyMemory(from: chunk)
            buffered = chunk.count
        }
    }

    func flush() throws {
        guard buffered > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        buffered = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.posix("cannot write", path: path)
            }
            written += n
        }
    }

    /// Flushes the buffer and returns the hashes: of the stored bytes, and
    /// of the source bytes (the same unless a header was written).
    func finish() throws -> (stored: String, source: String, storedSize: Int64, sourceSize: Int64) {
        try flush()
        let stored = FileIO.hex(storedHasher.finalize())
        let source = sourceHasher.map { FileIO.hex($0.finalize()) } ?? stored
        return (stored, source, storedSize, sourceSize)
    }
}
