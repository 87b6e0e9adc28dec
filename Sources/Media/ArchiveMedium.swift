#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CArchive
import Foundation
import Synchronization

/// An ISO 9660 image (with Joliet / Rock Ridge), an optical device read as
/// an image, a zip or a (compressed) tar, read through libarchive in one
/// streaming pass. Nothing is ever extracted to disk. An image or disc with
/// UDF and no ISO 9660 is read by ``UDFImage`` instead.
///
/// Entries are visited in archive order on the calling thread. The bytes
/// of an entry are read forward while it is current; what was read is kept
/// (up to ``retainedBytes``), so a larger prefix can be asked again.
///
/// Only the reader of the detected format is enabled (iso9660 for images
/// and devices, zip, tar): `format_all` would also enable mtree, whose
/// entries name files of the local disk, and raw.
///
/// Hostile content stops the visit with a ``MediaError``:
/// - an absolute entry path (`/x`, `\x`, `C:x`) or a `..` component
///   (`/` or `\` separated) → `.pathTraversal`;
/// - more headers than ``MediumLimits/maximumEntries`` → `.entryLimit`;
/// - declared or streamed expanded bytes above
///   ``MediumLimits/maximumTotalBytes``, an entry streaming more bytes than
///   its header declares, or — once it has expanded past
///   ``MediumLimits/ratioCheckThreshold`` — more than
///   ``MediumLimits/maximumCompressionRatio`` times the compressed bytes
///   consumed for it (zip, compressed tar; checked while streaming, also
///   for the parts the visitor does not read) → `.expansionLimit`;
/// - an encrypted entry without a ``passphrase`` → `.unsupportedFormat`
///   ("… cannot read it without the passphrase"); with one, libarchive
///   decrypts it (zip: traditional PKWARE and WinZip AES), and a wrong one
///   stops the visit (`.unreadable`, "wrong passphrase?").
///
/// Symbolic and hard link entries are skipped, not followed, and reported
/// through `skipped`, like folders nested deeper than the depth bound.
public struct ArchiveMedium: Medium {
    public let location: String
    public let kind: MediumKind
    /// ISO Primary Volume Descriptor Volume Identifier (images, devices).
    public let volumeLabel: String?
    public let limits: MediumLimits
    /// For encrypted zip entries; never printed (see ``Passphrase``).
    public let passphrase: Passphrase?
    /// The image has UDF but no ISO 9660 descriptors: libarchive cannot
    /// read it, ``UDFImage`` does.
    let udfOnly: Bool
    /// The image has both (a UDF bridge disc): the file system with more
    /// files is read.
    let udfBridge: Bool

    /// Bytes libarchive reads from the source per call.
    static let blockSize = 1 << 20
    /// Bytes of an entry kept for re-reading; further reads forward drop
    /// what lies before the range asked for.
    public static let retainedBytes = 64 << 20

