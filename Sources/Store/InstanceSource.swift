#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation

/// The bytes of one instance, streamed: from a file on a medium, an entry
/// of an ISO image or a zip, or memory.
///
/// The store never holds a whole file: ``copyContents`` hands it chunks,
/// which are hashed and written as they come. `copyContents` is called
/// exactly once per ``InstanceStore/store(_:summary:importID:)`` call, so a
/// source that can be read only once (an archive entry being visited) works.
public struct InstanceSource {
    /// Path of the file on its medium (kept in the catalog as the original path).
    public var originalPath: String
    /// The size the source announced; when given, a different number of
    /// bytes streamed is an error (the medium changed or the read was short).
    public var expectedSize: Int?
    /// The bytes are a raw data set without Part 10 header: the store
    /// writes a preamble, `DICM` and file meta information in front of them
    /// (the data set itself is copied verbatim). False: the bytes are
    /// stored exactly as they come.
    public var needsFileMeta: Bool
    /// Streams the whole content to the sink, in order. The same shape as
    /// `MediumFile.copyContents` of the Media module.
    public var copyContents: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    /// Set when discport changed attributes (reconciliation): the stored
    /// file is ``Rewrite/header`` followed by the source from
    /// ``Rewrite/replacedLength`` on. The source is still hashed whole, so
    /// importing the same medium again finds the instance already stored.
    public var rewrite: Rewrite?

    /// SHA-256 (hex) of the original this instance was made from (a JPEG or
    /// PDF converted by discport). When set, it stands for the source in
    /// duplicate detection instead of the streamed bytes, so converting the
    /// same file again finds the instance already stored even though
    /// details such as the creation time differ.
    public var originSHA256: String?

    /// New leading bytes for a source whose attributes were coerced.
    public struct Rewrite: Sendable {
        /// The complete Part 10 header and data set up to where the source
        /// is copied again (usually the Pixel Data element).
        public var header: Data
        /// Bytes of the source that `header` replaces.
        public var replacedLength: Int
        /// What changed, one line per attribute (recorded in the audit log).
        public var changes: [String]

        public init(header: Data, replacedLength: Int, changes: [String]) {
            self.header = header
            self.replacedLength = replacedLength
            self.changes = changes
        }
    }

    public init(originalPath: String, expectedSize: Int? = nil, needsFileMeta: Bool = false, rewrite: Rewrite? = nil,
                copyContents: @escaping (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.originalPath = originalPath
        self.expectedSize = expectedSize
        self.needsFileMeta = needsFileMeta
        self.rewrite = rewrite
        self.copyContents = copyContents
    }

    /// A file on disk, read with `read(2)` in 1 MiB chunks.
    public static func file(atPath path: String, originalPath: String? = nil, needsFileMeta: Bool = false) -> InstanceSource {
        InstanceSource(originalPath: originalPath ?? path, expectedSize: nil, needsFileMeta: needsFileMeta) { sink in
            try FileIO.stream(path: path, sink)
        }
    }

    /// Bytes in memory (a file coerced or converted by discport itself).
    public static func data(_ data: Data, originalPath: String, needsFileMeta: Bool = false) -> InstanceSource {
        InstanceSource(originalPath: originalPath, expectedSize: data.count, needsFileMeta: needsFileMeta) { sink in
            try data.withUnsafeBytes { try sink($0) }
        }
    }
}

/// The attributes the catalog files an instance under. The import job
/// gets them from the header it has already read (``init(file:)``), after
/// any reconciliation.
///
/// UIDs are taken without their padding. The SOP Instance UID is required;
/// a missing Study or Series Instance UID files the instance under an
/// empty one.
public struct InstanceSummary: Sendable, Hashable, Codable {
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// The transfer syntax of the data set; for a raw data set
    /// (``InstanceSource/needsFileMeta``) the one detected from its content,
    /// which goes into the file meta information.
    public var transferSyntaxUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var patientID: String
    public var issuerOfPatientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var patientSex: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var studyID: String?
    public var modality: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var instanceNumber: Int?

    public init(sopClassUID: String, sopInstanceUID: String, transferSyntaxUID: String,
                studyInstanceUID: String, seriesInstanceUID: String, patientID: String,
                issuerOfPatientID: String? = nil, patientName: String? = nil,
                patientBirthDate: String? = nil, patientSex: String? = nil,
                studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil,
                accessionNumber: String? = nil, studyID: String? = nil,
                modality: String? = nil, seriesNumber: Int? = nil, seriesDescription: String? = nil,
                instanceNumber: Int? = nil) {
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.transferSyntaxUID = transferSyntaxUID
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.patientID = patientID
        self.issuerOfPatientID = issuerOfPatientID
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.patientSex = patientSex
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.studyID = studyID
        self.modality = modality
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.instanceNumber = instanceNumber
    }

    /// The summary of a file read by the DICOM module (header mode is
    /// enough), with the values a scan of the medium takes (so an instance
    /// filed from its scanned header and one parsed again get the same
    /// rows): first values trimmed, names and descriptions whole and
    /// trimmed of white space (U+3000 too), SOP Class and Instance UIDs
    /// from the data set (the meta only where the data set has none),
    /// numbers as ``DICOM/Dataset/integerValue(_:)`` reads them.
    public init(file: DICOMFile) {
        let ds = file.dataset
        self.init(
            sopClassUID: UID.trimmed(ds.firstString(.sopClassUID) ?? file.meta.firstString(.mediaStorageSOPClassUID) ?? ""),
            sopInstanceUID: UID.trimmed(ds.firstString(.sopInstanceUID) ?? file.meta.firstString(.mediaStorageSOPInstanceUID) ?? ""),
            transferSyntaxUID: file.transferSyntax.uid,
            studyInstanceUID: UID.trimmed(ds.firstString(.studyInstanceUID) ?? ""),
            seriesInstanceUID: UID.trimmed(ds.firstString(.seriesInstanceUID) ?? ""),
            patientID: ds.firstString(.patientID) ?? "",
            issuerOfPatientID: ds.firstString(.issuerOfPatientID),
            patientName: ds.trimmedText(.patientName),
            patientBirthDate: ds.firstString(.patientBirthDate),
            patientSex: ds.firstString(.patientSex),
            studyDate: ds.firstString(.studyDate),
            studyTime: ds.firstString(.studyTime),
            studyDescription: ds.trimmedText(.studyDescription),
            accessionNumber: ds.firstString(.accessionNumber),
            studyID: ds.firstString(.studyID),
            modality: ds.firstString(.modality),
            seriesNumber: ds.integerValue(.seriesNumber),
            seriesDescription: ds.trimmedText(.seriesDescription),
            instanceNumber: ds.integerValue(.instanceNumber))
    }

    /// UIDs without padding.
    var normalized: InstanceSummary {
        var copy = self
        copy.sopClassUID = UID.trimmed(sopClassUID)
        copy.sopInstanceUID = UID.trimmed(sopInstanceUID)
        copy.transferSyntaxUID = UID.trimmed(transferSyntaxUID)
        copy.studyInstanceUID = UID.trimmed(studyInstanceUID)
        copy.seriesInstanceUID = UID.trimmed(seriesInstanceUID)
        return copy
    }
}
