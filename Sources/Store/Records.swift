import Foundation
import Reconcile

// Value types the store hands out: results of `store`, catalog listings,
// import runs, audit entries and the `check` report. All Codable, so the
// CLI can print them with `--json` as they are.

/// What ``InstanceStore/store(_:summary:importID:)`` did with an instance.
public enum StoreOutcome: String, Sendable, Hashable, Codable {
    /// Written into the store (also: a catalogued file that had gone
    /// missing, or whose size no longer matched the catalog, was put back
    /// from this copy; audited as `restore` with `repaired`).
    case stored
    /// The file was already in place from an interrupted earlier run (its
    /// catalog row was missing) and had the same bytes; only the row was added.
    case adopted
    /// The same SOP Instance with the same content is already stored: skipped.
    case duplicate
    /// The same SOP Instance UID is stored with different content, or the
    /// instance's study is stored under another patient (its series in
    /// another study). What is stored is left alone; this copy is kept
    /// aside under `conflicts/` with a catalog row and reported. Also the
    /// same instance already stored under another patient than the one it
    /// is imported for (``StoreResult/filedUnderAnotherPatient``): reported,
    /// nothing kept aside (the stored file is the same instance).
    case conflict
}

/// The result of storing one instance.
public struct StoreResult: Sendable, Hashable, Codable {
    public var outcome: StoreOutcome
    public var sopInstanceUID: String
    /// Absolute path of the file this instance now refers to: the new file
    /// (stored, adopted), the file already in the store (duplicate), or the
    /// copy kept aside (conflict). A new file appears there when its batch
    /// commits (``InstanceStore/flush()``).
    public var path: String
    /// SHA-256 (lower-case hex) of the bytes as stored.
    public var sha256: String
    /// Size of the stored file in bytes.
    public var size: Int64
    /// A Part 10 header was added in front of a raw data set.
    public var fileMetaAdded: Bool
    /// What the caller should know: why a copy was kept aside when not for
    /// different content, a file without catalog row moved out of the way.
    public var warnings: [String]
    /// The Patient ID the instance (or its study) is already filed under,
    /// when that is another patient than the one it names: it was not
    /// filed again (a ``StoreOutcome/conflict``; `discport reassign` moves
    /// the study).
    public var filedUnderAnotherPatient: String? = nil
}

/// A patient in the catalog.
public struct PatientRecord: Sendable, Hashable, Codable {
    /// Patient ID (0010,0020); "" when the instances had none.
    public var patientID: String
    /// Issuer of Patient ID (0010,0021).
    public var issuerOfPatientID: String?
    public var patientName: String?
    public var birthDate: String?
    public var sex: String?
    public var studyCount: Int
    public var instanceCount: Int
}

/// A study in the catalog.
public struct StudyRecord: Sendable, Hashable, Codable {
    public var studyInstanceUID: String
    public var patientID: String
    /// The patient's Issuer of Patient ID: one Patient ID of two issuers is two patients.
    public var issuerOfPatientID: String?
    public var patientName: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var studyID: String?
    /// Distinct modalities of the study's series, sorted.
    public var modalities: [String]
    public var seriesCount: Int
    public var instanceCount: Int
}

/// A series in the catalog.
public struct SeriesRecord: Sendable, Hashable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var modality: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var instanceCount: Int
}

/// An instance in the catalog.
public struct InstanceRecord: Sendable, Hashable, Codable {
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var transferSyntaxUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var patientID: String
    /// The patient's Issuer of Patient ID: one Patient ID of two issuers is two patients.
    public var issuerOfPatientID: String?
    public var instanceNumber: Int?
    /// Size of the stored file in bytes.
    public var size: Int64
    /// SHA-256 of the stored file.
    public var sha256: String
    /// SHA-256 of the bytes as they came from the source (differs from
    /// ``sha256`` only when a Part 10 header was added).
    public var sourceSHA256: String
    public var fileMetaAdded: Bool
    /// Absolute path of the stored file.
    public var path: String
    /// Path relative to the store's home, as the catalog keeps it.
    public var storedPath: String
    /// Path of the file on the medium it was imported from.
    public var originalPath: String?
    public var importID: Int64?
    /// ISO 8601 UTC time the row was written.
    public var storedAt: String
}

