#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file opened read-only with plain POSIX calls: `pread` is the cheapest
/// way to read the first kilobytes of thousands of files.
struct ReadOnlyFile {
    let path: String
    let descriptor: Int32
    let size: Int

    /// Opens `path`. Its size comes from `lseek(SEEK_END)`, a syscall
    /// cheaper than `fstat` (no attributes filled and copied; 5 % of a
    /// header read); a directory is refused by the read (EISDIR), or here
    /// when its size cannot be sought.
    init(path: String) throws(DICOMError) {
        self.path = path
        // O_NONBLOCK: a pipe is refused below instead of waiting for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw DICOMError(.io, "cannot open: \(String(cString: strerror(errno)))", path: path)
        }
        var end = lseek(fd, 0, SEEK_END)
        if end < 0 || end > Int64(Int32.max) * 1024 {
            // Not seekable (a pipe, some file systems' folders), or ext4's
            // end of a hashed folder (2^63 - 1): fstat says what it is.
            let seekError = errno
            var info = stat()
            let statted = fstat(fd, &info) == 0
            let code = statted ? (end < 0 ? seekError : nil) : errno
            if statted && (info.st_mode & S_IFMT) == S_IFDIR {
                Glibc.close(fd)
                throw ReadOnlyFile.isDirectory(path)
            }
            if let code {
                Glibc.close(fd)
                throw DICOMError(.io, "cannot find its size: \(String(cString: strerror(code)))", path: path)
            }
            end = off_t(info.st_size)
        }
        self.descriptor = fd
        self.size = Int(end)
    }

    static func isDirectory(_ path: String) -> DICOMError { DICOMError(.io, "is a directory", path: path) }

    /// Reads `count` bytes from the start of the file (fewer at its end).
    func read(count: Int) throws(DICOMError) -> Data {
        // An uninitialised buffer handed to Data without a copy: Data(count:)
        // would first zero what pread overwrites (the header scan's hot path).
        guard count > 0 else { return Data() }
        guard let buffer = malloc(count) else {
            throw DICOMError(.io, "cannot allocate \(count) bytes to read it", path: path)
        }
        let (total, failure) = PositionalRead.fill(buffer, count: count, from: descriptor, at: 0)
        if let failure {
            free(buffer)
            if failure == EISDIR { throw ReadOnlyFile.isDirectory(path) }
            throw DICOMError(.io, "read failed: \(String(cString: strerror(failure)))", path: path, offset: total)
        }
        if total == 0 { free(buffer); return Data() }
        return Data(bytesNoCopy: buffer, count: total, deallocator: .free)
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// `pread` that fills its buffer: it goes on after short reads and EINTR
/// until `count` bytes are read or the file ends. The one read loop of the
/// modules that read files with POSIX calls.
public enum PositionalRead {
    /// Reads up to `count` bytes at `offset` of `descriptor` into `buffer`.
    /// Returns how many were read (fewer at the end of the file) and the
    /// errno of the read that failed, nil when none did.
    public static func fill(_ buffer: UnsafeMutableRawPointer, count: Int, from descriptor: Int32, at offset: Int) -> (count: Int, errno: Int32?) {
        var total = 0
        while total < count {
            let n = pread(descriptor, buffer + total, count - total, off_t(offset + total))
            if n < 0 {
                if errno == EINTR { continue }
                return (total, errno)
            }
            if n == 0 { break }
            total += n
        }
        return (total, nil)
    }
}
