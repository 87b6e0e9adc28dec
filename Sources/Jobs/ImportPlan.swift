import Media
import Reconcile

/// What to do with one patient found on a medium.
public enum PatientDecision: Sendable, Hashable {
    /// Store the instances under the identity they came with (`--as-is`).
    case keepSourceIdentity
    /// File them under a local patient: Patient ID (and issuer) coerced,
    /// the foreign identity kept in Original Attributes Sequence.
    case assign(LocalIdentity)
    /// Import nothing of this patient.
    case skip
}

/// Who or what decided a patient's local identity (remembered with it).
public enum DecisionSource: String, Sendable, Hashable, Codable {
    /// `--patient-id` on the command line.
    case explicit
    /// A unique exact match in the registry (`--auto`).
    case automatic = "auto"
    /// The user picked it on a terminal.
    case interactive
    /// A row of a `--mapping` file.
    case mappingFile = "mapping-file"
    /// An earlier decision for the same foreign issuer and Patient ID.
    case remembered
}

/// A scanned medium and, per patient on it, what the import does.
///
/// Patients are those of ``report`` (same order, same grouping as `discport
/// scan`), so a decision can never reach an instance of another patient: the
/// import files each instance by the patient its path was seen under.
public struct ImportPlan: Sendable {
    public let report: ScanReport
    /// One per `report.patients`, same order.
    public var decisions: [PatientDecision]
    /// Who decided each assignment (remembered for the next disc from the
    /// same hospital); nil for kept or skipped patients.
    public var decidedBy: [DecisionSource?]
    /// What re-identified instances do with the foreign Accession Number.
    public var accession: AccessionPolicy = .keep
    /// Convert the medium's JPEG, PNG, TIFF, BMP and PDF files into DICOM
    /// and import them into new series of the patient's latest study on
    /// the medium (only when exactly one patient is imported).
    public var convertLooseFiles = false
    /// A medium without DICOM instances (a referral letter, photos): the
    /// local patient its documents are converted for (`--convert
    /// --patient-id LOCAL`), into a study of their own; nil otherwise.
    /// Set with ``ImportJob/documentsPatient(localPatientID:)``.
    public var documentsPatient: LocalIdentity?

    /// The medium's files `--convert` turns into DICOM: JPEG, PNG, TIFF, BMP, PDF.
    public var convertibleFiles: [ScanReport.LooseFile] {
        report.looseFiles.filter { LooseFileConversion.convertibleKinds.contains($0.kind) }
    }

    /// Patient index and SOP Instance UID of every instance, by path.
    let instanceByPath: [String: (patient: Int, sopInstanceUID: String?)]

    /// The headers the scan read, by path (empty when the plan was made
    /// from a report alone): instances kept as they are get filed from
    /// these without their header being parsed again.
    let headers: [String: ScannedHeader]
    /// Files whose file meta and data set name different SOP Instance UIDs:
    /// their header is read again (the store files them by the meta's).
    let uidMismatches: Set<String>

    public init(report: ScanReport, decision: PatientDecision = .skip) {
        self.init(report: report, headers: [:], decision: decision)
    }

    public init(report: ScanReport, headers: [String: ScannedHeader], decision: PatientDecision = .skip) {
        self.report = report
        self.headers = headers
        self.uidMismatches = Set(report.problems.filter { $0.code == .uidMismatch }.compactMap(\.path))
        self.decisions = Array(repeating: decision, count: report.patients.count)
        self.decidedBy = Array(repeating: nil, count: report.patients.count)
        var byPath: [String: (patient: Int, sopInstanceUID: String?)] = [:]
        for (index, patient) in report.patients.enumerated() {
            for study in patient.studies {
                for series in study.series {
                    for instance in series.instances {
                        byPath[instance.path] = (index, instance.sopInstanceUID)
                    }
                }
            }
        }
        self.instanceByPath = byPath
    }

    /// Instances the plan imports (patients not skipped).
    public var plannedInstances: Int {
        zip(report.patients, decisions).reduce(0) { $0 + ($1.1 == .skip ? 0 : $1.0.instanceCount) }
    }

    /// Bytes of the instances the plan imports.
    public var plannedBytes: Int {
        zip(report.patients, decisions).reduce(0) { $0 + ($1.1 == .skip ? 0 : $1.0.size) }
    }

    /// Index of the patient whose source Patient ID is `id` (exactly one).
    public func patientIndex(sourcePatientID id: String) -> [Int] {
        report.patients.indices.filter { (report.patients[$0].patientID ?? "") == id }
    }
}