/// A copy of an instance kept aside because its SOP Instance UID was
/// already stored with different content.
public struct ConflictRecord: Sendable, Hashable, Codable {
    public var sopInstanceUID: String
    public var sha256: String
    public var size: Int64
    /// Absolute path of the kept-aside copy.
    public var path: String
    public var storedPath: String
    public var originalPath: String?
    public var importID: Int64?
    public var studyInstanceUID: String?
    public var seriesInstanceUID: String?
    public var patientID: String?
    public var patientName: String?
    /// `different-content`: a source file differed from the stored instance;
    /// `orphan-displaced`: a file left by an interrupted run, without a
    /// catalog row, differed from the copy being stored and was moved aside;
    /// `study-of-another-patient`: the instance's study is stored under
    /// another patient; `series-of-another-study`: its series is stored in
    /// another study (kept aside rather than filed there).
    public var reason: String
    public var detectedAt: String
}

/// How an import run ended.
public enum ImportStatus: String, Sendable, Hashable, Codable {
    case running, completed, failed, cancelled
}

/// What an import run reads from (one row in `imports`).
public struct ImportSource: Sendable, Hashable, Codable {
    /// What the user named: a folder, image, archive, device or file.
    public var location: String
    /// `folder`, `iso`, `zip`, `tar`, `device`, `file` (the Media module's kinds).
    public var kind: String?
    /// A label the user gave the medium ("CD from Hospital A").
    public var label: String?
    /// The volume identifier of an ISO image or disc.
    public var volumeID: String?

    public init(location: String, kind: String? = nil, label: String? = nil, volumeID: String? = nil) {
        self.location = location
        self.kind = kind
        self.label = label
        self.volumeID = volumeID
    }
}

/// One import run.
public struct ImportRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var source: ImportSource
    /// `$USER` of the process that ran the import (or the name passed in).
    public var operatorName: String
    public var host: String?
    public var startedAt: String
    public var finishedAt: String?
    public var status: ImportStatus
    /// Instances written.
    public var stored: Int
    /// Instances completed from an interrupted run (file present, row added).
    public var adopted: Int
    public var duplicates: Int
    public var conflicts: Int
    /// Files that could not be stored (store errors plus failures the
    /// import job reported at the end).
    public var failed: Int
    /// Files the import job skipped (not DICOM, DICOMDIR, ...).
    public var skipped: Int
    /// Bytes written into the store.
    public var bytes: Int64
    public var note: String?
}

/// What an audit entry records.
public enum AuditAction: String, Sendable, Hashable, Codable, CaseIterable {
    case importStarted = "import-start"
    case importFinished = "import-finish"
    /// An instance written into the store.
    case store
    /// A file of an interrupted run taken over (catalog row added).
    case adopt
    /// A catalogued instance whose file had gone missing or changed size,
    /// written back from a re-import (detail `repaired`: what was wrong).
    case restore
    /// A copy with a known SOP Instance UID and different content kept aside.
    case conflict
    /// Attribute values changed on import (reconciliation).
    case coercion
    /// Instances written to media or sent elsewhere.
    case export
    /// An instance removed from the store.
    case deletion
    /// Local registry entries added or changed.
    case registry
    /// A foreign identity reconciled to a local patient (remembered).
    case reconciliation
    /// Stored instances moved to another patient (`discport reassign`).
    case reassignment
}

/// One row of the append-only audit log.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var id: Int64
    /// ISO 8601 UTC time.
    public var at: String
    /// The action's name (an ``AuditAction`` raw value; kept as text so
    /// entries written by a newer discport still read).
    public var action: String
    public var operatorName: String
    public var importID: Int64?
    public var sopInstanceUID: String?
    /// Details as a JSON object (keys sorted).
    public var detail: String?

    /// The action, when this discport knows it.
    public var kind: AuditAction? { AuditAction(rawValue: action) }
}

/// Everything the catalog holds under one identifier: a Patient ID, or a
/// Study, Series or SOP Instance UID.
public struct CatalogLookup: Sendable, Hashable, Codable {
    public var patients: [PatientRecord]
    public var studies: [StudyRecord]
    public var series: [SeriesRecord]
    public var instances: [InstanceRecord]
    public var conflicts: [ConflictRecord]

    public var isEmpty: Bool {
        patients.isEmpty && studies.isEmpty && series.isEmpty && instances.isEmpty && conflicts.isEmpty
    }
}

/// One problem found by ``InstanceStore/check()``.
public struct CheckFinding: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case instance, conflict
    }
    public var kind: Kind
    public var sopInstanceUID: String
    /// Absolute path.
    public var path: String
    public var expectedSHA256: String
    /// nil when the file is missing or unreadable.
    public var actualSHA256: String?
    public var expectedSize: Int64
    public var actualSize: Int64?
    /// Why the file could not be read, when it could not.
    public var error: String?
}