    public init(path: String, kind: MediumKind, limits: MediumLimits = .init(), passphrase: Passphrase? = nil) throws(MediaError) {
        // A character device is opened without waiting; a block device
        // (a drive) plainly, so that an empty drive says ENOMEDIUM now.
        var info = stat()
        let character = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR
        let fd = open(path, O_RDONLY | O_CLOEXEC | (character ? O_NONBLOCK : 0))
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT, ENOTDIR: throw MediaError(.notFound, "no such file or device", path: path)
            case ENOMEDIUM: throw MediaError(.unreadable, "no disc in the drive", path: path)
            default: throw MediaError(.unreadable, "cannot open: \(systemMessage(code))", path: path)
            }
        }
        close(fd)
        self.location = path
        self.kind = kind
        self.limits = limits
        self.passphrase = passphrase
        if kind == .iso9660 || kind == .device {
            let head = (try? readBytes(path: path, offset: 0, count: MediumSniffer.headSize)) ?? Data()
            udfOnly = ArchiveMedium.hasUDFWithoutISO(head)
            udfBridge = !udfOnly && ArchiveMedium.hasUDF(head)
            volumeLabel = udfOnly ? (try? UDFImage(path: path))?.volumeLabel : MediumSniffer.isoVolumeLabel(path: path)
        } else {
            volumeLabel = nil
            udfOnly = false
            udfBridge = false
        }
    }

    /// The regular files libarchive finds on the ISO 9660 side (no data read).
    private func isoFileCount() throws -> Int {
        let count = Mutex(0)
        try withUTF8Locale { () throws -> Void in
            try ArchiveSession(medium: self).run(visitor: { _ in count.withLock { $0 += 1 } }, skipped: { _ in })
        }
        return count.withLock { $0 }
    }

    /// UDF, with or without ISO 9660.
    static func hasUDF(_ head: Data) -> Bool { MediumSniffer.volumeRecognition(head).udf }

    /// UDF and no ISO 9660: what libarchive cannot read.
    static func hasUDFWithoutISO(_ head: Data) -> Bool {
        let found = MediumSniffer.volumeRecognition(head)
        return found.udf && !found.iso
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void) throws {
        try visitFiles(visitor, skipped: { _ in })
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void,
                           skipped: @escaping @Sendable (MediaError) -> Void) throws {
        if udfOnly {
            // libarchive reads ISO 9660 only: a UDF-only disc is read here.
            try UDFImage(path: location).visitFiles(limits: limits, visitor, skipped: skipped)
            return
        }
        var left: [MediaError] = []
        if udfBridge, let udf = try? UDFImage(path: location), let files = try? udf.files(limits: limits, skipped: { left.append($0) }),
           files.count > (try? isoFileCount()) ?? Int.max {
            // Both file systems, the UDF one holding more: the ISO 9660
            // side of some discs is only a note saying to use a UDF reader.
            // The walk just made is the one visited.
            left.forEach(skipped)
            try udf.visit(files, visitor)
            return
        }
        try withUTF8Locale { () throws -> Void in
            let session = try ArchiveSession(medium: self)
            try session.run(visitor: visitor, skipped: skipped)
        }
    }
}

/// Runs `body` with this thread's character type locale set to UTF-8
/// (`uselocale`: the calling thread only, restored after).
///
/// libarchive converts entry names (zip UTF-8 names, Joliet UTF-16, pax
/// `path=`) to the current locale; in the C locale of a Swift process any
/// non-ASCII name fails ("Pathname cannot be converted from UTF-8 to
/// current locale") and the entry comes back nameless.
func withUTF8Locale<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    var utf8: locale_t? = nil
    for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] {
        utf8 = newlocale(LC_CTYPE_MASK, name, nil)
        if utf8 != nil { break }
    }
    guard let utf8 else { return try body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}

/// One pass over an archive: the libarchive handle, the counters the
/// limits apply to, the current entry.
final class ArchiveSession {
    let medium: ArchiveMedium
    let archive: OpaquePointer
    /// Size of the source file (0 for devices): a cheap first bomb check.
    let sourceSize: Int64
    /// Whether entries are stored compressed (zip, or a filter such as
    /// gzip under a tar): the ratio bound applies.
    private(set) var compressed = false
    private var compressedStream = false
    var totalDeclared: Int64 = 0
    var totalExpanded: Int64 = 0
    var limits: MediumLimits { medium.limits }

    init(medium: ArchiveMedium) throws(MediaError) {
        self.medium = medium
        guard let archive = archive_read_new() else {
            throw MediaError(.unreadable, "libarchive: out of memory", path: medium.location)
        }
        self.archive = archive
        switch medium.kind {
        case .zip:
            archive_read_support_format_zip(archive)
        case .tar:
            archive_read_support_format_tar(archive)
            archive_read_support_format_gnutar(archive)
            archive_read_support_filter_all(archive)
        default:
            archive_read_support_format_iso9660(archive)
        }
        if let passphrase = medium.passphrase { archive_read_add_passphrase(archive, passphrase.text) }
        var info = stat()
        sourceSize = stat(medium.location, &info) == 0 && info.st_mode & S_IFMT == S_IFREG ? Int64(info.st_size) : 0
        if archive_read_open_filename(archive, medium.location, ArchiveMedium.blockSize) < ARCHIVE_WARN {
            throw failure("cannot open")   // deinit frees the handle
        }
    }

    deinit { archive_read_free(archive) }

    func errorMessage() -> String {
        if let text = archive_error_string(archive) { return String(cString: text) }
        return "libarchive error \(archive_errno(archive))"
    }

