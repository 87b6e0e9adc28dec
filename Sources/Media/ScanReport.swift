import Foundation

/// What `discport scan` found on a medium: the patient → study → series →
/// instance tree of the readable DICOM files, every problem, the documents
/// that could be converted, and what was ignored.
///
/// `Codable` with a stable snake_case schema (README, "`discport scan
/// --json` schema"). Optional values are written as `null`, never left
/// out; keys are only ever added.
public struct ScanReport: Sendable, Codable {
    /// Schema version; bumped only for incompatible changes.
    public var format: Int = 1
    public var source: Source
    /// False when the visit of the medium stopped early (see the
    /// `medium-error` problem): the counts are then a lower bound.
    public var complete: Bool
    public var totals: Totals
    public var patients: [Patient]
    /// Errors first, then warnings, then information; by path within each.
    public var problems: [ScanProblem]
    /// Non-DICOM documents and pictures offered for conversion to DICOM.
    public var looseFiles: [LooseFile]
    /// Files that are not imported: viewer, web pages, autorun, text, OS junk.
    public var ignored: [IgnoredFile]
    /// The DICOMDIR nearest the top of the medium; nil when there is none.
    public var dicomdir: DICOMDIRSummary?
    /// Further DICOMDIRs (a zip holding two discs).
    public var otherDICOMDIRs: [DICOMDIRSummary]

    public struct Source: Sendable, Codable, Hashable {
        /// What the user named.
        public var path: String
        /// nil when the source could not be opened.
        public var kind: MediumKind?
        public var volumeLabel: String?

