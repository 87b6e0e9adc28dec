import Media

/// The end report of an import.
public struct ImportSummary: Sendable, Codable {
    /// Instance counts by outcome.
    public struct Counts: Sendable, Hashable, Codable {
        public var stored = 0
        public var adopted = 0
        public var duplicates = 0
        public var conflicts = 0
        public var failed = 0
        /// Instances of patients not imported.
        public var skipped = 0
        /// Dry run: instances that would be written / whose UID is known.
        public var wouldStore = 0
        public var wouldSkipKnown = 0
        /// `--no-store`: written for the node only (the outbox), not stored.
        public var outgoing = 0
        /// Bytes read from the medium for the instances handled.
        public var bytes = 0
        public init() {}

        mutating func add(_ outcome: InstanceOutcome, size: Int) {
            switch outcome {
            case .stored: stored += 1
            case .adopted: adopted += 1
            case .duplicate: duplicates += 1
            case .conflict: conflicts += 1
            case .failed: failed += 1
            case .skipped: skipped += 1
            case .wouldStore: wouldStore += 1
            case .wouldSkipKnown: wouldSkipKnown += 1
            case .outgoing: outgoing += 1
            }
            if outcome != .skipped { bytes += size }
        }

        /// Instances handled in any way.
        public var total: Int { stored + adopted + duplicates + conflicts + failed + skipped + wouldStore + wouldSkipKnown + outgoing }
    }

    /// One patient of the medium and what became of it.
    public struct Patient: Sendable, Codable {
        /// As on the medium.
        public var sourcePatientID: String?
        public var sourceName: String?
        public var birthDate: String?
        /// `as-is`, `assign`, `skip`, or `refused`: kept as it is, its
        /// Patient ID is someone else's in the clinic or on the medium (``IdentityWarning/Code/keptIDInUse``).
        public var decision: String
        /// The Patient ID its instances are filed under (nil when skipped).
        public var patientID: String?
        public var counts: Counts
    }

    public var importID: Int64?
    public var source: String
    public var dryRun: Bool
    /// False when the medium could not be read to its end.
    public var complete: Bool
    public var patients: [Patient]
    public var counts: Counts
    /// DICOM files on the medium too damaged to import.
    public var unreadable: [String]
    /// Non-DICOM files on the medium (not imported).
    public var looseFiles: [ScanReport.LooseFile]
    /// Instances that failed, with the reason.
    public var failures: [InstanceEvent]
    /// Instances kept aside because the store has other content under their UID.
    public var conflicts: [InstanceEvent]
    /// Why the medium could not be read to its end.
    public var mediumError: String?
    /// Non-DICOM files converted and imported (`--convert`).
    public var converted: Int = 0
    /// Why `--convert` converted nothing, or what it could not convert.
    public var conversionNotes: [String] = []
    public var seconds: Double
    /// Assignments applied as decided though something speaks against them
    /// (``ImportJob/identityWarnings(_:matcher:)``), which do not change
    /// the exit status, and kept identities refused (``IdentityWarning/refused``:
    /// left out, exit status 1).
    public var warnings: [IdentityWarning] = []
    /// `--send NODE`: what the node acknowledged, per instance in the
    /// ``ImportEvent/sent(_:)`` events.
    public var send: SendSummary?

    /// 0: every DICOM instance of the imported patients is in the store
    /// (and in the node, with `--send`); 1: conflicts, failures,
    /// unreadable files, an incomplete read, a patient refused (left out),
    /// or instances the node has not acknowledged (they stay in the retry
    /// queue).
    public var exitStatus: Int32 {
        complete && counts.conflicts == 0 && counts.failed == 0 && unreadable.isEmpty && conversionNotes.isEmpty
            && !warnings.contains(where: \.refused) && (send?.complete ?? true) ? 0 : 1
    }
}

extension PatientDecision {
    var label: String {
        switch self {
        case .keepSourceIdentity: "as-is"
        case .assign: "assign"
        case .skip: "skip"
        }
    }
}
