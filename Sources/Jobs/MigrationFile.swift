#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation
import Media
import Store

/// The file of one manifest row, opened once: its kind, a DICOM file's
/// header and the bytes the store copies all come from one descriptor and
/// one read of its first bytes (the pre-flight and the run each open a row's
/// file once, not once per question asked of it).
final class MigrationFile {
    enum OpenFailure: Error {
        /// Not there, or a folder.
        case missing
        /// There but cannot be opened or read.
        case unreadable
    }

    /// The kinds of file a migration takes.
    static let migratable: Set<FileKind> = [.dicom, .jpeg, .png, .tiff, .bmp, .pdf]
    /// Bytes read at once when the file is opened: the sniff's prefix and
    /// most DICOM headers (and most small files whole).
    static let firstRead = 16 * 1024

    let path: String
    /// From fstat(2) when opened.
    let size: Int
    /// Device and inode, from fstat(2): the file whatever path named it.
    let identity: FileIdentity
    private let fd: Int32
    /// The file's bytes from offset 0, as far as they were read.
    private var head: Data

    init(path: String) throws(OpenFailure) {
        self.path = path
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw .unreadable
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw (info.st_mode & S_IFMT) == S_IFDIR ? .missing : .unreadable
        }
        self.fd = fd
        size = Int(info.st_size)
        identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        head = Data()
        if readHead(upTo: min(size, Self.firstRead)) != nil { throw .unreadable }
    }

    deinit { close(fd) }

    /// What the file is by content (``FileKind/sniff(prefix:path:)``), nil
    /// when not one a migration takes.
    var kind: FileKind? {
        let kind = FileKind.sniff(prefix: head.prefix(FileKind.sniffPrefixSize), path: path)
        return Self.migratable.contains(kind) ? kind : nil
    }

    /// The DICOM header (up to the pixel data), parsed from the bytes read
    /// when the file was opened (more are read only for a longer header).
    func header() throws(DICOMError) -> DICOMFile {
        try DICOMFile(size: size, path: path, options: .header) { (count: Int) throws(DICOMError) -> Data in
            if let failure = readHead(upTo: count) {
                throw DICOMError(.io, "cannot be read: \(String(cString: strerror(failure)))")
            }
            return head.prefix(count)
        }
    }

    /// The whole file for the store: the bytes read already, then the rest,
    /// from this descriptor; announced at its size, so a file that changes
    /// meanwhile is refused by the store rather than stored short.
    func source(originalPath: String, needsFileMeta: Bool) -> InstanceSource {
        InstanceSource(originalPath: originalPath, expectedSize: size, needsFileMeta: needsFileMeta) { sink in
            if !self.head.isEmpty { try self.head.withUnsafeBytes { try sink($0) } }
            var offset = self.head.count
            let chunk = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(chunk, max(1, self.size - offset)), alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = pread(self.fd, buffer.baseAddress!, buffer.count, off_t(offset))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MigrationError("cannot read \(self.path): \(String(cString: strerror(errno)))")
                }
                if n == 0 { return }
                try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                offset += n
            }
        }
    }

    /// The whole file, for a conversion: the bytes read already, then the
    /// rest, from this descriptor.
    func contents() throws -> Data {
        if let failure = readHead(upTo: size) {
            throw MigrationError("cannot read \(path): \(String(cString: strerror(failure)))")
        }
        return head
    }

    /// Extends ``head`` to `count` bytes (fewer at the end of the file);
    /// the errno of a failed read.
    private func readHead(upTo count: Int) -> Int32? {
        guard count > head.count else { return nil }
        let offset = head.count
        head.count = count
        let (filled, failure) = head.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            PositionalRead.fill(raw.baseAddress! + offset, count: count - offset, from: fd, at: offset)
        }
        head.count = offset + filled
        return failure
    }
}

/// A file's device and inode: two paths to one file (`a.jpg` and
/// `./a.jpg`, a symlink, a hard link) have the same.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}