/// The result of ``InstanceStore/check()``.
public struct CheckReport: Sendable, Hashable, Codable {
    /// Catalogued instance files read and hashed.
    public var instancesChecked: Int
    /// Kept-aside conflict copies read and hashed.
    public var conflictsChecked: Int
    public var bytesChecked: Int64
    /// Files whose bytes differ from the catalog (hash or size).
    public var corrupted: [CheckFinding]
    /// Catalogued files that are not there (or cannot be read).
    public var missing: [CheckFinding]
    /// Files under `instances/` or `conflicts/` without a catalog row
    /// (absolute paths). Re-running the import that wrote them adopts them.
    public var orphans: [String]
    /// Temporary files left by interrupted runs (removed when a store is
    /// next opened; absolute paths).
    public var temporaryFiles: [String]
    /// No corrupted, missing or orphan files.
    public var isClean: Bool
}

extension IdentityMapping {
    /// A row of ``Catalog/mappingColumns``.
    init(row: SQLiteRow) {
        func optional(_ text: String) -> String? { text.isEmpty ? nil : text }
        self.init(foreignIssuer: optional(row.string(0)), foreignID: row.string(1), localID: row.string(2),
                  localIssuer: optional(row.string(3)), how: row.string(4), operatorName: row.string(5),
                  decidedAt: row.string(6), foreignName: row.optionalString(7), foreignBirthDate: row.optionalString(8),
                  foreignSex: row.optionalString(9))
    }
}

/// What one row of a migration became (`discport migrate` resumes from these).
public struct MigrationRowState: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        /// Every object of the row is in the store: never done again.
        case done
        /// Tried and failed (tried again by the next run).
        case failed
    }
    public var key: String
    public var status: Status
    public var sopInstanceUIDs: [String]
    public var message: String?
    public var updatedAt: String

    public init(key: String, status: Status, sopInstanceUIDs: [String], message: String?, updatedAt: String = "") {
        self.key = key
        self.status = status
        self.sopInstanceUIDs = sopInstanceUIDs
        self.message = message
        self.updatedAt = updatedAt
    }
}

/// A DICOM peer known by name (`discport nodes add`).
public struct RemoteNodeRecord: Sendable, Hashable, Codable {
    public var name: String
    public var aeTitle: String
    public var host: String
    public var port: Int
    /// The AE title discport calls itself when talking to this node; nil: the default.
    public var callingAE: String?
    /// A DICOMweb node: the service's base URL (`http://pacs:8042/dicom-web`);
    /// AE title, host and port are then empty.
    public var url: String?
    /// DICOMweb authentication: `basic:ENV` (`$ENV` holds `user:password`) or
    /// `bearer:ENV` (`$ENV` holds the token). The secret stays out of the catalog.
    public var auth: String?
    public var updatedAt: String

    public init(name: String, aeTitle: String, host: String, port: Int, callingAE: String? = nil,
                url: String? = nil, auth: String? = nil, updatedAt: String = "") {
        self.name = name
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
        self.callingAE = callingAE
        self.url = url
        self.auth = auth
        self.updatedAt = updatedAt
    }

    public var isDICOMweb: Bool { url != nil }
}

/// One instance of the send retry queue.
public struct SendQueueEntry: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// Not yet acknowledged by the node (never tried, or failed).
        case pending
        /// The node answered success or warning: never sent again.
        case sent
    }

    public var node: String
    public var sopInstanceUID: String
    public var path: String
    public var state: State
    public var attempts: Int
    /// The last C-STORE-RSP status, when one came.
    public var lastStatus: Int?
    public var lastError: String?
    public var enqueuedAt: String
    public var updatedAt: String
    /// SHA-256 of the content queued (for `import --send --no-store`: the
    /// source on the medium), when known.
    public var contentSHA256: String?
}

/// One instance to queue for a node.
public struct SendQueueItem: Sendable, Hashable {
    public var sopInstanceUID: String
    public var path: String
    /// SHA-256 of the content, when the caller keys it (see ``SendQueueEntry/contentSHA256``).
    public var contentSHA256: String?

    public init(sopInstanceUID: String, path: String, contentSHA256: String? = nil) {
        self.sopInstanceUID = sopInstanceUID
        self.path = path
        self.contentSHA256 = contentSHA256
    }
}