    func failure(_ prefix: String) -> MediaError {
        let message = errorMessage()
        if medium.kind == .device {
            switch archive_errno(archive) {
            case ENOMEDIUM:
                return MediaError(.unreadable, "no disc in the drive", path: medium.location)
            case EIO:
                return MediaError(.unreadable, "\(prefix): the disc cannot be read (blank, audio or damaged?): \(message)",
                                  path: medium.location)
            default: break
            }
        }
        if medium.kind == .device || medium.kind == .iso9660, message.contains("Unrecognized") || message.contains("unrecognized") {
            return MediaError(.unsupportedFormat,
                              "\(prefix): not an ISO 9660 image (\(message)); if it is a UDF-only disc or a USB stick, mount it and open the folder",
                              path: medium.location)
        }
        return MediaError(.unreadable, "\(prefix): \(message)", path: medium.location)
    }

    func run(visitor: @Sendable (MediumFile) throws -> Void, skipped: (MediaError) -> Void) throws {
        var entries = 0
        var first = true
        while true {
            var entryPointer: OpaquePointer?
            let rc = archive_read_next_header(archive, &entryPointer)
            if rc == ARCHIVE_EOF { return }
            guard rc >= ARCHIVE_WARN, let entry = entryPointer else {
                throw failure(first ? "cannot read the archive" : "cannot read the next entry")
            }
            if first {
                first = false
                compressedStream = archive_filter_count(archive) > 1
                compressed = compressedStream || medium.kind == .zip
            }
            entries += 1
            if entries > limits.maximumEntries {
                throw MediaError(.entryLimit, "more than \(limits.maximumEntries) entries: refused as hostile", path: medium.location)
            }
            guard let name = entryName(entry) else {
                let reason = rc == ARCHIVE_WARN ? errorMessage() : "no name"
                skipped(MediaError(.unreadable, "entry \(entries) has a name that cannot be decoded (\(reason)), skipped",
                                   path: medium.location))
                continue
            }
            guard let path = try ArchiveSession.sanitize(name, archive: medium.location) else { continue }
            let depth = path.split(separator: "/").count - 1
            let type = archive_entry_filetype(entry) & 0o170000
            let declared: Int64? = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : nil
            if let declared { try checkDeclared(declared, path: path) }
            let reader = ArchiveEntryReader(session: self, path: path, declared: declared,
                                            sparse: archive_entry_sparse_count(entry) > 0)
            defer { reader.finish() }
            // Data not visited is skipped by libarchive; in a compressed
            // stream that means decompressing it: do it here, under the bounds.
            let pass = { () throws(MediaError) -> Void in if self.compressedStream { try reader.drain() } }
            if let target = archive_entry_hardlink(entry) {
                skipped(MediaError(.unsupportedFormat, "hard link to \(String(cString: target)), not followed", path: path))
                try pass()
                continue
            }
            if type == 0o120000 {
                let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? "?"
                skipped(MediaError(.unsupportedFormat, "symbolic link to \(target), not followed", path: path))
                try pass()
                continue
            }
            guard type == 0o100000 else {   // AE_IFREG; folders and devices carry no data
                try pass()
                continue
            }
            if depth > limits.maximumDepth {
                skipped(MediaError(.entryLimit, "nested deeper than \(limits.maximumDepth) folders, not read", path: path))
                try pass()
                continue
            }
            if archive_entry_is_encrypted(entry) != 0, medium.passphrase == nil {
                let what = medium.kind == .zip ? "encrypted zip entry" : "encrypted entry"
                throw MediaError(.unsupportedFormat, "\(what) \(path): discport cannot read it without the passphrase",
                                 path: medium.location)
            }
            try visitor(reader.mediumFile())
            reader.finish()
            try pass()
        }
    }

    private func checkDeclared(_ declared: Int64, path: String) throws(MediaError) {
        guard declared >= 0 else {
            throw MediaError(.unreadable, "entry \(path) declares a negative size", path: medium.location)
        }
        totalDeclared += declared
        if totalDeclared > limits.maximumTotalBytes {
            throw MediaError(.expansionLimit,
                             "entries declare more than \(limits.maximumTotalBytes) bytes in all (at \(path)): refused as a possible zip bomb",
                             path: medium.location)
        }
        if compressed, sourceSize > 0, declared >= limits.ratioCheckThreshold,
           Double(declared) > limits.maximumCompressionRatio * Double(sourceSize) {
            throw MediaError(.expansionLimit,
                             "entry \(path) declares \(declared) bytes, more than \(Int(limits.maximumCompressionRatio)) times the whole archive (\(sourceSize) bytes): refused as a zip bomb",
                             path: medium.location)
        }
    }

