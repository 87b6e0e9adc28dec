import DICOM
import Foundation

/// Where things live under a store's home (`$DISCPORT_HOME`):
///
/// ```
/// catalog.sqlite                 the SQLite catalog (+ -wal, -shm)
/// instances/<Study>/<Series>/<SOPInstance>.dcm
///                                one Part 10 file per SOP Instance
/// conflicts/<SOPInstance>/<sha256>.dcm
///                                copies whose SOP Instance UID was already
///                                stored with other content, kept aside
/// tmp/<session>/                 temporary files of one open store, locked
///                                with flock(2); removed on close, and left
///                                over sessions removed when a store opens
/// ```
///
/// `<Study>`, `<Series>`, `<SOPInstance>` are the UIDs themselves when they
/// are safe as file names (1–64 characters of digits and dots starting with
/// a digit, which every valid UID is); anything else — an empty UID,
/// letters, slashes, `..`, over-long text — becomes `x` followed by the
/// first 40 hex digits of the SHA-256 of the UID text, so no UID can escape
/// its folder or collide with a valid one. The catalog keeps paths relative
/// to the home, so a store can be moved.
enum Layout {
    static let catalogFile = "catalog.sqlite"
    static let instancesFolder = "instances"
    static let conflictsFolder = "conflicts"
    static let temporaryFolder = "tmp"
    /// `outbox/NODE/UID.dcm`: instances written for a node without being
    /// stored (`import --send --no-store`), until the node acknowledges them.
    static let outboxRoot = "outbox"

    static func outboxFolder(node: String) -> String {
        let safe = String(node.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" })
        return outboxRoot + "/" + (safe.isEmpty || safe.hasPrefix(".") ? "_" + safe : safe)
    }

    /// A UID as one path component (see the type's documentation).
    static func component(forUID uid: String) -> String {
        let bytes = Array(uid.utf8)
        if (1...64).contains(bytes.count), let first = bytes.first, first >= 0x30, first <= 0x39,
           bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) {
            return uid
        }
        return "x" + FileIO.sha256Hex(of: uid).prefix(40)
    }

    /// `instances/<Study>/<Series>/<SOPInstance>.dcm`
    static func instancePath(_ s: InstanceSummary) -> String {
        "\(instancesFolder)/\(component(forUID: s.studyInstanceUID))/\(component(forUID: s.seriesInstanceUID))/\(component(forUID: s.sopInstanceUID)).dcm"
    }

    /// `conflicts/<SOPInstance>/<sha256>.dcm`
    static func conflictPath(sopInstanceUID: String, sha256: String) -> String {
        "\(conflictsFolder)/\(component(forUID: sopInstanceUID))/\(sha256).dcm"
    }

    /// The Part 10 header written in front of a raw data set: a zero
    /// preamble, `DICM`, and file meta information completed by
    /// ``DICOMWriter/completedMeta(for:)`` (group length, version, SOP
    /// Class and Instance, the data set's transfer syntax, discport's
    /// implementation UID and version name).
    static func fileMetaHeader(for s: InstanceSummary) throws -> Data {
        guard !s.sopClassUID.isEmpty else {
            throw StoreError(.invalidInput, "cannot add file meta information to \(s.sopInstanceUID): the data set has no SOP Class UID")
        }
        guard !s.transferSyntaxUID.isEmpty else {
            throw StoreError(.invalidInput, "cannot add file meta information to \(s.sopInstanceUID): no transfer syntax given")
        }
        var meta = Dataset()
        meta.set(DataElement(tag: DICOM.Tag(0x0002, 0x0002), vr: .UI, bytes: DICOMWriter.paddedUID(s.sopClassUID)))
        meta.set(DataElement(tag: DICOM.Tag(0x0002, 0x0003), vr: .UI, bytes: DICOMWriter.paddedUID(s.sopInstanceUID)))
        let file = DICOMFile(meta: meta, dataset: Dataset(), transferSyntax: TransferSyntax(uid: s.transferSyntaxUID))
        let completed = try DICOMWriter.completedMeta(for: file)
        var header = Data(count: 128)
        header.append(contentsOf: [0x44, 0x49, 0x43, 0x4D])
        header.append(try DICOMWriter.encode(completed, transferSyntax: .explicitVRLittleEndian))
        return header
    }

    /// Refuses a "raw data set" whose first bytes show a Part 10 header or
    /// file meta information: prepending another header would break it.
    static func checkRawDataSetStart(_ chunk: UnsafeRawBufferPointer, path: String) throws {
        if chunk.count >= 132, chunk[128] == 0x44, chunk[129] == 0x49, chunk[130] == 0x43, chunk[131] == 0x4D {
            throw StoreError(.invalidInput, "the source has a Part 10 header already (DICM at offset 128); store it as it is", path: path)
        }
        if chunk.count >= 4, chunk[0] == 0x44, chunk[1] == 0x49, chunk[2] == 0x43, chunk[3] == 0x4D {
            throw StoreError(.invalidInput, "the source starts with DICM (a Part 10 header without preamble); store it as it is", path: path)
        }
        if chunk.count >= 2, chunk[0] == 0x02, chunk[1] == 0x00 {
            throw StoreError(.invalidInput, "the source starts with file meta information (group 0002); store it as it is", path: path)
        }
    }
}
