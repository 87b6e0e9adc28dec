#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reads input files with one `open` and large `read(2)` calls (Foundation's
/// readers take many small reads, which shows over hundreds of photos).
enum InputFile {
    /// The whole file, or its first `limit` bytes.
    static func read(_ path: String, limit: Int = Int.max) throws(ConvertError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConvertError(.io, "cannot be opened: \(String(cString: strerror(errno)))", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ConvertError(.io, "cannot be read: \(String(cString: strerror(errno)))", path: path) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ConvertError(.io, "not a regular file", path: path) }
        let size = min(Int(info.st_size), limit)
        var data = Data(count: size)
        var done = 0
        var failure: Int32 = 0
        data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            while done < size {
                let n = Glibc.read(fd, raw.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; return }
                if n == 0 { return }
                done += n
            }
        }
        if failure != 0 { throw ConvertError(.io, "cannot be read: \(String(cString: strerror(failure)))", path: path) }
        return done == size ? data : data.prefix(done)
    }
}
