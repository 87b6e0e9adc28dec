#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes files so that a crash leaves either the old file, the whole new
/// file, or nothing: temporary file in the same folder, fsync, rename, fsync
/// of the folder.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(DICOMError) {
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
        if failure == nil && rename(temporary, path) != 0 { failure = errno }
        if let failure {
            unlink(temporary)
            throw DICOMError(.io, "cannot write: \(String(cString: strerror(failure)))", path: path)
        }
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 { fsync(dirfd); Glibc.close(dirfd) }
    }
}
