import DICOM
import Foundation

/// Where discport reads patient media from: a mounted folder, an ISO 9660 /
/// Joliet / UDF image, a raw optical device read as an image, a zip or tar
/// archive, or a single file. Media are only ever read, never written.
public enum MediumKind: String, Sendable, Codable {
    case folder, iso9660 = "iso", zip, tar, device, file
}

/// One regular file on a medium, handed to the visitor of ``Medium/visitFiles(_:)``.
///
/// `readPrefix` is valid only during the visit: archives are read as a
/// stream, so the bytes of an entry can be read only while it is current.
public struct MediumFile {
    /// Path relative to the medium's root, `/`-separated, exactly as the
    /// medium names it (case, `;1` suffixes and trailing dots kept).
    public let path: String
    /// Size in bytes.
    public let size: Int
    /// Returns the first `count` bytes (fewer at the end of the file); may
    /// be called again with a larger count.
    public let readPrefix: (_ count: Int) throws(MediaError) -> Data
    /// Returns `count` bytes from `offset` (fewer at the end of the file).
    /// Folders read there directly; archives read forward through the
    /// current entry, so prefer increasing offsets.
    public let readRange: (_ offset: Int, _ count: Int) throws(MediaError) -> Data
    /// Copies the whole file (streamed, never held in memory) to a sink.
    public let copyContents: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    public init(path: String, size: Int,
                readPrefix: @escaping (_ count: Int) throws(MediaError) -> Data,
                readRange: @escaping (_ offset: Int, _ count: Int) throws(MediaError) -> Data,
                copyContents: @escaping (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.path = path
        self.size = size
        self.readPrefix = readPrefix
        self.readRange = readRange
        self.copyContents = copyContents
    }
}

/// A problem with the medium itself (not with one DICOM file on it).
public struct MediaError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case unreadable            // cannot open or read the source
        case unsupportedFormat = "unsupported-format"
        case pathTraversal = "path-traversal"     // absolute path or `..` in an archive entry
        case symlinkLoop = "symlink-loop"
        case expansionLimit = "expansion-limit"   // zip bomb: expands past the bound
        case entryLimit = "entry-limit"           // more entries than the bound
        case notFound = "not-found"
    }
    public var kind: Kind
    public var path: String?
    public var message: String
    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind; self.message = message; self.path = path
    }
    public var description: String { [path, message].compactMap { $0 }.joined(separator: ": ") }
}

/// Bounds that keep hostile media from exhausting the machine.
public struct MediumLimits: Sendable, Hashable {
    public var maximumEntries: Int = 500_000
    public var maximumTotalBytes: Int64 = 64 << 30          // 64 GiB expanded
    public var maximumCompressionRatio: Double = 200         // per archive entry (zip bombs)
    public var maximumDepth: Int = 64                         // folder nesting
    /// The compression ratio is enforced once an entry has expanded past
    /// this many bytes: a small blank frame deflates 1000:1 and is no bomb.
    public var ratioCheckThreshold: Int64 = 16 << 20
    public init() {}
}

/// A readable medium. Implementations: folder, archive/image (libarchive), single file.
public protocol Medium: Sendable {
    /// What the user named: a path to a folder, image, archive, device or file.
    var location: String { get }
    var kind: MediumKind { get }
    /// Volume identifier of an ISO image or disc, when there is one.
    var volumeLabel: String? { get }
    /// Visits every regular file once. Folders may visit in parallel from
    /// several threads (the visitor must be thread-safe); archives visit in
    /// archive order on the calling thread. Hostile content (path traversal,
    /// bombs, encrypted entries, too many entries) stops the visit with a
    /// MediaError; an error thrown by the visitor stops it too and is
    /// rethrown. What is merely left out (see the `skipped:` form) does not.
    func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void) throws
    /// Same visit, and reports what was left out without stopping the visit:
    /// a symlink loop (`.symlinkLoop`), a dangling link (`.notFound`) or a
    /// link leaving the medium (`.pathTraversal`) in a folder, an unreadable
    /// folder (`.unreadable`), a folder nested deeper than
    /// ``MediumLimits/maximumDepth`` (`.entryLimit`), a symbolic or hard
    /// link entry in an archive (`.unsupportedFormat`). `skipped` may be
    /// called concurrently with the visitor for folders.
    func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void,
                    skipped: @escaping @Sendable (MediaError) -> Void) throws
}

extension Medium {
    /// Default for media that never skip anything: the plain visit.
    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void,
                           skipped: @escaping @Sendable (MediaError) -> Void) throws {
        try visitFiles(visitor)
    }
}
