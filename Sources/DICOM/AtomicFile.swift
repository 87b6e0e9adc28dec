#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes files so that a crash leaves either the old file, the whole new
/// file, or nothing: temporary file in the same folder, fsync, rename, fsync
/// of the folder.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(DICOMError) {
        let temporary = try writeTemporary(data, besides: path)
        if rename(temporary, path) != 0 {
            let failure = errno
            unlink(temporary)
            throw DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: path)
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 { fsync(dirfd); Glibc.close(dirfd) }
    }
}

extension AtomicFile {
    /// Writes several files with the same guarantee as ``write(_:to:)`` each,
    /// faster for many small files: the temporary files are written and
    /// flushed concurrently (the file system commits their fsyncs together),
    /// then renamed, then each folder is flushed once. Returns one result
    /// per item, in order; a failed item leaves nothing behind.
    public static func writeAll(_ items: [(data: Data, path: String)]) -> [Result<Void, DICOMError>] {
        let results = UnsafeResults(count: items.count)
        // Threads rather than the CPU-wide pool: they mostly wait in fsync.
        let group = DispatchGroup()
        for _ in 0..<min(8, items.count) {
            group.enter()
            let thread = Thread {
                while let index = results.claim() {
                    results.set(index, Result { () throws(DICOMError) in
                        results.setTemporary(index, try writeTemporary(items[index].data, besides: items[index].path))
                    })
                }
                group.leave()
            }
            thread.start()
        }
        group.wait()
        var directories = Set<String>()
        for (index, item) in items.enumerated() {
            guard case .success = results[index], let temporary = results.temporary(index) else { continue }
            if rename(temporary, item.path) != 0 {
                let failure = errno
                unlink(temporary)
                results.set(index, .failure(DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: item.path)))
                continue
            }
            let directory = (item.path as NSString).deletingLastPathComponent
            directories.insert(directory.isEmpty ? "." : directory)
        }
        for directory in directories {
            let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirfd >= 0 { fsync(dirfd); Glibc.close(dirfd) }
        }
        return (0..<items.count).map { results[$0] }
    }

    /// A temporary file beside `path`, written and flushed; its path.
    private static func writeTemporary(_ data: Data, besides path: String) throws(DICOMError) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DICOMError(.io, "cannot create temporary file: \(String(cString: strerror(errno)))", path: temporary)
        }
        var failure: Int32?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = errno }
        Glibc.close(fd)
        if let failure {
            unlink(temporary)
            throw DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: path)
        }
        return temporary
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
