import Media
import Store

/// What happened to one instance of the medium.
public enum InstanceOutcome: String, Sendable, Hashable, Codable {
    /// Written into the store.
    case stored
    /// Left by an interrupted run, found whole and taken over.
    case adopted
    /// Already in the store with the same content: nothing written.
    case duplicate
    /// The store has this SOP Instance UID with other content: this copy
    /// was kept aside (`conflicts/`), the stored one left untouched.
    case conflict
    /// Could not be read, re-identified or written; see the message.
    case failed
    /// Its patient was not to be imported.
    case skipped
    /// Dry run: would be written.
    case wouldStore = "would-store"
    /// Dry run: the SOP Instance UID is in the store already (the content
    /// is compared only by a real run).
    case wouldSkipKnown = "would-skip-known"
    /// `--send NODE --no-store`: written (coerced) into the outbox for the
    /// node only, not into the store; removed once the node acknowledges it.
    case outgoing

    init(_ outcome: StoreOutcome) {
        switch outcome {
        case .stored: self = .stored
        case .adopted: self = .adopted
        case .duplicate: self = .duplicate
        case .conflict: self = .conflict
        }
    }
}

/// One instance handled by the import.
public struct InstanceEvent: Sendable, Hashable, Codable {
    /// Path on the medium.
    public var path: String
    public var sopInstanceUID: String?
    public var outcome: InstanceOutcome
    /// Index into the scan report's patients.
    public var patient: Int
    /// Patient ID the instance is filed under (nil when skipped or failed).
    public var patientID: String?
    /// True when attributes were changed (Original Attributes Sequence added).
    public var coerced: Bool
    /// Absolute path in the store (stored, adopted, duplicate, conflict);
    /// for `outgoing`, the outbox file.
    public var storedPath: String?
    /// Bytes read from the medium.
    public var size: Int
    /// Why it failed, or warnings.
    public var message: String?
    /// For an object converted from a JPEG/PNG/TIFF/BMP/PDF file
    /// (`--convert`): how (`verbatim JPEG …`, `Encapsulated PDF`, …).
    public var convertedFrom: String?
    /// The store was asked to take it (it counts its own failures).
    var reachedStore = false
    /// `outgoing`: SHA-256 of the source (the send queue's content key).
    var contentSHA256: String?
    /// Failed because the store's disk is full: the import stops.
    var storeFull = false

    private enum CodingKeys: String, CodingKey {
        case path, sopInstanceUID, outcome, patient, patientID, coerced, storedPath, size, message, convertedFrom
    }
}

/// Progress of an import, in order: ``started``, then one ``instance`` per
/// instance (from several threads when the medium is a folder; the handler
/// must be thread-safe), then ``finished``.
public enum ImportEvent: Sendable {
    case started(ImportStart)
    case instance(InstanceEvent)
    /// `--send NODE`: one per instance sent (or not) after the import.
    case sent(SendEvent)
    case finished(ImportSummary)
}

/// Sent once the copying begins.
public struct ImportStart: Sendable, Hashable, Codable {
    /// The catalog's import run (nil in a dry run).
    public var importID: Int64?
    public var source: String
    /// Instances and bytes the plan will handle.
    public var instances: Int
    public var bytes: Int
    public var dryRun: Bool
}
