#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes files so that a crash leaves either the old file, the whole new
/// file, or nothing: temporary file in the same folder, fsync, rename, fsync
/// of the folder.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(DICOMError) {
        let temporary = try writeTemporary([data], besides: path)
        if rename(temporary, path) != 0 {
            let failure = errno
            unlink(temporary)
            throw DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: path)
        }
        syncFolder(holding: path)
    }

    /// Gives `path` (a file, or a folder of files written beside its final
    /// name) the name `destination` durably: its file system flushed first
    /// (`syncfs(2)`; where that is missing, `fsync` of `path` itself), then
    /// the rename, then the folder holding it. A crash leaves the old name
    /// or the new one with every byte on disk, never a renamed file with
    /// blocks not yet written.
    public static func renameDurably(_ path: String, to destination: String) throws(DICOMError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DICOMError(.io, "cannot open: \(String(cString: strerror(errno)))", path: path) }
        let flushed = flushFileSystem(fd)
        let failure = errno
        Glibc.close(fd)
        guard flushed == 0 else { throw DICOMError(.io, "cannot flush to disk: \(String(cString: strerror(failure)))", path: path) }
        guard rename(path, destination) == 0 else {
            throw DICOMError(.io, "cannot rename to \(destination): \(String(cString: strerror(errno)))", path: path)
        }
        syncFolder(holding: destination)
    }

    /// fsync of the folder holding `path`: a rename in it survives a crash.
    static func syncFolder(holding path: String) { syncFolder((path as NSString).deletingLastPathComponent) }

    static func syncFolder(_ directory: String) {
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 { fsync(dirfd); Glibc.close(dirfd) }
    }
}

