#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CArchive
import DICOM
import Foundation

/// Opens what the user pointed at, deciding the kind by content, never by
/// the name's extension:
///
/// - a directory → ``FolderMedium``;
/// - a block or character device (`/dev/sr0`) → ``ArchiveMedium`` of kind
///   `.device`, read as an ISO image through libarchive (UDF-only: ``UDFImage``);
/// - ISO 9660 (`CD001` at 0x8001) or UDF (`BEA01`/`NSR02`/`NSR03` in the
///   volume recognition sequence from 0x8001) → kind `.iso9660`;
/// - zip (`PK\3\4`, empty `PK\5\6`, spanned `PK\7\8`) → `.zip`;
/// - tar (`ustar` at 257), also gzip/bzip2/xz/zstd-compressed tar → `.tar`;
/// - a file named DICOMDIR (any case, `;1`) → the ``FolderMedium`` of its
///   folder, which its File IDs name files of;
/// - anything else, including a compressed file that is not a tar →
///   ``SingleFileMedium``.
///
/// `passphrase` opens encrypted zip entries (see ``ArchiveMedium``).
///
/// Throws `.notFound` when nothing is there and `.unreadable` when the path
/// cannot be opened (permissions, no disc in the drive).
public func openMedium(_ path: String, limits: MediumLimits = .init(), passphrase: Passphrase? = nil) throws(MediaError) -> any Medium {
    var info = stat()
    guard stat(path, &info) == 0 else {
        let code = errno
        if code == ENOENT || code == ENOTDIR {
            throw MediaError(.notFound, "no such file or folder", path: path)
        }
        throw MediaError(.unreadable, "cannot open: \(systemMessage(code))", path: path)
    }
    switch info.st_mode & S_IFMT {
    case S_IFDIR:
        return try FolderMedium(path: path, limits: limits)
    case S_IFBLK, S_IFCHR:
        return try ArchiveMedium(path: path, kind: .device, limits: limits)
    case S_IFREG:
        break
    default:
        throw MediaError(.unsupportedFormat, "not a file, folder or device (a pipe or socket?)", path: path)
    }

    let head = try readBytes(path: path, offset: 0, count: MediumSniffer.headSize)
    switch MediumSniffer.kind(head: head) {
    case .iso9660:
        return try ArchiveMedium(path: path, kind: .iso9660, limits: limits)
    case .zip:
        return try ArchiveMedium(path: path, kind: .zip, limits: limits, passphrase: passphrase)
    case .tar:
        return try ArchiveMedium(path: path, kind: .tar, limits: limits)
    case .compressed:
        if MediumSniffer.compressedTar(path: path) {
            return try ArchiveMedium(path: path, kind: .tar, limits: limits)
        }
        return try SingleFileMedium(path: path)
    case nil:
        // A DICOMDIR named as the source (`/media/cdrom/DICOMDIR`): its File
        // IDs name files of its folder (PS3.10 8.5), so that folder is the
        // medium; alone, every file it lists would be 'not on the medium'.
        if FileInspector.isNamedDICOMDIR(path) {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            return try FolderMedium(path: folder, limits: limits)
        }
        return try SingleFileMedium(path: path)
    }
}

/// Content sniffing of whole media (images and archives).
enum MediumSniffer {
    enum Guess: Equatable { case iso9660, zip, tar, compressed }

    /// 32 KiB system area + 16 volume descriptors of 2 KiB: enough for the
    /// ISO 9660 / UDF volume recognition sequence.
    static let headSize = 0x8000 + 16 * 2048

    static func kind(head: Data) -> Guess? {
        let volume = volumeRecognition(head)
        if volume.iso || volume.udf { return .iso9660 }
        return head.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Guess? in
            let bytes = raw.bindMemory(to: UInt8.self)
            func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
                guard offset >= 0, offset + magic.count <= bytes.count else { return false }
                for (i, byte) in magic.enumerated() where bytes[offset + i] != byte { return false }
                return true
            }
            if at(0, [0x50, 0x4B, 0x03, 0x04]) || at(0, [0x50, 0x4B, 0x05, 0x06]) || at(0, [0x50, 0x4B, 0x07, 0x08]) {
                return .zip
            }
            if at(257, Array("ustar".utf8)) { return .tar }
            if at(0, [0x1F, 0x8B]) || at(0, Array("BZh".utf8)) || at(0, [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
                || at(0, [0x28, 0xB5, 0x2F, 0xFD]) {
                return .compressed
            }
            return nil
        }
    }

