#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One file on its own (a lone DICOM file, a JPEG, a PDF, a text): visits
/// exactly that file, named by its last path component.
public struct SingleFileMedium: Medium {
    public let location: String
    public var kind: MediumKind { .file }
    public var volumeLabel: String? { nil }
    /// Size when the medium was opened.
    public let size: Int

    public init(path: String) throws(MediaError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw MediaError(.notFound, "no such file", path: path) }
            throw MediaError(.unreadable, "cannot open: \(systemMessage(code))", path: path)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw MediaError(.unsupportedFormat, "not a regular file", path: path)
        }
        location = path
        size = Int(info.st_size)
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void) throws {
        let reader = PosixFileReader(path: location, size: size, buffer: CopyBuffer())
        defer { reader.close() }
        let name = location.split(separator: "/").last.map(String.init) ?? location
        try visitor(reader.mediumFile(relativePath: name))
    }
}

/// A reusable 1 MiB buffer for streaming copies, allocated at first use
/// (one per folder worker thread; never shared between threads).
final class CopyBuffer {
    static let size = 1 << 20
    private var storage: UnsafeMutableRawPointer?

    var pointer: UnsafeMutableRawPointer {
        if let storage { return storage }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: CopyBuffer.size, alignment: 64)
        storage = fresh
        return fresh
    }

    deinit { storage?.deallocate() }
}

/// Reads one file of a folder (or a lone file) with its own descriptor,
/// opened at the first read and closed by ``close()`` after the visit
/// (reopened if the file is read again later). Reads use `pread`, so reads
/// at any offset and in any order are fine. Not thread-safe: one visit, one
/// thread.
final class PosixFileReader {
    /// Path bytes as the file system has them (names need not be UTF-8):
    /// a name in ``folder``, or an absolute path when there is no folder.
    let path: [CChar]
    /// The open folder `path` is relative to.
    let folder: OpenFolder?
    let size: Int
    private let buffer: CopyBuffer
    private var fd: Int32 = -1
    /// For messages about a file opened in a folder: the folder's path
    /// (`/`-terminated) and the file's path below it.
    private let displayParts: (prefix: String, name: String)?

    init(path: [CChar], size: Int, buffer: CopyBuffer) {
        self.path = path.last == 0 ? path : path + [0]
        self.folder = nil
        self.size = size
        self.buffer = buffer
        self.displayParts = nil
    }

    convenience init(path: String, size: Int, buffer: CopyBuffer) {
        self.init(path: Array(path.utf8CString), size: size, buffer: buffer)
    }

    /// A file named `name` (NUL-terminated) in `folder`, already open as
    /// `descriptor` (or -1: opened at the first read); messages name it
    /// `displayPrefix + displayName`.
    init(name: [CChar], in folder: OpenFolder, descriptor: Int32, size: Int, buffer: CopyBuffer,
         displayPrefix: String, displayName: String) {
        self.path = name
        self.folder = folder
        self.fd = descriptor
        self.size = size
        self.buffer = buffer
        self.displayParts = (displayPrefix, displayName)
    }

    /// For messages: the path, invalid UTF-8 repaired.
    var displayPath: String {
        if let displayParts { return displayParts.prefix + displayParts.name }
        return path.withUnsafeBufferPointer { chars in
            String(decoding: UnsafeRawBufferPointer(chars).prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private func descriptor() throws(MediaError) -> Int32 {
        if fd >= 0 { return fd }
        // O_NOFOLLOW: the walker resolved links already; a file swapped for
        // a link since then is not followed.
        let opened = openat(folder?.descriptor ?? AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard opened >= 0 else {
            let code = errno
            throw MediaError(code == ENOENT ? .notFound : .unreadable, "cannot open: \(systemMessage(code))", path: displayPath)
        }
        fd = opened
        return opened
    }

    func read(offset: Int, count: Int) throws(MediaError) -> Data {
        guard offset >= 0 else { throw MediaError(.unreadable, "negative offset \(offset)", path: displayPath) }
        let wanted = min(max(count, 0), max(size - offset, 0))
        guard wanted > 0 else { return Data() }
        return try preadData(descriptor(), offset: offset, count: wanted, path: displayPath)
    }

    /// Streams the file (up to its size) through the reused buffer.
    func copy(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try descriptor()
        let base = buffer.pointer
        var offset = 0
        while offset < size {
            let n = pread(fd, base, min(CopyBuffer.size, size - offset), off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw MediaError(.unreadable, "read failed at byte \(offset): \(systemMessage(errno))", path: displayPath)
            }
            if n == 0 { break }
            try sink(UnsafeRawBufferPointer(start: base, count: n))
            offset += n
        }
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }

    func mediumFile(relativePath: String) -> MediumFile {
        MediumFile(
            path: relativePath, size: size,
            readPrefix: { (count: Int) throws(MediaError) -> Data in try self.read(offset: 0, count: count) },
            readRange: { (offset: Int, count: Int) throws(MediaError) -> Data in try self.read(offset: offset, count: count) },
            copyContents: { sink in try self.copy(to: sink) })
    }
}
