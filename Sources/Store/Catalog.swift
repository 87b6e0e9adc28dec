import CSQLite3
import DICOM
import Foundation
import Reconcile

/// The SQLite catalog of a store: schema, migrations, writes and queries.
///
/// One connection, used by one thread at a time (``InstanceStore`` keeps
/// it under its mutex). The database runs in WAL mode with foreign keys on
/// and `synchronous=FULL`; the schema version is `PRAGMA user_version`.
///
/// Schema (version 1):
/// - `patients(patient_key UNIQUE, patient_id, issuer, name, birth_date, sex)`;
///   the key is the Issuer + Patient ID, or name + birth date when the
///   instances carry no Patient ID.
/// - `studies(study_uid UNIQUE, patient_ref → patients, study_date, study_time,
///   description, accession_number, study_id)`.
/// - `series(series_uid UNIQUE, study_ref → studies, modality, series_number, description)`.
/// - `instances(sop_instance_uid UNIQUE, sop_class_uid, transfer_syntax_uid,
///   series_ref → series, instance_number, size, sha256, source_sha256,
///   file_meta_added, stored_path UNIQUE, original_path, import_ref → imports, stored_at)`.
/// - `conflicts(sop_instance_uid, sha256, size, stored_path UNIQUE, original_path,
///   import_ref, study_uid, series_uid, patient_id, patient_name, reason,
///   detected_at; UNIQUE(sop_instance_uid, sha256))`.
/// - `imports(source, source_kind, medium_label, volume_id, operator, host,
///   started_at, finished_at, status, stored, adopted, duplicates,
///   conflicts, failed, skipped, bytes, note)`: one row per run.
/// - `audit_log(at, action, operator, import_ref, sop_instance_uid, detail)`:
///   append-only; triggers abort every UPDATE and DELETE.
///
/// Version 2 adds:
/// - `registry(patient_id, issuer, alphabetic, ideographic, phonetic,
///   birth_date, sex, updated_at; UNIQUE(patient_id, issuer))`: the clinic's
///   own patients (issuer `''` when none).
/// - `identity_mappings(foreign_issuer, foreign_id, local_id, local_issuer,
///   how, operator, decided_at; UNIQUE(foreign_issuer, foreign_id))`: every
///   reconciliation decision, so the next disc from that hospital maps by itself.
///
/// Version 3 adds `migration_rows(job, row_key, status, sop_instance_uids,
/// message, updated_at)`: what each manifest row of a migration became.
///
/// Version 4 adds:
/// - `remote_nodes(name UNIQUE, ae_title, host, port, calling_ae, url, auth,
///   updated_at)`: DICOM peers (the PACS) by the name the commands use; a
///   DICOMweb node has `url` (and `auth`: `basic:ENV` or `bearer:ENV`, the
///   environment variable holding the secret, never the secret itself).
/// - `send_queue(node, sop_instance_uid, path, state pending|sent, attempts,
///   last_status, last_error, enqueued_at, updated_at; UNIQUE(node,
///   sop_instance_uid))`: every instance a `send` was asked to deliver, so an
///   interrupted send resumes and an acknowledged one is never sent again.
///
/// Version 5 adds `send_queue.content_sha256`: the SHA-256 of the content
/// queued when the caller keys it (`import --send --no-store` keys an
/// instance by its SOP Instance UID and the source's SHA-256, so a re-run
/// of the same disc finds it sent, and other content under a UID the node
/// already has is reported instead of sent).
///
/// Version 6 adds `identity_mappings.foreign_name`, `foreign_birth_date`
/// and `foreign_sex`: the foreign patient (as on the medium) a remembered
/// decision was taken for, so it is applied only to that person, not to
/// anyone with the same foreign ID (NULL in rows from before).
final class Catalog {
    /// Schema migrations: element `i` takes the catalog from version `i`
    /// to `i + 1`. Never edit a shipped migration; append a new one.
    static let migrations: [String] = [
        """
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            patient_key TEXT NOT NULL UNIQUE,
            patient_id TEXT NOT NULL,
            issuer TEXT,
            name TEXT,
            birth_date TEXT,
            sex TEXT
        );
        CREATE INDEX patients_patient_id ON patients(patient_id);

        CREATE TABLE studies (
            id INTEGER PRIMARY KEY,
            study_uid TEXT NOT NULL UNIQUE,
            patient_ref INTEGER NOT NULL REFERENCES patients(id),
            study_date TEXT,
            study_time TEXT,
            description TEXT,
            accession_number TEXT,
            study_id TEXT
        );
        CREATE INDEX studies_patient ON studies(patient_ref);

        CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            series_uid TEXT NOT NULL UNIQUE,
            study_ref INTEGER NOT NULL REFERENCES studies(id),
            modality TEXT,
            series_number INTEGER,
            description TEXT
        );
        CREATE INDEX series_study ON series(study_ref);

        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            source_kind TEXT,
            medium_label TEXT,
            volume_id TEXT,
            operator TEXT NOT NULL,
            host TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
            stored INTEGER NOT NULL DEFAULT 0,
            adopted INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            conflicts INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            note TEXT
        );

        CREATE TABLE instances (
            id INTEGER PRIMARY KEY,
            sop_instance_uid TEXT NOT NULL UNIQUE,
            sop_class_uid TEXT NOT NULL,
            transfer_syntax_uid TEXT NOT NULL,
            series_ref INTEGER NOT NULL REFERENCES series(id),
            instance_number INTEGER,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            file_meta_added INTEGER NOT NULL DEFAULT 0,
            stored_path TEXT NOT NULL UNIQUE,
            original_path TEXT,
            import_ref INTEGER REFERENCES imports(id),
            stored_at TEXT NOT NULL
        );
        CREATE INDEX instances_series ON instances(series_ref);
        CREATE INDEX instances_import ON instances(import_ref);

        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            sop_instance_uid TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            stored_path TEXT NOT NULL UNIQUE,
            original_path TEXT,
            import_ref INTEGER REFERENCES imports(id),
            study_uid TEXT,
            series_uid TEXT,
            patient_id TEXT,
            patient_name TEXT,
            reason TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            UNIQUE (sop_instance_uid, sha256)
        );

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            operator TEXT NOT NULL,
            import_ref INTEGER REFERENCES imports(id),
            sop_instance_uid TEXT,
            detail TEXT
        );
        CREATE INDEX audit_log_uid ON audit_log(sop_instance_uid);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """,
        // 2: the local patient registry and remembered reconciliations.
        """
        CREATE TABLE registry (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL,
            issuer TEXT NOT NULL DEFAULT '',
            alphabetic TEXT,
            ideographic TEXT,
            phonetic TEXT,
            birth_date TEXT,
            sex TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (patient_id, issuer)
        );
        CREATE INDEX registry_birth_date ON registry(birth_date);

        CREATE TABLE identity_mappings (
            id INTEGER PRIMARY KEY,
            foreign_issuer TEXT NOT NULL DEFAULT '',
            foreign_id TEXT NOT NULL,
            local_id TEXT NOT NULL,
            local_issuer TEXT NOT NULL DEFAULT '',
            how TEXT NOT NULL,
            operator TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            UNIQUE (foreign_issuer, foreign_id)
        );
        """,
        // 3: the state of migrations (`discport migrate`), row by row.
        """
        CREATE TABLE migration_rows (
            job TEXT NOT NULL,
            row_key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
            sop_instance_uids TEXT NOT NULL DEFAULT '',
            message TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (job, row_key)
        );
        """,
        // 4: remote nodes and the send retry queue (`discport nodes`, `send`).
        """
        CREATE TABLE remote_nodes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            ae_title TEXT NOT NULL,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            calling_ae TEXT,
            url TEXT,
            auth TEXT,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE send_queue (
            id INTEGER PRIMARY KEY,
            node TEXT NOT NULL,
            sop_instance_uid TEXT NOT NULL,
            path TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            enqueued_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (node, sop_instance_uid)
        );
        CREATE INDEX send_queue_pending ON send_queue(node, state);
        """,
        // 5: the content key of queued instances (`import --send --no-store`).
        """
        ALTER TABLE send_queue ADD COLUMN content_sha256 TEXT;
        """,
        // 6: who a remembered decision was taken for.
        """
        ALTER TABLE identity_mappings ADD COLUMN foreign_name TEXT;
        ALTER TABLE identity_mappings ADD COLUMN foreign_birth_date TEXT;
        ALTER TABLE identity_mappings ADD COLUMN foreign_sex TEXT;
        """,
    ]