    /// What the volume recognition sequence from byte 32768 names: ISO
    /// 9660 (CD001) and UDF (NSR02, NSR03). Its descriptors are 2048 bytes
    /// apart, or a sector apart on media with larger sectors (4096).
    static func volumeRecognition(_ head: Data) -> (iso: Bool, udf: Bool) {
        for step in [2048, 4096] {
            var found = (iso: false, udf: false)
            var offset = 0x8000
            sequence: while offset + 6 <= head.count {
                switch String(decoding: head[(head.startIndex + offset + 1)..<(head.startIndex + offset + 6)], as: UTF8.self) {
                case "CD001": found.iso = true
                case "NSR02", "NSR03": found.udf = true
                case "BEA01", "TEA01", "BOOT2", "CDW02": break
                default: break sequence   // the sequence is contiguous
                }
                offset += step
            }
            if found.iso || found.udf { return found }
        }
        return (false, false)
    }

    /// Whether a compressed file holds a tar: decompress the first header
    /// through libarchive (tar reader only).
    static func compressedTar(path: String) -> Bool {
        guard let archive = archive_read_new() else { return false }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        guard archive_read_open_filename(archive, path, 64 * 1024) >= ARCHIVE_WARN else { return false }
        var entry: OpaquePointer?
        return archive_read_next_header(archive, &entry) >= ARCHIVE_WARN
    }

    /// Volume Identifier of the ISO 9660 Primary Volume Descriptor (type 1,
    /// from 0x8000, 2 KiB apart), bytes 40..<72, space-trimmed.
    static func isoVolumeLabel(path: String) -> String? {
        guard let head = try? readBytes(path: path, offset: 0x8000, count: 16 * 2048) else { return nil }
        return head.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> String? in
            var offset = 0
            while offset + 72 <= raw.count {
                let type = raw[offset]
                guard raw[offset + 1] == 0x43, raw[offset + 2] == 0x44, raw[offset + 3] == 0x30,
                      raw[offset + 4] == 0x30, raw[offset + 5] == 0x31 else { return nil }   // CD001
                if type == 255 { return nil }
                if type == 1 {
                    let field = UnsafeRawBufferPointer(rebasing: raw[(offset + 40)..<(offset + 72)])
                    let text = String(decoding: field, as: UTF8.self)
                        .trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
                    return text.isEmpty ? nil : text
                }
                offset += 2048
            }
            return nil
        }
    }
}

// MARK: - Small POSIX helpers shared by the media

func systemMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Reads up to `count` bytes at `offset` (fewer at the end); opens and
/// closes the file.
func readBytes(path: String, offset: Int, count: Int) throws(MediaError) -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT { throw MediaError(.notFound, "no such file", path: path) }
        throw MediaError(.unreadable, "cannot open: \(systemMessage(code))", path: path)
    }
    defer { close(fd) }
    return try preadData(fd, offset: offset, count: count, path: path)
}

/// `pread` in a loop until `count` bytes or the end of the file.
///
/// Reads into fresh uninitialized memory that the returned `Data` then
/// owns: `Data(count:)` would zero every byte first (a header probe of
/// every file on a disc).
func preadData(_ fd: Int32, offset: Int, count: Int, path: String) throws(MediaError) -> Data {
    guard count > 0 else { return Data() }
    guard let memory = malloc(count) else {
        throw MediaError(.unreadable, "out of memory reading \(count) bytes", path: path)
    }
    let (total, failure) = PositionalRead.fill(memory, count: count, from: fd, at: offset)
    if let failure {
        free(memory)
        throw MediaError(.unreadable, "read failed at byte \(offset + total): \(systemMessage(failure))", path: path)
    }
    if total == 0 {
        free(memory)
        return Data()
    }
    return Data(bytesNoCopy: memory, count: total, deallocator: .free)
}