    private func entryName(_ entry: OpaquePointer) -> String? {
        if let utf8 = archive_entry_pathname_utf8(entry) { return String(cString: utf8) }
        if let raw = archive_entry_pathname(entry) {
            // Bytes that are not UTF-8 shown one by one, as a folder's: two
            // names differing only there stay two paths.
            return FolderMedium.displayPath(Array(UnsafeRawBufferPointer(start: raw, count: strlen(raw))))
        }
        return nil
    }

    /// The entry path without a leading `./` and trailing `/`, as the
    /// archive names it otherwise (case, `;1`); nil for the root itself.
    /// Absolute paths and `..` components are refused.
    static func sanitize(_ name: String, archive: String) throws(MediaError) -> String? {
        var path = Substring(name)
        let absolute = path.hasPrefix("/") || path.hasPrefix("\\")
            || (path.count >= 2 && path.first!.isLetter && path.dropFirst().first == ":")
        if absolute {
            throw MediaError(.pathTraversal, "archive entry with an absolute path \(name): refused as hostile", path: archive)
        }
        let components = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if components.contains("..") {
            throw MediaError(.pathTraversal, "archive entry \(name) climbs out of the archive (..): refused as hostile", path: archive)
        }
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        while path.hasSuffix("/") { path = path.dropLast() }
        if path.isEmpty || path == "." { return nil }
        return String(path)
    }

    /// Compressed bytes consumed from the source so far.
    var consumedSourceBytes: Int64 { archive_filter_bytes(archive, -1) }
}

/// The current entry: reads forward through libarchive, keeps what it read.
final class ArchiveEntryReader {
    unowned let session: ArchiveSession
    let path: String
    let declared: Int64?
    /// Bytes [retainedStart, retainedStart + retained.count) of the entry.
    private var retained = Data()
    private var retainedStart = 0
    /// Bytes of the entry streamed so far.
    private var position = 0
    private var atEnd = false
    private var current = true
    private let sourceStart: Int64

    /// A sparse entry (tar): holes read as zeros.
    let sparse: Bool

    init(session: ArchiveSession, path: String, declared: Int64?, sparse: Bool = false) {
        self.session = session
        self.path = path
        self.declared = declared
        self.sparse = sparse
        self.sourceStart = session.consumedSourceBytes
    }

    func finish() { current = false }

    func mediumFile() -> MediumFile {
        MediumFile(
            path: path, size: declared.map { Int($0) } ?? 0,
            readPrefix: { (count: Int) throws(MediaError) -> Data in try self.read(offset: 0, count: count) },
            readRange: { (offset: Int, count: Int) throws(MediaError) -> Data in try self.read(offset: offset, count: count) },
            copyContents: { sink in try self.copy(to: sink) })
    }

    private func notCurrent() -> MediaError {
        MediaError(.unreadable, "archive entry read after its visit (archives are read as a stream)", path: path)
    }

    private func forwardOnly() -> MediaError {
        MediaError(.unreadable, "archive entries are read forward: the bytes asked for were streamed past and are no longer held", path: path)
    }

    private var heldEnd: Int { retainedStart + retained.count }

    private func held(_ offset: Int, _ end: Int) -> Data {
        guard offset < heldEnd else { return Data() }
        let lower = retained.startIndex + (offset - retainedStart)
        let upper = retained.startIndex + (min(end, heldEnd) - retainedStart)
        return Data(retained[lower..<upper])
    }

    func read(offset: Int, count: Int) throws(MediaError) -> Data {
        guard current else { throw notCurrent() }
        guard offset >= 0 else { throw MediaError(.unreadable, "negative offset \(offset)", path: path) }
        let (sum, overflow) = offset.addingReportingOverflow(max(count, 0))
        let end = overflow ? Int.max : sum
        // Held already (a prefix asked again, also after a copy).
        if offset >= retainedStart, end <= heldEnd || (atEnd && heldEnd == position) {
            return held(offset, end)
        }
        if offset < retainedStart || (heldEnd < position && offset < position) { throw forwardOnly() }
        if heldEnd < position {   // a copy streamed past what is held: start a new window here
            retained = Data()
            retainedStart = position
        }
        while position < end, !atEnd {
            try nextBlock { block in
                let blockEnd = self.position
                if self.retained.count + block.count > ArchiveMedium.retainedBytes, offset > self.retainedStart {
                    // Too much to hold: let go of what lies before the range.
                    if blockEnd <= offset {
                        self.retained = Data()
                        self.retainedStart = blockEnd
                        return
                    }
                    let drop = min(offset - self.retainedStart, self.retained.count)
                    self.retained.removeFirst(drop)
                    self.retainedStart += drop
                    if self.retained.isEmpty, self.retainedStart < offset {
                        let skip = offset - self.retainedStart
                        self.retained.append(contentsOf: UnsafeRawBufferPointer(rebasing: block[skip...]))
                        self.retainedStart = offset
                        return
                    }
                }
                self.retained.append(contentsOf: block)
            }
        }
        return held(offset, end)
    }

