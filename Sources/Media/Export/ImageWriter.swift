#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation

/// Packs a folder (a written file-set with its PDI content) into one file
/// with libarchive, streaming every file: an ISO 9660 level 1 image with
/// Joliet names (Volume ID = File-set ID, PS3.12 Annex F), a UDF image
/// for BD media (PS3.12 Annex X, written by ``UDFImageWriter``) or a zip
/// with the DICOMDIR at its root (PS3.12 Annex V), AES-256 encrypted
/// (WinZip AE-2) when given a passphrase.
public enum MediumImageWriter {
    public enum Format: Sendable, Hashable {
        case iso(volumeID: String)
        /// UDF 2.60 without ISO 9660 (BD media).
        case udf(volumeID: String)
        case zip

        public var isUDF: Bool { if case .udf = self { true } else { false } }
    }

    /// Writes `folder`'s content to `path` (replaced if it exists).
    /// `passphrase` encrypts every zip entry with AES-256; it is refused
    /// for an ISO image.
    public static func write(folder: String, to path: String, format: Format, passphrase: Passphrase? = nil) throws(MediaError) {
        if case .udf(let volumeID) = format {
            if passphrase != nil { throw MediaError(.unsupportedFormat, "a disc image cannot be encrypted: only a zip can", path: path) }
            return try UDFImageWriter.write(folder: folder, to: path, volumeID: volumeID)
        }
        try withUTF8Locale { () throws(MediaError) -> Void in
            try writeInLocale(folder: folder, to: path, format: format, passphrase: passphrase)
        }
    }

    private static func writeInLocale(folder: String, to path: String, format: Format, passphrase: Passphrase?) throws(MediaError) {
        let entries: [String]
        do {
            entries = try FileManager.default.subpathsOfDirectory(atPath: folder).sorted()
        } catch {
            throw MediaError(.unreadable, "cannot list \(folder): \(error.localizedDescription)", path: folder)
        }
        guard let archive = archive_write_new() else { throw MediaError(.unreadable, "libarchive: out of memory", path: path) }
        defer { archive_write_free(archive) }
        func check(_ rc: Int32, _ what: String) throws(MediaError) {
            guard rc >= ARCHIVE_WARN else {
                let message = archive_error_string(archive).map { String(cString: $0) } ?? "error \(rc)"
                throw MediaError(.unreadable, "\(what): \(message)", path: path)
            }
        }
        switch format {
        case .iso(let volumeID):
            try check(archive_write_set_format_iso9660(archive), "ISO 9660 format")
            try check(archive_write_set_options(archive, "iso9660:iso-level=1,iso9660:joliet,iso9660:!rockridge,iso9660:volume-id=\(volumeID)"), "ISO 9660 options")
            if passphrase != nil { throw MediaError(.unsupportedFormat, "an ISO image cannot be encrypted: only a zip can", path: path) }
        case .udf:
            throw MediaError(.unsupportedFormat, "libarchive writes no UDF: UDF images are written by UDFImageWriter", path: path)
        case .zip:
            try check(archive_write_set_format_zip(archive), "zip format")
            if let passphrase {
                // ARCHIVE_WARN here would mean the option was not applied: refuse rather than write clear text.
                guard archive_write_set_options(archive, "zip:encryption=aes256") == ARCHIVE_OK else {
                    let message = archive_error_string(archive).map { String(cString: $0) } ?? "not supported"
                    throw MediaError(.unsupportedFormat, "this libarchive cannot write AES-256 zip encryption: \(message)", path: path)
                }
                try check(archive_write_set_passphrase(archive, passphrase.text), "passphrase")
            }
        }
        try check(archive_write_open_filename(archive, path), "open")
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        let now = time(nil)
        for relative in entries {
            let full = folder + "/" + relative
            var info = stat()
            guard lstat(full, &info) == 0 else { throw MediaError(.unreadable, "cannot stat \(relative)", path: folder) }
            guard let entry = archive_entry_new() else { throw MediaError(.unreadable, "libarchive: out of memory", path: path) }
            defer { archive_entry_free(entry) }
            archive_entry_copy_pathname(entry, relative)
            archive_entry_set_mtime(entry, now, 0)
            if (info.st_mode & S_IFMT) == S_IFDIR {
                archive_entry_set_filetype(entry, 0o040000)
                archive_entry_set_perm(entry, 0o755)
                try check(archive_write_header(archive, entry), "header \(relative)")
                continue
            }
            guard (info.st_mode & S_IFMT) == S_IFREG else { continue }   // links and the like stay off the medium
            archive_entry_set_filetype(entry, 0o100000)
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_size(entry, Int64(info.st_size))
            try check(archive_write_header(archive, entry), "header \(relative)")
            let fd = open(full, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw MediaError(.unreadable, "cannot open \(relative)", path: folder) }
            defer { close(fd) }
            while true {
                let n = read(fd, buffer, chunk)
                if n < 0 { if errno == EINTR { continue }; throw MediaError(.unreadable, "cannot read \(relative)", path: folder) }
                if n == 0 { break }
                let written = archive_write_data(archive, buffer, n)
                if written < 0 { try check(Int32(written), "data \(relative)") }
            }
        }
        try check(archive_write_close(archive), "close")
    }
}