extension AtomicFile {
    /// Writes several files with the same guarantee as ``write(_:to:)`` each
    /// (a crash leaves, under each name, nothing, the old file or the whole
    /// new one), faster for many files: the temporary files are written
    /// concurrently, each with one gathering `writev` of its parts; then
    /// one `syncfs(2)` makes all of them durable at once (instead of one
    /// `fsync` and journal commit each); only then are they renamed, and
    /// each folder flushed once. Returns one result per item, in order; a
    /// failed item leaves nothing behind.
    public static func writeAll(_ items: [(parts: [Data], path: String)]) -> [Result<Void, DICOMError>] {
        let results = UnsafeResults(count: items.count)
        if !items.isEmpty {
            // Threads rather than the CPU-wide pool: they mostly wait for the kernel.
            let group = DispatchGroup()
            for _ in 0..<min(4, items.count) {
                group.enter()
                let thread = Thread {
                    while let index = results.claim() {
                        results.set(index, Result { () throws(DICOMError) in
                            results.setTemporary(index, try writeTemporary(items[index].parts, besides: items[index].path, flush: false))
                        })
                    }
                    group.leave()
                }
                thread.start()
            }
            group.wait()
        }
        // One flush of each file system holding a temporary file.
        var flushed = Set<UInt64>()
        for (index, item) in items.enumerated() {
            guard case .success = results[index], let temporary = results.temporary(index) else { continue }
            var info = stat()
            if stat(temporary, &info) == 0, flushed.contains(UInt64(info.st_dev)) { continue }
            let fd = open(temporary, O_RDONLY | O_CLOEXEC)
            if fd >= 0, flushFileSystem(fd) == 0 {
                if syncfsFunction != nil { flushed.insert(UInt64(info.st_dev)) }
            } else {
                let failure = errno
                unlink(temporary)
                results.set(index, .failure(DICOMError(.io, "cannot flush to disk: \(String(cString: strerror(failure)))", path: item.path)))
            }
            if fd >= 0 { Glibc.close(fd) }
        }
        var directories = Set<String>()
        for (index, item) in items.enumerated() {
            guard case .success = results[index], let temporary = results.temporary(index) else { continue }
            if rename(temporary, item.path) != 0 {
                let failure = errno
                unlink(temporary)
                results.set(index, .failure(DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: item.path)))
                continue
            }
            directories.insert((item.path as NSString).deletingLastPathComponent)
        }
        for directory in directories { syncFolder(directory) }
        return (0..<items.count).map { results[$0] }
    }

    /// syncfs(2) (glibc declares it only under _GNU_SOURCE, which Swift's
    /// Glibc module does not define), found at run time; fsync of the one
    /// file where it is missing (which then makes only that file durable,
    /// so each file is then flushed by its own call).
    private static let syncfsFunction: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()

    private static func flushFileSystem(_ fd: Int32) -> Int32 {
        syncfsFunction?(fd) ?? fsync(fd)
    }

    /// ``writeAll(_:)`` for files in one piece each.
    public static func writeAll(_ items: [(data: Data, path: String)]) -> [Result<Void, DICOMError>] {
        writeAll(items.map { (parts: [$0.data], path: $0.path) })
    }

    /// A temporary file beside `path` holding `parts` in order, flushed
    /// (`fsync`) when `flush`; its path.
    private static func writeTemporary(_ parts: [Data], besides path: String, flush: Bool = true) throws(DICOMError) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DICOMError(.io, "cannot create temporary file: \(String(cString: strerror(errno)))", path: temporary)
        }
        var failure = gatherWrite(fd, parts)
        if failure == nil && flush && fsync(fd) != 0 { failure = errno }
        Glibc.close(fd)
        if let failure {
            unlink(temporary)
            throw DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: path)
        }
        return temporary
    }

    /// Writes `parts` with `writev` (short writes continued); errno on failure.
    private static func gatherWrite(_ fd: Int32, _ parts: [Data]) -> Int32? {
        // Keep every part's bytes pinned while the iovecs point at them.
        func pinned(_ k: Int, _ vectors: inout [iovec]) -> Int32? {
            if k == parts.count { return writeVectors(fd, &vectors) }
            return parts[k].withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32? in
                if raw.count > 0 { vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress!), iov_len: raw.count)) }
                return pinned(k + 1, &vectors)
            }
        }
        var vectors: [iovec] = []
        vectors.reserveCapacity(parts.count)
        return pinned(0, &vectors)
    }

    private static func writeVectors(_ fd: Int32, _ vectors: inout [iovec]) -> Int32? {
        var first = 0
        while first < vectors.count {
            let count = min(vectors.count - first, 1024)   // IOV_MAX on Linux
            let n = vectors.withUnsafeMutableBufferPointer { writev(fd, $0.baseAddress! + first, Int32(count)) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            var left = n
            while left > 0, first < vectors.count {
                if left >= vectors[first].iov_len {
                    left -= vectors[first].iov_len
                    first += 1
                } else {
                    vectors[first].iov_base = vectors[first].iov_base! + left
                    vectors[first].iov_len -= left
                    left = 0
                }
            }
            while first < vectors.count, vectors[first].iov_len == 0 { first += 1 }
        }
        return nil
    }
}

/// Per-index slots filled by concurrent workers, each index by one worker.
private final class UnsafeResults: @unchecked Sendable {
    private var results: [Result<Void, DICOMError>]
    private var temporaries: [String?]
    private var next = 0
    private let lock = NSLock()

    init(count: Int) {
        results = Array(repeating: .success(()), count: count)
        temporaries = Array(repeating: nil, count: count)
    }
    /// The next index no worker has taken; nil when all are taken.
    func claim() -> Int? {
        lock.withLock {
            guard next < results.count else { return nil }
            defer { next += 1 }
            return next
        }
    }
    func set(_ index: Int, _ result: Result<Void, DICOMError>) { lock.withLock { results[index] = result } }
    func setTemporary(_ index: Int, _ path: String) { lock.withLock { temporaries[index] = path } }
    subscript(index: Int) -> Result<Void, DICOMError> { lock.withLock { results[index] } }
    func temporary(_ index: Int) -> String? { lock.withLock { temporaries[index] } }
}