    /// How long a statement waits for another process's lock on the catalog.
    static let busyTimeout: Duration = .seconds(30)

    let db: SQLiteConnection
    /// The store's home, to turn stored (relative) paths into absolute ones.
    let home: String
    /// Versions applied when this catalog was opened (empty when it was current).
    private(set) var appliedMigrations: [Int] = []

    // Row ids of the current transaction's view; cleared on rollback.
    private var patientIDs: [String: Int64] = [:]
    private var studyIDs: [String: (id: Int64, patient: Int64)] = [:]
    private var seriesIDs: [String: (id: Int64, study: Int64)] = [:]

    init(path: String, home: String, migrations: [String] = Catalog.migrations) throws {
        self.home = home
        db = try SQLiteConnection(path: path)
        sqlite3_busy_timeout(db.handle, Int32(Catalog.busyTimeout.components.seconds * 1000))
        // Switching a new catalog to WAL needs it alone: a second process
        // doing the same at that moment gets SQLITE_BUSY at once (SQLite
        // skips the busy handler where waiting could deadlock). Retried for
        // as long as the busy timeout.
        let deadline = ContinuousClock.now + Catalog.busyTimeout
        var mode: String?
        while true {
            do {
                mode = try db.queryFirst("PRAGMA journal_mode=WAL") { $0.string(0) }
                break
            } catch let error as SQLiteError where error.isBusy && ContinuousClock.now < deadline {
                usleep(10_000)
            }
        }
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot switch the catalog to WAL mode (got \(mode ?? "nothing"))", sql: "PRAGMA journal_mode=WAL")
        }
        // temp_store=MEMORY: the per-instance SAVEPOINT journals stay in memory
        // (on disk they cost ~20 small writes per instance).
        try db.execute("PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;")
        try migrate(migrations)
    }

    var schemaVersion: Int {
        get throws { Int(try db.scalar("PRAGMA user_version") ?? 0) }
    }

    private func migrate(_ migrations: [String]) throws {
        let current = try schemaVersion
        if current > migrations.count {
            throw StoreError(.newerSchema, "the catalog has schema version \(current); this discport knows \(migrations.count): use a newer discport", path: db.path)
        }
        guard current < migrations.count else { return }
        for version in (current + 1)...migrations.count {
            try db.transaction {
                // Another process may have migrated while we waited for the lock.
                guard try schemaVersion < version else { return }
                try db.execute(migrations[version - 1])
                try db.execute("PRAGMA user_version = \(version)")
                appliedMigrations.append(version)
            }
        }
    }

    // MARK: Transactions

    var isInTransaction: Bool { db.isInTransaction }

    func begin() throws { try db.execute("BEGIN IMMEDIATE") }
    func commit() throws { try db.execute("COMMIT") }

    func rollback() {
        if db.isInTransaction { try? db.execute("ROLLBACK") }
        forgetCachedRows()
    }

    func forgetCachedRows() {
        patientIDs.removeAll()
        studyIDs.removeAll()
        seriesIDs.removeAll()
    }

    func close() { db.close() }

    // MARK: Writes

    struct ExistingInstance {
        var sha256: String
        var sourceSHA256: String
        var size: Int64
        var storedPath: String
        var fileMetaAdded: Bool
        /// The patient it is filed under: its key (``patientKey(_:)``), Patient ID and name.
        var patientKey: String
        var patientID: String
        var patientName: String?
    }

    func instance(sopInstanceUID uid: String) throws -> ExistingInstance? {
        try db.queryFirst("""
            SELECT i.sha256, i.source_sha256, i.size, i.stored_path, i.file_meta_added, p.patient_key, p.patient_id, p.name
            FROM instances i JOIN series se ON i.series_ref = se.id JOIN studies st ON se.study_ref = st.id
                JOIN patients p ON st.patient_ref = p.id
            WHERE i.sop_instance_uid = ?
            """, [uid]) {
            ExistingInstance(sha256: $0.string(0), sourceSHA256: $0.string(1), size: $0.int64(2), storedPath: $0.string(3),
                             fileMetaAdded: $0.bool(4), patientKey: $0.string(5), patientID: $0.string(6), patientName: $0.optionalString(7))
        }
    }

    func conflictPath(sopInstanceUID uid: String, sha256: String) throws -> String? {
        try db.queryFirst("SELECT stored_path FROM conflicts WHERE sop_instance_uid = ? AND sha256 = ?", [uid, sha256]) { $0.string(0) }
    }

    func importExists(_ id: Int64) throws -> Bool {
        try db.scalar("SELECT count(*) FROM imports WHERE id = ?", [id]) ?? 0 > 0
    }

    static func patientKey(_ s: InstanceSummary) -> String {
        s.patientID.isEmpty
            ? "name:" + (s.patientName ?? "") + "\u{1F}" + (s.patientBirthDate ?? "")
            : "id:" + (s.issuerOfPatientID ?? "") + "\u{1F}" + s.patientID
    }

    /// Why an instance cannot be filed where its header says: its study is
    /// the store's under another patient, or its series under another
    /// study. Filing it there would put it in the other patient's (or
    /// study's) folders, listings and exports.
    struct Misfiling: Sendable, Equatable {
        /// `study-of-another-patient` or `series-of-another-study` (the conflicts' `reason`).
        var reason: String
        /// The Patient ID the study is filed under (`study-of-another-patient`).
        var patientID: String? = nil
        var message: String
    }

    /// Inserts (or finds) the patient, study and series of an instance;
    /// returns the series row id, or why the instance cannot be filed
    /// there (then the rows it touched must be rolled back: a study's
    /// missing attributes may have been filled from it).
    func fileHierarchy(_ s: InstanceSummary) throws -> (series: Int64, misfiling: Misfiling?) {
        let key = Catalog.patientKey(s)
        let patient: Int64
        if let cached = patientIDs[key] {
            patient = cached
        } else {
            patient = try db.queryFirst("""
                INSERT INTO patients(patient_key, patient_id, issuer, name, birth_date, sex) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(patient_key) DO UPDATE SET
                    name = coalesce(patients.name, excluded.name),
                    birth_date = coalesce(patients.birth_date, excluded.birth_date),
                    sex = coalesce(patients.sex, excluded.sex)
                RETURNING id
                """, [key, s.patientID, s.issuerOfPatientID, s.patientName, s.patientBirthDate, s.patientSex]) { $0.int64(0) }!
            patientIDs[key] = patient
        }
        let study: Int64
        if let cached = studyIDs[s.studyInstanceUID] {
            study = cached.id
            if cached.patient != patient { return (0, try studyMisfiling(s)) }
        } else {
            let row = try db.queryFirst("""
                INSERT INTO studies(study_uid, patient_ref, study_date, study_time, description, accession_number, study_id)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(study_uid) DO UPDATE SET
                    study_date = coalesce(studies.study_date, excluded.study_date),
                    study_time = coalesce(studies.study_time, excluded.study_time),
                    description = coalesce(studies.description, excluded.description),
                    accession_number = coalesce(studies.accession_number, excluded.accession_number),
                    study_id = coalesce(studies.study_id, excluded.study_id)
                RETURNING id, patient_ref
                """, [s.studyInstanceUID, patient, s.studyDate, s.studyTime, s.studyDescription, s.accessionNumber, s.studyID]) {
                (id: $0.int64(0), patient: $0.int64(1))
            }!
            studyIDs[s.studyInstanceUID] = row
            study = row.id
            if row.patient != patient { return (0, try studyMisfiling(s)) }
        }
        let series: Int64
        if let cached = seriesIDs[s.seriesInstanceUID] {
            series = cached.id
            if cached.study != study { return (0, try seriesMisfiling(s)) }
        } else {
            let row = try db.queryFirst("""
                INSERT INTO series(series_uid, study_ref, modality, series_number, description) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(series_uid) DO UPDATE SET
                    modality = coalesce(series.modality, excluded.modality),
                    series_number = coalesce(series.series_number, excluded.series_number),
                    description = coalesce(series.description, excluded.description)
                RETURNING id, study_ref
                """, [s.seriesInstanceUID, study, s.modality, s.seriesNumber, s.seriesDescription]) {
                (id: $0.int64(0), study: $0.int64(1))
            }!
            seriesIDs[s.seriesInstanceUID] = row
            series = row.id
            if row.study != study { return (0, try seriesMisfiling(s)) }
        }
        return (series, nil)
    }

    /// Why an instance already stored under another patient is not filed
    /// again under the patient `s` names. The command it suggests is one
    /// to paste into a POSIX shell: its values are quoted where they need
    /// it (``shellQuoted(_:)``).
    static func storedUnderAnotherPatient(_ s: InstanceSummary, _ existing: ExistingInstance) -> String {
        "already stored under Patient ID \"\(existing.patientID)\"\(existing.patientName.map { " (\($0))" } ?? ""), "
            + "this import files it under Patient ID \"\(s.patientID)\": not filed again (if study \(s.studyInstanceUID) is "
            + "\(s.patientID)'s, move it with `discport reassign \(shellQuoted(s.studyInstanceUID)) --to \(shellQuoted(s.patientID))"
            + "\(s.issuerOfPatientID.map { " --issuer \(shellQuoted($0))" } ?? "")`)"
    }

    private static let shellPlain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-".unicodeScalars)

    /// `value` as one word of a POSIX shell command: as it is when it
    /// holds only letters, digits and `_@%+=:,./-`, else in single quotes,
    /// an embedded single quote written `'\''` (`'St. Mary'\''s'`); `''`
    /// for the empty value.
    static func shellQuoted(_ value: String) -> String {
        if !value.isEmpty && value.unicodeScalars.allSatisfy(shellPlain.contains) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private func studyMisfiling(_ s: InstanceSummary) throws -> Misfiling {
        let owner = try db.queryFirst("""
            SELECT p.patient_id, p.name FROM studies st JOIN patients p ON st.patient_ref = p.id WHERE st.study_uid = ?
            """, [s.studyInstanceUID]) { (id: $0.string(0), name: $0.optionalString(1)) }
        let other = owner.map { "Patient ID \"\($0.id)\"\($0.name.map { " (\($0))" } ?? "")" } ?? "another patient"
        return Misfiling(reason: "study-of-another-patient", patientID: owner?.id, message:
            "study \(s.studyInstanceUID) is stored under \(other), this instance names Patient ID \"\(s.patientID)\"\(s.patientName.map { " (\($0))" } ?? ""): "
            + "kept aside, not filed with the other patient's study (if the study is this patient's, move it with `discport reassign` and import again)")
    }

    private func seriesMisfiling(_ s: InstanceSummary) throws -> Misfiling {
        let study = try db.queryFirst("""
            SELECT st.study_uid FROM series se JOIN studies st ON se.study_ref = st.id WHERE se.series_uid = ?
            """, [s.seriesInstanceUID]) { $0.string(0) }
        return Misfiling(reason: "series-of-another-study", message:
            "series \(s.seriesInstanceUID) is stored in study \(study ?? "another study"), this instance names study \(s.studyInstanceUID): kept aside, not filed with the other study")
    }

    struct NewInstance {
        var summary: InstanceSummary
        var seriesRef: Int64
        var size: Int64
        var sha256: String
        var sourceSHA256: String
        var fileMetaAdded: Bool
        var storedPath: String
        var originalPath: String?
        var importID: Int64?
    }

    func insertInstance(_ i: NewInstance) throws {
        try db.run("""
            INSERT INTO instances(sop_instance_uid, sop_class_uid, transfer_syntax_uid, series_ref, instance_number,
                size, sha256, source_sha256, file_meta_added, stored_path, original_path, import_ref, stored_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [i.summary.sopInstanceUID, i.summary.sopClassUID, i.summary.transferSyntaxUID, i.seriesRef,
                  i.summary.instanceNumber, i.size, i.sha256, i.sourceSHA256, i.fileMetaAdded, i.storedPath,
                  i.originalPath, i.importID, FileIO.timestamp()])
    }

    func insertConflict(summary s: InstanceSummary, sha256: String, size: Int64, storedPath: String,
                        originalPath: String?, importID: Int64?, reason: String) throws {
        try db.run("""
            INSERT INTO conflicts(sop_instance_uid, sha256, size, stored_path, original_path, import_ref,
                study_uid, series_uid, patient_id, patient_name, reason, detected_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [s.sopInstanceUID, sha256, size, storedPath, originalPath, importID,
                  s.studyInstanceUID, s.seriesInstanceUID, s.patientID, s.patientName, reason, FileIO.timestamp()])
    }

    /// Removes an instance row, then any series, study and patient left empty.
    /// Returns the stored path, or nil when there was no such instance.
    func updateInstanceContent(sopInstanceUID uid: String, sha256: String, size: Int64) throws {
        try db.run("UPDATE instances SET sha256 = ?, size = ? WHERE sop_instance_uid = ?", [sha256, size, uid])
    }

    /// Files a study under the patient of `s` (created when needed); a
    /// patient left without studies is removed. Returns the previous
    /// Patient ID and issuer.
    func moveStudy(_ studyUID: String, to s: InstanceSummary) throws -> (patientID: String, issuer: String?)? {
        let previous = try db.queryFirst("""
            SELECT p.patient_id, p.issuer FROM studies st JOIN patients p ON st.patient_ref = p.id WHERE st.study_uid = ?
            """, [studyUID]) { (patientID: $0.string(0), issuer: $0.optionalString(1)) }
        let key = Catalog.patientKey(s)
        let patient = try db.queryFirst("""
            INSERT INTO patients(patient_key, patient_id, issuer, name, birth_date, sex) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(patient_key) DO UPDATE SET
                name = coalesce(excluded.name, patients.name),
                birth_date = coalesce(excluded.birth_date, patients.birth_date),
                sex = coalesce(excluded.sex, patients.sex)
            RETURNING id
            """, [key, s.patientID, s.issuerOfPatientID, s.patientName, s.patientBirthDate, s.patientSex]) { $0.int64(0) }!
        try db.run("UPDATE studies SET patient_ref = ? WHERE study_uid = ?", [patient, studyUID])
        try db.run("DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = patients.id)")
        forgetCachedRows()
        return previous
    }

    func deleteInstance(sopInstanceUID uid: String) throws -> String? {
        guard let row = try db.queryFirst("SELECT id, stored_path, series_ref FROM instances WHERE sop_instance_uid = ?", [uid], {
            (id: $0.int64(0), path: $0.string(1), series: $0.int64(2))
        }) else { return nil }
        try db.run("DELETE FROM instances WHERE id = ?", [row.id])
        try db.run("DELETE FROM series WHERE id = ? AND NOT EXISTS (SELECT 1 FROM instances WHERE series_ref = series.id)", [row.series])
        try db.run("DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series WHERE study_ref = studies.id)")
        try db.run("DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = patients.id)")
        forgetCachedRows()
        return row.path
    }

    struct Counts {
        var stored = 0, adopted = 0, duplicates = 0, conflicts = 0, failed = 0
        var bytes: Int64 = 0

        mutating func add(_ other: Counts) {
            stored += other.stored
            adopted += other.adopted
            duplicates += other.duplicates
            conflicts += other.conflicts
            failed += other.failed
            bytes += other.bytes
        }
    }

    func addCounts(_ c: Counts, toImport id: Int64) throws {
        try db.run("""
            UPDATE imports SET stored = stored + ?, adopted = adopted + ?, duplicates = duplicates + ?,
                conflicts = conflicts + ?, failed = failed + ?, bytes = bytes + ? WHERE id = ?
            """, [c.stored, c.adopted, c.duplicates, c.conflicts, c.failed, c.bytes, id])
    }

    func audit(_ action: AuditAction, operatorName: String, importID: Int64?, sopInstanceUID: String?, detail: [String: String]?) throws {
        try audit(action, operatorName: operatorName, importID: importID, sopInstanceUID: sopInstanceUID,
                  json: detail.flatMap { $0.isEmpty ? nil : Catalog.json($0) })
    }

    /// An audit entry whose detail is already ``json(_:)`` text.
    func audit(_ action: AuditAction, operatorName: String, importID: Int64?, sopInstanceUID: String?, json: String?) throws {
        try db.run("INSERT INTO audit_log(at, action, operator, import_ref, sop_instance_uid, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   [FileIO.timestamp(), action.rawValue, operatorName, importID, sopInstanceUID, json])
    }

    /// A flat JSON object with sorted keys (audit details).
    static func json(_ object: [String: String]) -> String {
        var text = "{"
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { text += "," }
            appendQuoted(key, to: &text)
            text += ":"
            appendQuoted(object[key]!, to: &text)
        }
        return text + "}"
    }

    /// `DICOMJSON.quoted(value)` appended; printable ASCII without `"` or
    /// `\` (paths, hashes, UIDs: nearly every audit value) goes as it is.
    private static func appendQuoted(_ value: String, to text: inout String) {
        var copy = value
        let plain = copy.withUTF8 { bytes in
            bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }
        }
        if plain {
            text += "\""
            text += value
            text += "\""
        } else {
            text += DICOMJSON.quoted(value)
        }
    }

    func insertImport(_ source: ImportSource, operatorName: String, host: String?) throws -> Int64 {
        try db.run("""
            INSERT INTO imports(source, source_kind, medium_label, volume_id, operator, host, started_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [source.location, source.kind, source.label, source.volumeID, operatorName, host, FileIO.timestamp()])
        return db.lastInsertRowID
    }

    func finishImport(_ id: Int64, status: ImportStatus, skipped: Int, failed: Int, note: String?) throws {
        try db.run("""
            UPDATE imports SET status = ?, finished_at = ?, skipped = skipped + ?, failed = failed + ?,
                note = coalesce(?, note) WHERE id = ?
            """, [status.rawValue, FileIO.timestamp(), skipped, failed, note, id])
    }

    // MARK: Registry

    /// Inserts or updates registry rows by (patient_id, issuer); returns
    /// how many were new and how many changed.
    func upsertRegistry(_ patients: [RegisteredPatient]) throws -> (inserted: Int, updated: Int) {
        var inserted = 0, updated = 0
        let now = FileIO.timestamp()
        for p in patients {
            let existing = try db.queryFirst("""
                SELECT alphabetic, ideographic, phonetic, birth_date, sex FROM registry WHERE patient_id = ? AND issuer = ?
                """, [p.patientID, p.issuer ?? ""]) {
                [$0.optionalString(0), $0.optionalString(1), $0.optionalString(2), $0.optionalString(3), $0.optionalString(4)]
            }
            let values = [p.alphabetic, p.ideographic, p.phonetic, p.birthDate, p.sex]
            if let existing {
                guard existing != values else { continue }
                try db.run("""
                    UPDATE registry SET alphabetic = ?, ideographic = ?, phonetic = ?, birth_date = ?, sex = ?, updated_at = ?
                    WHERE patient_id = ? AND issuer = ?
                    """, [p.alphabetic, p.ideographic, p.phonetic, p.birthDate, p.sex, now, p.patientID, p.issuer ?? ""])
                updated += 1
            } else {
                try db.run("""
                    INSERT INTO registry(patient_id, issuer, alphabetic, ideographic, phonetic, birth_date, sex, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, [p.patientID, p.issuer ?? "", p.alphabetic, p.ideographic, p.phonetic, p.birthDate, p.sex, now])
                inserted += 1
            }
        }
        return (inserted, updated)
    }

    /// Registry entries; `patientID` narrows to one ID (any issuer),
    /// `birthDate` to one birth date.
    func registry(patientID: String? = nil, birthDate: String? = nil) throws -> [RegisteredPatient] {
        let filter = Catalog.filter([("patient_id", patientID), ("birth_date", birthDate)])
        return try db.query("""
            SELECT patient_id, issuer, alphabetic, ideographic, phonetic, birth_date, sex FROM registry
            \(filter.sql)
            ORDER BY patient_id, issuer
            """, filter.arguments) {
            RegisteredPatient(patientID: $0.string(0), issuer: $0.string(1).isEmpty ? nil : $0.string(1),
                              alphabetic: $0.optionalString(2), ideographic: $0.optionalString(3),
                              phonetic: $0.optionalString(4), birthDate: $0.optionalString(5), sex: $0.optionalString(6))
        }
    }

    /// The columns ``IdentityMapping/init(row:)`` reads, in its order.
    static let mappingColumns = """
        foreign_issuer, foreign_id, local_id, local_issuer, how, operator, decided_at,
        foreign_name, foreign_birth_date, foreign_sex
        """

    func mapping(foreignIssuer: String?, foreignID: String) throws -> IdentityMapping? {
        try db.queryFirst("""
            SELECT \(Catalog.mappingColumns) FROM identity_mappings
            WHERE foreign_issuer = ? AND foreign_id = ?
            """, [foreignIssuer ?? "", foreignID]) { IdentityMapping(row: $0) }
    }

    func mappings() throws -> [IdentityMapping] {
        try db.query("""
            SELECT \(Catalog.mappingColumns) FROM identity_mappings
            ORDER BY foreign_issuer, foreign_id
            """, []) { IdentityMapping(row: $0) }
    }

    /// Remembers (or replaces) a decision; returns the previous one.
    func remember(_ m: IdentityMapping) throws -> IdentityMapping? {
        let previous = try mapping(foreignIssuer: m.foreignIssuer, foreignID: m.foreignID)
        try db.run("""
            INSERT INTO identity_mappings(foreign_issuer, foreign_id, local_id, local_issuer, how, operator, decided_at,
                foreign_name, foreign_birth_date, foreign_sex)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(foreign_issuer, foreign_id) DO UPDATE SET local_id = excluded.local_id,
                local_issuer = excluded.local_issuer, how = excluded.how, operator = excluded.operator,
                decided_at = excluded.decided_at,
                foreign_name = coalesce(excluded.foreign_name, identity_mappings.foreign_name),
                foreign_birth_date = coalesce(excluded.foreign_birth_date, identity_mappings.foreign_birth_date),
                foreign_sex = coalesce(excluded.foreign_sex, identity_mappings.foreign_sex)
            """, [m.foreignIssuer ?? "", m.foreignID, m.localID, m.localIssuer ?? "", m.how, m.operatorName, m.decidedAt,
                  m.foreignName, m.foreignBirthDate, m.foreignSex])
        return previous
    }

    // MARK: Migrations

    func migrationRow(job: String, key: String) throws -> MigrationRowState? {
        try db.queryFirst("""
            SELECT row_key, status, sop_instance_uids, message, updated_at FROM migration_rows WHERE job = ? AND row_key = ?
            """, [job, key]) {
            MigrationRowState(key: $0.string(0), status: MigrationRowState.Status(rawValue: $0.string(1)) ?? .failed,
                              sopInstanceUIDs: $0.string(2).split(separator: "\\").map(String.init),
                              message: $0.optionalString(3), updatedAt: $0.string(4))
        }
    }

    func hasMigrationRows(job: String) throws -> Bool {
        try db.queryFirst("SELECT 1 FROM migration_rows WHERE job = ? LIMIT 1", [job]) { $0.int(0) } != nil
    }

    func recordMigrationRow(job: String, _ state: MigrationRowState) throws {
        try db.run("""
            INSERT INTO migration_rows(job, row_key, status, sop_instance_uids, message, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(job, row_key) DO UPDATE SET status = excluded.status, sop_instance_uids = excluded.sop_instance_uids,
                message = excluded.message, updated_at = excluded.updated_at
            """, [job, state.key, state.status.rawValue, state.sopInstanceUIDs.joined(separator: "\\"), state.message, FileIO.timestamp()])
    }

    // MARK: Remote nodes and the send queue

    func remoteNodes() throws -> [RemoteNodeRecord] {
        try db.query("SELECT name, ae_title, host, port, calling_ae, url, auth, updated_at FROM remote_nodes ORDER BY name", []) {
            RemoteNodeRecord(name: $0.string(0), aeTitle: $0.string(1), host: $0.string(2), port: $0.int(3),
                             callingAE: $0.optionalString(4), url: $0.optionalString(5), auth: $0.optionalString(6),
                             updatedAt: $0.string(7))
        }
    }

    /// Inserts or replaces a node; true when it was new.
    func saveRemoteNode(_ n: RemoteNodeRecord) throws -> Bool {
        let existed = try db.queryFirst("SELECT 1 FROM remote_nodes WHERE name = ?", [n.name]) { $0.int(0) } != nil
        try db.run("""
            INSERT INTO remote_nodes(name, ae_title, host, port, calling_ae, url, auth, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET ae_title = excluded.ae_title, host = excluded.host, port = excluded.port,
                calling_ae = excluded.calling_ae, url = excluded.url, auth = excluded.auth, updated_at = excluded.updated_at
            """, [n.name, n.aeTitle, n.host, n.port, n.callingAE, n.url, n.auth, FileIO.timestamp()])
        return !existed
    }

    func removeRemoteNode(_ name: String) throws -> Bool {
        let existed = try db.queryFirst("SELECT 1 FROM remote_nodes WHERE name = ?", [name]) { $0.int(0) } != nil
        try db.run("DELETE FROM remote_nodes WHERE name = ?", [name])
        return existed
    }

    /// Adds instances to a node's queue; those already queued keep their
    /// state (a sent one stays sent). Returns how many were new.
    func enqueue(node: String, items: [SendQueueItem]) throws -> Int {
        var added = 0
        let now = FileIO.timestamp()
        for item in items {
            let existing = try db.queryFirst("SELECT state FROM send_queue WHERE node = ? AND sop_instance_uid = ?",
                                             [node, item.sopInstanceUID]) { $0.string(0) }
            if let existing {
                if existing == "pending" {
                    try db.run("""
                        UPDATE send_queue SET path = ?, content_sha256 = coalesce(?, content_sha256), updated_at = ?
                        WHERE node = ? AND sop_instance_uid = ?
                        """, [item.path, item.contentSHA256, now, node, item.sopInstanceUID])
                }
                continue
            }
            try db.run("""
                INSERT INTO send_queue(node, sop_instance_uid, path, content_sha256, enqueued_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                """, [node, item.sopInstanceUID, item.path, item.contentSHA256, now, now])
            added += 1
        }
        return added
    }

    func sendQueue(node: String, state: SendQueueEntry.State?) throws -> [SendQueueEntry] {
        try db.query("""
            SELECT node, sop_instance_uid, path, state, attempts, last_status, last_error, enqueued_at, updated_at, content_sha256
            FROM send_queue WHERE node = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY id
            """, [node, state?.rawValue]) {
            SendQueueEntry(node: $0.string(0), sopInstanceUID: $0.string(1), path: $0.string(2),
                           state: SendQueueEntry.State(rawValue: $0.string(3)) ?? .pending, attempts: $0.int(4),
                           lastStatus: $0.optionalInt(5), lastError: $0.optionalString(6),
                           enqueuedAt: $0.string(7), updatedAt: $0.string(8), contentSHA256: $0.optionalString(9))
        }
    }

    func recordSend(node: String, sopInstanceUID: String, sent: Bool, status: Int?, error: String?) throws {
        try db.run("""
            UPDATE send_queue SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?, updated_at = ?
            WHERE node = ? AND sop_instance_uid = ?
            """, [sent ? "sent" : "pending", status, error, FileIO.timestamp(), node, sopInstanceUID])
    }

    // MARK: Queries

    private func absolute(_ stored: String) -> String { home + "/" + stored }

    /// `WHERE a = ? AND b = ?` for the filters given (nil: not filtered).
    /// Built per call, because `(? IS NULL OR a = ?)` keeps SQLite from
    /// using the index: every lookup would scan the table.
    static func filter(_ filters: [(column: String, value: (any SQLiteBindable)?)]) -> (sql: String, arguments: [(any SQLiteBindable)?]) {
        let given = filters.filter { $0.value != nil }
        guard !given.isEmpty else { return ("", []) }
        return ("WHERE " + given.map { "\($0.column) = ?" }.joined(separator: " AND "), given.map(\.value))
    }

    func patients(patientID: String? = nil) throws -> [PatientRecord] {
        let filter = Catalog.filter([("p.patient_id", patientID)])
        return try db.query("""
            SELECT p.patient_id, p.issuer, p.name, p.birth_date, p.sex,
                (SELECT count(*) FROM studies s WHERE s.patient_ref = p.id),
                (SELECT count(*) FROM instances i JOIN series se ON i.series_ref = se.id
                    JOIN studies s ON se.study_ref = s.id WHERE s.patient_ref = p.id)
            FROM patients p \(filter.sql)
            ORDER BY p.name, p.patient_id, p.id
            """, filter.arguments) {
            PatientRecord(patientID: $0.string(0), issuerOfPatientID: $0.optionalString(1), patientName: $0.optionalString(2),
                          birthDate: $0.optionalString(3), sex: $0.optionalString(4),
                          studyCount: $0.int(5), instanceCount: $0.int(6))
        }
    }

    func studies(patientID: String? = nil, studyUID: String? = nil) throws -> [StudyRecord] {
        let filter = Catalog.filter([("p.patient_id", patientID), ("s.study_uid", studyUID)])
        return try db.query("""
            SELECT s.study_uid, p.patient_id, p.name, s.study_date, s.study_time, s.description,
                s.accession_number, s.study_id,
                (SELECT group_concat(m, '\\') FROM (SELECT DISTINCT se.modality AS m FROM series se
                    WHERE se.study_ref = s.id AND se.modality IS NOT NULL AND se.modality != '' ORDER BY m)),
                (SELECT count(*) FROM series se WHERE se.study_ref = s.id),
                (SELECT count(*) FROM instances i JOIN series se ON i.series_ref = se.id WHERE se.study_ref = s.id),
                p.issuer
            FROM studies s JOIN patients p ON s.patient_ref = p.id
            \(filter.sql)
            ORDER BY s.study_date, s.study_time, s.study_uid
            """, filter.arguments) {
            StudyRecord(studyInstanceUID: $0.string(0), patientID: $0.string(1), issuerOfPatientID: $0.optionalString(11),
                        patientName: $0.optionalString(2),
                        studyDate: $0.optionalString(3), studyTime: $0.optionalString(4), studyDescription: $0.optionalString(5),
                        accessionNumber: $0.optionalString(6), studyID: $0.optionalString(7),
                        modalities: $0.optionalString(8).map { $0.split(separator: "\\").map(String.init) } ?? [],
                        seriesCount: $0.int(9), instanceCount: $0.int(10))
        }
    }

    func series(studyUID: String? = nil, seriesUID: String? = nil) throws -> [SeriesRecord] {
        let filter = Catalog.filter([("s.study_uid", studyUID), ("se.series_uid", seriesUID)])
        return try db.query("""
            SELECT se.series_uid, s.study_uid, se.modality, se.series_number, se.description,
                (SELECT count(*) FROM instances i WHERE i.series_ref = se.id)
            FROM series se JOIN studies s ON se.study_ref = s.id
            \(filter.sql)
            ORDER BY s.study_uid, se.series_number, se.series_uid
            """, filter.arguments) {
            SeriesRecord(seriesInstanceUID: $0.string(0), studyInstanceUID: $0.string(1), modality: $0.optionalString(2),
                         seriesNumber: $0.optionalInt(3), seriesDescription: $0.optionalString(4), instanceCount: $0.int(5))
        }
    }

    func instances(seriesUID: String? = nil, sopInstanceUID: String? = nil, importID: Int64? = nil) throws -> [InstanceRecord] {
        let filter = Catalog.filter([("se.series_uid", seriesUID), ("i.sop_instance_uid", sopInstanceUID), ("i.import_ref", importID)])
        return try db.query("""
            SELECT i.sop_instance_uid, i.sop_class_uid, i.transfer_syntax_uid, se.series_uid, s.study_uid, p.patient_id,
                i.instance_number, i.size, i.sha256, i.source_sha256, i.file_meta_added, i.stored_path,
                i.original_path, i.import_ref, i.stored_at, p.issuer
            FROM instances i JOIN series se ON i.series_ref = se.id JOIN studies s ON se.study_ref = s.id
                JOIN patients p ON s.patient_ref = p.id
            \(filter.sql)
            ORDER BY s.study_uid, se.series_number, se.series_uid, i.instance_number, i.sop_instance_uid
            """, filter.arguments) {
            InstanceRecord(sopInstanceUID: $0.string(0), sopClassUID: $0.string(1), transferSyntaxUID: $0.string(2),
                           seriesInstanceUID: $0.string(3), studyInstanceUID: $0.string(4), patientID: $0.string(5),
                           issuerOfPatientID: $0.optionalString(15), instanceNumber: $0.optionalInt(6), size: $0.int64(7), sha256: $0.string(8),
                           sourceSHA256: $0.string(9), fileMetaAdded: $0.bool(10),
                           path: absolute($0.string(11)), storedPath: $0.string(11),
                           originalPath: $0.optionalString(12), importID: $0.optionalInt64(13), storedAt: $0.string(14))
        }
    }

    func conflicts(sopInstanceUID: String? = nil) throws -> [ConflictRecord] {
        let filter = Catalog.filter([("sop_instance_uid", sopInstanceUID)])
        return try db.query("""
            SELECT sop_instance_uid, sha256, size, stored_path, original_path, import_ref, study_uid, series_uid,
                patient_id, patient_name, reason, detected_at
            FROM conflicts \(filter.sql) ORDER BY id
            """, filter.arguments) {
            ConflictRecord(sopInstanceUID: $0.string(0), sha256: $0.string(1), size: $0.int64(2),
                           path: absolute($0.string(3)), storedPath: $0.string(3), originalPath: $0.optionalString(4),
                           importID: $0.optionalInt64(5), studyInstanceUID: $0.optionalString(6),
                           seriesInstanceUID: $0.optionalString(7), patientID: $0.optionalString(8),
                           patientName: $0.optionalString(9), reason: $0.string(10), detectedAt: $0.string(11))
        }
    }

    func imports(id: Int64? = nil) throws -> [ImportRecord] {
        let filter = Catalog.filter([("id", id)])
        return try db.query("""
            SELECT id, source, source_kind, medium_label, volume_id, operator, host, started_at, finished_at, status,
                stored, adopted, duplicates, conflicts, failed, skipped, bytes, note
            FROM imports \(filter.sql) ORDER BY id
            """, filter.arguments) {
            ImportRecord(id: $0.int64(0),
                         source: ImportSource(location: $0.string(1), kind: $0.optionalString(2),
                                              label: $0.optionalString(3), volumeID: $0.optionalString(4)),
                         operatorName: $0.string(5), host: $0.optionalString(6), startedAt: $0.string(7),
                         finishedAt: $0.optionalString(8), status: ImportStatus(rawValue: $0.string(9)) ?? .failed,
                         stored: $0.int(10), adopted: $0.int(11), duplicates: $0.int(12), conflicts: $0.int(13),
                         failed: $0.int(14), skipped: $0.int(15), bytes: $0.int64(16), note: $0.optionalString(17))
        }
    }

    func auditLog(sopInstanceUID: String? = nil, importID: Int64? = nil, limit: Int? = nil) throws -> [AuditEntry] {
        let filter = Catalog.filter([("sop_instance_uid", sopInstanceUID), ("import_ref", importID)])
        return try db.query("""
            SELECT id, at, action, operator, import_ref, sop_instance_uid, detail FROM audit_log
            \(filter.sql)
            ORDER BY id LIMIT \(limit ?? -1)
            """, filter.arguments) {
            AuditEntry(id: $0.int64(0), at: $0.string(1), action: $0.string(2),
                       operatorName: $0.string(3), importID: $0.optionalInt64(4), sopInstanceUID: $0.optionalString(5),
                       detail: $0.optionalString(6))
        }
    }

    /// Every catalogued file: for `check`.
    func catalogedFiles() throws -> [(kind: CheckFinding.Kind, uid: String, storedPath: String, sha256: String, size: Int64)] {
        let instances = try db.query("SELECT sop_instance_uid, stored_path, sha256, size FROM instances ORDER BY id") {
            (kind: CheckFinding.Kind.instance, uid: $0.string(0), storedPath: $0.string(1), sha256: $0.string(2), size: $0.int64(3))
        }
        let conflicts = try db.query("SELECT sop_instance_uid, stored_path, sha256, size FROM conflicts ORDER BY id") {
            (kind: CheckFinding.Kind.conflict, uid: $0.string(0), storedPath: $0.string(1), sha256: $0.string(2), size: $0.int64(3))
        }
        return instances + conflicts
    }

    /// Whether an instance or conflict row names `storedPath` (relative).
    func hasFile(storedPath: String) throws -> Bool {
        try db.scalar("""
            SELECT EXISTS (SELECT 1 FROM instances WHERE stored_path = ?1)
                OR EXISTS (SELECT 1 FROM conflicts WHERE stored_path = ?1)
            """, [storedPath]) == 1
    }
}
