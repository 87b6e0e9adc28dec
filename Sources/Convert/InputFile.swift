#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reads input files with one `open` and large `read(2)` calls (Foundation's
/// readers take many small reads, which shows over hundreds of photos).
public enum InputFile {
    /// The whole file, or its first `limit` bytes.
    public static func read(_ path: String, limit: Int = Int.max) throws(ConvertError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConvertError(.io, "cannot be opened: \(String(cString: strerror(errno)))", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ConvertError(.io, "cannot be read: \(String(cString: strerror(errno)))", path: path) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ConvertError(.io, "not a regular file", path: path) }
        let size = min(Int(info.st_size), limit)
        // Read straight into the buffer the Data will own (no zero fill first).
        guard let buffer = malloc(max(size, 1)) else { throw ConvertError(.io, "out of memory for \(size) bytes", path: path) }
        var done = 0
        var failure: Int32 = 0
        while done < size {
            let n = Glibc.read(fd, buffer + done, size - done)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { failure = errno; break }
            if n == 0 { break }
            done += n
        }
        let data = Data(bytesNoCopy: buffer, count: done, deallocator: .free)
        if failure != 0 { throw ConvertError(.io, "cannot be read: \(String(cString: strerror(failure)))", path: path) }
        return data
    }
}