        enum CodingKeys: String, CodingKey { case path, kind, volumeLabel = "volume_label" }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(kind, forKey: .kind)
            try c.encode(volumeLabel, forKey: .volumeLabel)
        }
    }

    public struct Totals: Sendable, Codable, Hashable {
        public var patients = 0
        public var studies = 0
        public var series = 0
        /// Readable, undamaged DICOM instances (the tree's leaves).
        public var instances = 0
        /// DICOM files reported `truncated`, `damaged` or `unreadable-file`.
        public var damaged = 0
        /// DICOMDIR references with no file (`referenced-file-missing`).
        public var missing = 0
        /// Entries of ``ScanReport/looseFiles``.
        public var loose = 0
        /// Every regular file visited.
        public var files = 0
        /// Bytes of the instances in the tree.
        public var size = 0

        public init() {}
    }

    public struct Patient: Sendable, Codable, Hashable {
        public var patientID: String?
        /// Issuer of Patient ID (0010,0021), the first one its instances carry.
        public var issuerOfPatientID: String?
        /// Patient's Name in DICOM PN form, decoded: `alphabetic=ideographic=phonetic`.
        public var name: String?
        public var nameAlphabetic: String?
        public var nameIdeographic: String?
        public var namePhonetic: String?
        /// DICOM DA, `YYYYMMDD`.
        public var birthDate: String?
        public var sex: String?
        public var instanceCount: Int
        public var size: Int
        public var studies: [Study]

        enum CodingKeys: String, CodingKey {
            case patientID = "patient_id", issuerOfPatientID = "issuer_of_patient_id", name, nameAlphabetic = "name_alphabetic", nameIdeographic = "name_ideographic"
            case namePhonetic = "name_phonetic", birthDate = "birth_date", sex, instanceCount = "instance_count", size, studies
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(patientID, forKey: .patientID)
            try c.encode(issuerOfPatientID, forKey: .issuerOfPatientID)
            try c.encode(name, forKey: .name)
            try c.encode(nameAlphabetic, forKey: .nameAlphabetic)
            try c.encode(nameIdeographic, forKey: .nameIdeographic)
            try c.encode(namePhonetic, forKey: .namePhonetic)
            try c.encode(birthDate, forKey: .birthDate)
            try c.encode(sex, forKey: .sex)
            try c.encode(instanceCount, forKey: .instanceCount)
            try c.encode(size, forKey: .size)
            try c.encode(studies, forKey: .studies)
        }
    }

    public struct Study: Sendable, Codable, Hashable {
        public var studyInstanceUID: String?
        /// DICOM DA / TM as written.
        public var studyDate: String?
        public var studyTime: String?
        public var studyDescription: String?
        public var accessionNumber: String?
        public var studyID: String?
        public var instanceCount: Int
        public var size: Int
        public var series: [Series]

        enum CodingKeys: String, CodingKey {
            case studyInstanceUID = "study_instance_uid", studyDate = "study_date", studyTime = "study_time"
            case studyDescription = "study_description", accessionNumber = "accession_number", studyID = "study_id"
            case instanceCount = "instance_count", size, series
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(studyInstanceUID, forKey: .studyInstanceUID)
            try c.encode(studyDate, forKey: .studyDate)
            try c.encode(studyTime, forKey: .studyTime)
            try c.encode(studyDescription, forKey: .studyDescription)
            try c.encode(accessionNumber, forKey: .accessionNumber)
            try c.encode(studyID, forKey: .studyID)
            try c.encode(instanceCount, forKey: .instanceCount)
            try c.encode(size, forKey: .size)
            try c.encode(series, forKey: .series)
        }
    }

    public struct Series: Sendable, Codable, Hashable {
        public var seriesInstanceUID: String?
        public var seriesNumber: Int?
        public var modality: String?
        public var seriesDescription: String?
        public var instanceCount: Int
        public var size: Int
        /// The distinct transfer syntax UIDs of the instances, sorted.
        public var transferSyntaxes: [String]
        public var instances: [Instance]

        enum CodingKeys: String, CodingKey {
            case seriesInstanceUID = "series_instance_uid", seriesNumber = "series_number", modality
            case seriesDescription = "series_description", instanceCount = "instance_count", size
            case transferSyntaxes = "transfer_syntaxes", instances
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(seriesInstanceUID, forKey: .seriesInstanceUID)
            try c.encode(seriesNumber, forKey: .seriesNumber)
            try c.encode(modality, forKey: .modality)
            try c.encode(seriesDescription, forKey: .seriesDescription)
            try c.encode(instanceCount, forKey: .instanceCount)
            try c.encode(size, forKey: .size)
            try c.encode(transferSyntaxes, forKey: .transferSyntaxes)
            try c.encode(instances, forKey: .instances)
        }
    }

    public struct Instance: Sendable, Codable, Hashable {
        public var sopInstanceUID: String?
        public var sopClassUID: String?
        public var transferSyntaxUID: String
        public var instanceNumber: Int?
        /// Path on the medium, relative to its root.
        public var path: String
        public var size: Int
        /// The file has a Part 10 header (false: a raw data set).
        public var hasFileMeta: Bool

        enum CodingKeys: String, CodingKey {
            case sopInstanceUID = "sop_instance_uid", sopClassUID = "sop_class_uid", transferSyntaxUID = "transfer_syntax_uid"
            case instanceNumber = "instance_number", path, size, hasFileMeta = "has_file_meta"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(sopInstanceUID, forKey: .sopInstanceUID)
            try c.encode(sopClassUID, forKey: .sopClassUID)
            try c.encode(transferSyntaxUID, forKey: .transferSyntaxUID)
            try c.encode(instanceNumber, forKey: .instanceNumber)
            try c.encode(path, forKey: .path)
            try c.encode(size, forKey: .size)
            try c.encode(hasFileMeta, forKey: .hasFileMeta)
        }
    }

    public struct LooseFile: Sendable, Codable, Hashable {
        public var path: String
        /// ``FileKind`` raw value: `jpeg`, `png`, `tiff`, `bmp`, `pdf`.
        public var kind: String
        public var size: Int
    }

    /// Why a file is not imported.
    public enum IgnoredReason: String, Sendable, Codable, Hashable, CaseIterable {
        /// `__MACOSX/`, `._*`, `.DS_Store`, `Thumbs.db`, `desktop.ini`, …
        case osJunk = "os-junk"
        /// Viewer programs and their files, web pages (`INDEX.HTM`, `IHE_PDI/`), executables.
        case viewer
        case autorun
        /// Plain text (`README.TXT`).
        case text
        /// An archive inside the medium (not opened; scan it on its own).
        case archive
        /// A picture format not offered for conversion (GIF).
        case image
        case empty
        /// Neither DICOM nor a known format.
        case unrecognized
    }

    public struct IgnoredFile: Sendable, Codable, Hashable {
        public var path: String
        public var reason: IgnoredReason
        public var size: Int
    }

    public struct DICOMDIRSummary: Sendable, Codable, Hashable {
        public var path: String
        public var fileSetID: String?
        public var transferSyntaxUID: String
        /// `offsets`, `corrected-offsets`, `record-order` or `empty`.
        public var treeSource: DICOMDirectory.TreeSource
        /// Written offsets minus true offsets (−132 for the preamble bug).
        public var offsetShift: Int
        public var records: Int
        public var inactiveRecords: Int
        public var skippedRecords: Int
        public var patients: Int
        public var studies: Int
        public var series: Int
        /// Instance records in the tree.
        public var instances: Int
        /// Distinct files the records reference that are on the medium.
        public var referencedFiles: Int
        /// File IDs with no file.
        public var missingFiles: Int

        enum CodingKeys: String, CodingKey {
            case path, fileSetID = "file_set_id", transferSyntaxUID = "transfer_syntax_uid", treeSource = "tree_source"
            case offsetShift = "offset_shift", records, inactiveRecords = "inactive_records", skippedRecords = "skipped_records"
            case patients, studies, series, instances, referencedFiles = "referenced_files", missingFiles = "missing_files"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(fileSetID, forKey: .fileSetID)
            try c.encode(transferSyntaxUID, forKey: .transferSyntaxUID)
            try c.encode(treeSource, forKey: .treeSource)
            try c.encode(offsetShift, forKey: .offsetShift)
            try c.encode(records, forKey: .records)
            try c.encode(inactiveRecords, forKey: .inactiveRecords)
            try c.encode(skippedRecords, forKey: .skippedRecords)
            try c.encode(patients, forKey: .patients)
            try c.encode(studies, forKey: .studies)
            try c.encode(series, forKey: .series)
            try c.encode(instances, forKey: .instances)
            try c.encode(referencedFiles, forKey: .referencedFiles)
            try c.encode(missingFiles, forKey: .missingFiles)
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, source, complete, totals, patients, problems, looseFiles = "loose_files", ignored, dicomdir
        case otherDICOMDIRs = "other_dicomdirs"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(source, forKey: .source)
        try c.encode(complete, forKey: .complete)
        try c.encode(totals, forKey: .totals)
        try c.encode(patients, forKey: .patients)
        try c.encode(problems, forKey: .problems)
        try c.encode(looseFiles, forKey: .looseFiles)
        try c.encode(ignored, forKey: .ignored)
        try c.encode(dicomdir, forKey: .dicomdir)
        try c.encode(otherDICOMDIRs, forKey: .otherDICOMDIRs)
    }

    // MARK: - Outcome

    public var errorCount: Int { problems.filter { $0.severity == .error }.count }
    public var warningCount: Int { problems.filter { $0.severity == .warning }.count }

    /// `discport scan`'s exit status: 2 when the source could not be read
    /// (or only partly), 1 when there are errors or warnings, 0 otherwise.
    public var exitStatus: Int32 {
        if !complete { return 2 }
        return problems.contains { $0.severity != .info } ? 1 : 0
    }

    /// The same bytes as ``jsonData()`` through JSONEncoder and the Codable
    /// conformances (the reference the direct writer is tested against).
    func encodedJSONData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
