/// How bad a problem found on a medium is.
///
/// - `error`: something the user loses or must not import as it is (a
///   damaged file, a file the DICOMDIR promises that is not there).
/// - `warning`: the medium deviates from the standard or needs a decision
///   (several patients, a broken DICOMDIR that was worked around).
/// - `info`: worth knowing, nothing to do (a viewer on the disc, files
///   without a Part 10 header).
///
/// `discport scan` exits with 1 when there is at least one error or warning.
public enum ProblemSeverity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case error, warning, info

    /// Errors first.
    var rank: Int {
        switch self {
        case .error: return 0
        case .warning: return 1
        case .info: return 2
        }
    }

    public static func < (lhs: ProblemSeverity, rhs: ProblemSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// Machine-readable problem codes of `discport scan`. The raw values are part
/// of the stable `--json` schema (README, "`discport scan --json` schema"):
/// codes are added, never renamed or removed.
public enum ProblemCode: String, Sendable, Hashable, Codable, CaseIterable {
    // The medium as a whole.
    /// The visit of the medium stopped early (unreadable disc or image,
    /// path traversal, zip bomb, too many entries); the report is partial.
    case mediumError = "medium-error"
    /// One entry of the medium was left out (symlink loop, link leaving the
    /// medium, unreadable folder, nesting too deep).
    case skipped
    /// DICOM files of more than one patient on one medium.
    case multiPatient = "multi-patient"
    /// One Patient ID with different names.
    case patientIDConflict = "patient-id-conflict"
    /// Different Patient IDs with the same name, birth date and sex: probably
    /// one person registered at two places; a person must decide.
    case possibleSamePatient = "possible-same-patient"
    /// One Study Instance UID under different patients.
    case studyInSeveralPatients = "study-in-several-patients"
    /// Web pages, executables and viewer runtimes on the medium (never imported).
    case viewerContent = "viewer-content"
    /// An `autorun.inf` (never followed).
    case autorun
    /// No DICOM file on the medium at all (only pictures or documents, or nothing).
    case noDICOMFiles = "no-dicom-files"
    /// A zip, tar or disc image inside the medium (a hospital's download
    /// holding the disc): not opened; extract it and scan it on its own.
    case nestedMedium = "nested-medium"

    // DICOM files.
    /// The file ends inside its header or its pixel data.
    case truncated
    /// The file's structure is broken (bad lengths, missing item tags, a
    /// `DICM` file whose data set is not DICOM).
    case damaged
    /// The file could not be read from the medium (I/O error).
    case unreadableFile = "unreadable-file"
    /// A data set without the Part 10 header (preamble, `DICM`, group 0002).
    case noFileMeta = "no-file-meta"
    /// Deviations from PS3.5 that did not stop reading (odd lengths, a
    /// transfer syntax that disagrees with the content).
    case encodingDeviation = "encoding-deviation"
    /// A SOP Instance, Study Instance or Series Instance UID is missing.
    case missingUID = "missing-uid"
    /// The same SOP Instance UID in more than one file.
    case duplicateInstance = "duplicate-instance"
    /// Text that does not decode with the declared Specific Character Set.
    case charsetUndecodable = "charset-undecodable"

    // The DICOMDIR compared with the files.
    /// No DICOMDIR on the medium (allowed for zips and folders; the files
    /// were found by scanning).
    case noDICOMDIR = "no-dicomdir"
    /// More than one DICOMDIR on the medium.
    case multipleDICOMDIRs = "multiple-dicomdirs"
    /// A DICOMDIR record references a file that is not on the medium.
    case referencedFileMissing = "referenced-file-missing"
    /// A DICOMDIR record references a file that is not DICOM.
    case referencedFileNotDICOM = "referenced-file-not-dicom"
    /// A DICOM file that no DICOMDIR record references.
    case fileNotInDICOMDIR = "file-not-in-dicomdir"
    /// A record's UIDs (SOP instance, SOP class, transfer syntax, series,
    /// study) or Patient ID disagree with the file it references.
    case uidMismatch = "uid-mismatch"

    // The DICOMDIR itself.
    /// The DICOMDIR cannot be read at all.
    case dicomdirUnreadable = "dicomdir-unreadable"
    /// Reading the DICOMDIR stopped at a fault; later records are lost.
    case dicomdirDamaged = "dicomdir-damaged"
    /// The DICOMDIR has no Part 10 header.
    case dicomdirNoMeta = "dicomdir-no-meta"
    /// The DICOMDIR is implicit VR (PS3.10 requires explicit VR little endian).
    case dicomdirImplicitVR = "dicomdir-implicit-vr"
    /// The DICOMDIR is explicit VR big endian.
    case dicomdirBigEndian = "dicomdir-big-endian"
    /// The DICOMDIR has no records.
    case dicomdirEmpty = "dicomdir-empty"
    /// File-set Consistency Flag FFFFH: the writer knew it was inconsistent.
    case dicomdirInconsistent = "dicomdir-inconsistent"
    /// Record offsets do not point at records (constant shift, zeros);
    /// corrected or rebuilt from the order of the records.
    case dicomdirWrongOffsets = "dicomdir-wrong-offsets"
    /// Record offsets form a loop.
    case dicomdirOffsetLoop = "dicomdir-offset-loop"
    /// Active records that no offset reaches, or that have no parent.
    case dicomdirOrphanRecord = "dicomdir-orphan-record"
    /// A record under the wrong kind of parent (a STUDY at the root).
    case dicomdirMisplacedRecord = "dicomdir-misplaced-record"
    /// A record with Record In-use Flag 0000H (deleted); skipped.
    case dicomdirInactiveRecord = "dicomdir-inactive-record"
    /// A PRIVATE or unknown record type; skipped.
    case dicomdirUnknownRecord = "dicomdir-unknown-record"
    /// A record lacks a Type 1 key (Patient ID, Study Instance UID, …).
    case dicomdirMissingKey = "dicomdir-missing-key"
    /// A Referenced File ID that cannot name a file (empty, `..`, absolute).
    case dicomdirBadFileID = "dicomdir-bad-file-id"
    /// Two records reference the same file.
    case dicomdirDuplicateReference = "dicomdir-duplicate-reference"
}

/// One problem found on a medium: what, how bad, which file.
public struct ScanProblem: Sendable, Hashable, Codable {
    public var code: ProblemCode
    public var severity: ProblemSeverity
    /// The file concerned, relative to the medium's root; nil for the medium
    /// as a whole.
    public var path: String?
    public var message: String

    public init(_ code: ProblemCode, _ severity: ProblemSeverity, path: String?, _ message: String) {
        self.code = code
        self.severity = severity
        self.path = path
        self.message = message
    }

    enum CodingKeys: String, CodingKey { case code, severity, path, message }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(severity, forKey: .severity)
        try c.encode(path, forKey: .path)       // null, not omitted
        try c.encode(message, forKey: .message)
    }
}