    /// Bytes of an entry kept while copying it, so a header can still be
    /// read after a copy.
    static let retainedWhileCopying = 1 << 20

    /// Streams the whole entry to `sink`: what is held, then the rest
    /// straight from libarchive.
    func copy(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard current else { throw notCurrent() }
        guard retainedStart == 0, heldEnd == position else { throw forwardOnly() }
        try retained.withUnsafeBytes { try sink($0) }
        var sinkError: (any Error)?
        while !atEnd, sinkError == nil {
            try nextBlock { block in
                if self.heldEnd == self.position - block.count, self.retained.count < ArchiveEntryReader.retainedWhileCopying {
                    self.retained.append(contentsOf: block)
                }
                do { try sink(block) } catch { sinkError = error }
            }
        }
        if let sinkError { throw sinkError }
    }

    /// Reads the rest of the entry, discarding it (the bounds still apply).
    func drain() throws(MediaError) {
        while !atEnd { try nextBlock { _ in } }
    }

    private static let zeros = [UInt8](repeating: 0, count: 64 * 1024)

    /// A hole of a sparse entry not yet handed out, and the block after it
    /// (valid until the next libarchive call, made only once the hole is out).
    private var pendingHole = 0
    private var pendingBlock: UnsafeRawBufferPointer?

    /// Reads the next block of the entry (zero-copy from libarchive), checks
    /// the bounds, hands it to `body` (the bytes are valid only there).
    /// Holes of sparse entries read as zeros, 64 KiB at a time.
    private func nextBlock(_ body: (UnsafeRawBufferPointer) -> Void) throws(MediaError) {
        if pendingHole > 0 {
            let piece = min(pendingHole, ArchiveEntryReader.zeros.count)
            try account(piece)
            pendingHole -= piece
            ArchiveEntryReader.zeros.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<piece])) }
            return
        }
        if let block = pendingBlock {
            pendingBlock = nil
            try account(block.count)
            body(block)
            return
        }
        let archive = session.archive
        var buffer: UnsafeRawPointer?
        var size = 0
        var blockOffset: Int64 = 0
        let rc = archive_read_data_block(archive, &buffer, &size, &blockOffset)
        if rc == ARCHIVE_EOF {
            // libarchive ends a sparse entry at its last data: the hole up
            // to the declared size is still to come.
            if sparse, let declared, Int64(position) < declared {
                pendingHole = Int(declared) - position
                try nextBlock(body)
                return
            }
            atEnd = true
            return
        }
        guard rc >= ARCHIVE_WARN else {
            let message = session.errorMessage()
            if message.localizedCaseInsensitiveContains("passphrase") || message.localizedCaseInsensitiveContains("encrypt") {
                if session.medium.passphrase != nil {
                    throw MediaError(.unreadable, "encrypted entry \(path): cannot decrypt it, wrong passphrase? (\(message))",
                                     path: session.medium.location)
                }
                throw MediaError(.unsupportedFormat, "encrypted entry \(path): discport cannot read it without the passphrase (\(message))",
                                 path: session.medium.location)
            }
            throw MediaError(.unreadable, "cannot read entry \(path): \(message)", path: session.medium.location)
        }
        let block = UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : size)
        let hole = Int(clamping: blockOffset) - position
        if hole > 0 {
            pendingHole = hole
            pendingBlock = block.isEmpty ? nil : block
            try nextBlock(body)
            return
        }
        guard !block.isEmpty else { return }
        try account(block.count)
        body(block)
    }

    /// Counts `count` more expanded bytes and enforces the bounds.
    private func account(_ count: Int) throws(MediaError) {
        position += count
        session.totalExpanded += Int64(count)
        let limits = session.limits
        let location = session.medium.location
        if let declared, Int64(position) > declared {
            throw MediaError(.expansionLimit,
                             "entry \(path) expands past its declared size of \(declared) bytes: refused as a zip bomb",
                             path: location)
        }
        if session.totalExpanded > limits.maximumTotalBytes {
            throw MediaError(.expansionLimit,
                             "the archive expands past \(limits.maximumTotalBytes) bytes (at \(path)): refused as a zip bomb",
                             path: location)
        }
        if session.compressed, Int64(position) >= limits.ratioCheckThreshold {
            let consumed = max(session.consumedSourceBytes - sourceStart, 1)
            let ratio = Double(position) / Double(consumed)
            if ratio > limits.maximumCompressionRatio {
                throw MediaError(.expansionLimit,
                                 "entry \(path) expands more than \(Int(limits.maximumCompressionRatio)):1 (\(position) bytes from \(consumed)): refused as a zip bomb",
                                 path: location)
            }
        }
    }
}

// MARK: - Writing (test fixtures; never used to extract)

/// Writes a zip, ISO 9660 or (compressed) tar with libarchive from entries
/// held in memory. Internal: the tests build hostile and ordinary archives
/// with it.
enum LibarchiveWriter {
    struct Entry {
        var path: String
        /// Contents; nil for a folder.
        var data: Data?
        /// A run of zero bytes appended after `data` (bombs), streamed.
        var zeros: Int = 0
        /// Makes the entry a symbolic link to this target.
        var symlink: String? = nil

        init(path: String, data: Data?, zeros: Int = 0, symlink: String? = nil) {
            self.path = path; self.data = data; self.zeros = zeros; self.symlink = symlink
        }
    }

    /// `format`: a libarchive format name (`zip`, `iso9660`, `pax`, `ustar`);
    /// `filter`: `gzip`, `bzip2`, `xz` or nil; `options` as for
    /// `archive_write_set_options`.
    static func write(_ entries: [Entry], to path: String, format: String, filter: String? = nil,
                      options: String? = nil, passphrase: String? = nil) throws(MediaError) {
        try withUTF8Locale { () throws(MediaError) -> Void in
            try writeInLocale(entries, to: path, format: format, filter: filter, options: options, passphrase: passphrase)
        }
    }

    private static func writeInLocale(_ entries: [Entry], to path: String, format: String, filter: String?,
                                      options: String?, passphrase: String?) throws(MediaError) {
        guard let archive = archive_write_new() else { throw MediaError(.unreadable, "libarchive: out of memory", path: path) }
        defer { archive_write_free(archive) }
        func check(_ rc: Int32, _ what: String) throws(MediaError) {
            guard rc >= ARCHIVE_WARN else {
                let message = archive_error_string(archive).map { String(cString: $0) } ?? "error \(rc)"
                throw MediaError(.unreadable, "\(what): \(message)", path: path)
            }
        }
        try check(archive_write_set_format_by_name(archive, format), "format \(format)")
        if let filter { try check(archive_write_add_filter_by_name(archive, filter), "filter \(filter)") }
        if let options { try check(archive_write_set_options(archive, options), "options \(options)") }
        if let passphrase { try check(archive_write_set_passphrase(archive, passphrase), "passphrase") }
        try check(archive_write_open_filename(archive, path), "open")
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for item in entries {
            guard let entry = archive_entry_new() else { throw MediaError(.unreadable, "libarchive: out of memory", path: path) }
            defer { archive_entry_free(entry) }
            archive_entry_copy_pathname(entry, item.path)   // as bytes: no conversion to the (C) locale
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            if let target = item.symlink {
                archive_entry_set_filetype(entry, 0o120000)
                archive_entry_set_perm(entry, 0o777)
                archive_entry_set_symlink_utf8(entry, target)
                try check(archive_write_header(archive, entry), "header \(item.path)")
                continue
            }
            guard let data = item.data else {
                archive_entry_set_filetype(entry, 0o040000)
                archive_entry_set_perm(entry, 0o755)
                try check(archive_write_header(archive, entry), "header \(item.path)")
                continue
            }
            archive_entry_set_filetype(entry, 0o100000)
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_size(entry, Int64(data.count + item.zeros))
            try check(archive_write_header(archive, entry), "header \(item.path)")
            let written = data.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
            guard written >= 0 else { try check(Int32(written), "data \(item.path)"); continue }
            var left = item.zeros
            while left > 0 {
                let n = min(left, zeros.count)
                let rc = zeros.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, n) }
                guard rc > 0 else { try check(Int32(rc), "data \(item.path)"); break }
                left -= rc
            }
        }
        try check(archive_write_close(archive), "close")
    }
}
