import Convert
import Crypto
import DICOM
import Foundation
import Media
import Reconcile
import Store
import Synchronization

/// What happened to one manifest row.
public struct MigrationRowOutcome: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Stored now.
        case stored
        /// Its objects were in the store already (a re-run, or another import).
        case alreadyStored = "already-stored"
        /// Done by an earlier run (not touched again).
        case done
        /// Rejected before any work (pre-flight) or failed while migrating.
        case invalid, failed
        /// Dry run: would be migrated.
        case planned
    }
    public var line: Int
    public var path: String
    public var patientID: String?
    public var status: Status
    public var sopInstanceUIDs: [String]
    public var message: String?
}

/// The pre-flight: every row checked before any work. It keeps what the
/// run needs to tell the good rows from the bad — the bad rows, with their
/// reasons, and the input to go through again — not the good rows
/// themselves, so its memory does not grow with the manifest.
public struct MigrationPreflight: Sendable {
    /// What was checked; the run goes through it again.
    public let input: MigrationInput
    /// Rows that cannot be migrated, with the reason, by line.
    public var problems: [MigrationRowProblem]
    /// Rows that can be migrated.
    public var good: Int
    public var studies: Int
    /// Old → new Patient IDs.
    public let idMapping: [String: String]
    /// Positions (among the input's rows) of the rows the checks refused.
    let refused: Set<Int>
    /// Name, birth date and sex of each local patient, as the good rows
    /// give them (a row leaving one empty takes the others' value).
    let patientValues: [String: MigrationRowValues]
    /// Study date and description of each study key, as its good rows give them.
    let studyValues: [String: MigrationRowValues]
    /// Modality of each series key (of a study key), as its good image rows give it.
    let seriesValues: [String: MigrationRowValues]

    /// A series key's entry in ``seriesValues``.
    static func seriesEntry(_ row: MigrationRow) -> String? {
        row.seriesKey.map { row.effectiveStudyKey + "\u{1F}" + $0 }
    }

    /// The row's local Patient ID (after the ID mapping).
    public func localPatientID(_ row: MigrationRow) -> String { idMapping[row.patientID] ?? row.patientID }

    /// `row` with the patient and study values its other rows give where
    /// it leaves them empty: every object of one patient, and of one
    /// study, says the same.
    public func completed(_ row: MigrationRow) -> MigrationRow {
        var row = row
        if let patient = patientValues[localPatientID(row)] {
            row.patientName = row.patientName ?? patient.values[0]
            row.birthDate = row.birthDate ?? patient.values[1]
            row.sex = row.sex ?? patient.values[2]
        }
        if let study = studyValues[row.effectiveStudyKey] {
            // Without a study key the date is part of the key: the same already.
            if row.studyKey != nil { row.studyDate = row.studyDate ?? study.values[0] }
            row.studyDescription = row.studyDescription ?? study.values[1]
        }
        if let entry = Self.seriesEntry(row), let series = seriesValues[entry] {
            row.modality = row.modality ?? series.values[0]
        }
        return row
    }

    /// The good rows, in input order.
    public func forEachGoodRow(_ body: (MigrationRow) throws -> Void) throws {
        var position = 0
        try input.forEach { item in
            guard case .success(let row) = item else { return }
            defer { position += 1 }
            if !refused.contains(position) { try body(row) }
        }
    }
}

/// The end report.
public struct MigrationSummary: Sendable, Codable {
    public var job: String
    public var rows: Int
    public var stored: Int
    public var alreadyStored: Int
    public var done: Int
    public var invalid: Int
    public var failed: Int
    public var planned: Int
    /// Nothing was written (`--dry-run`).
    public var dryRun: Bool
    public var instances: Int
    public var bytes: Int
    public var seconds: Double
    /// The rows that are not in the store (invalid or failed), by line.
    /// Every row's outcome goes to the `progress` callback of
    /// ``MigrationJob/run(_:dryRun:progress:)`` as it is done (the CLI
    /// streams them into its report); they are not kept, so memory does
    /// not grow with the manifest.
    public var notMigrated: [MigrationRowOutcome]
    /// Counts per local patient: rows by status.
    public var patients: [String: [String: Int]]
    /// 0: every row is in the store; 1: some rows are invalid or failed.
    public var exitStatus: Int32 { invalid + failed == 0 ? 0 : 1 }
}

/// Migrates an old image-filing system: every manifest row (DICOM, JPEG,
/// PNG, TIFF, BMP or PDF) stored under its local patient.
///
/// - DICOM files are re-identified like an import (``IdentityCoercion``:
///   Patient ID and the registry's demographics, Original Attributes kept,
///   pixels untouched) and keep their own study.
/// - Other files are converted (``StableConversion``) into the study their
///   rows share: one Study Instance UID per (patient, study key), derived
///   from them, so every run — and a resumed one — uses the same UIDs.
///
/// The state of each row is recorded in the catalog with the instances it
/// stored: a `kill -9` and a re-run continue where it stopped, and a
/// finished row is never redone. Both cores work (rows are handed to
/// `workers` threads; more threads than cores, so that reading, converting
/// and waiting for the store's commits overlap).
public final class MigrationJob: Sendable {
    public let store: InstanceStore
    /// Names the job in the catalog (resuming needs the same name).
    public let job: String
    public let workers: Int

    /// Worker threads by default: twice the cores, at least 4 (rows wait
    /// on the disk and on the store's commits as much as they compute).
    public static let defaultWorkers = min(8, max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))

    public init(store: InstanceStore, job: String, workers: Int = MigrationJob.defaultWorkers) {
        self.store = store
        self.job = job
        self.workers = max(1, workers)
    }

    /// Checks every row: the file exists and is a format discport migrates;
    /// the patient is known (when the registry has entries, after
    /// `idMapping` old → new); the rows of a study share one patient — the
    /// study key's, and for a DICOM file the study its header names (a DICOM
    /// file keeps its Study Instance UID, so files of one study given to two
    /// patients would put one study under both: the later rows are refused,
    /// in manifest order, rather than filed by whichever row a worker stored
    /// first).
    ///
    /// One pass over `input`: the files are opened (once each) by
    /// `workers` threads, a short way ahead of the checks, which take the
    /// rows in manifest order on this thread. What it keeps grows with the
    /// studies and the bad rows, plus a 16-byte digest per path (to find a
    /// file named twice).
    public func preflight(_ input: MigrationInput, idMapping: [String: String] = [:]) throws -> MigrationPreflight {
        var bad: [MigrationRowProblem] = []
        var refused = Set<Int>()
        var good = 0
        let registered = Set(try store.registry().map(\.patientID))
        var studyPatient: [String: (patient: String, line: Int)] = [:]
        var dicomStudyPatient: [String: (patient: String, line: Int)] = [:]
        var seenPaths: [PathDigest: Int] = [:]
        // One file under two paths (`./a.jpg`, a symlink, a hard link).
        var seenFiles: [FileIdentity: Int] = [:]
        var patientValues: [String: MigrationRowValues] = [:]
        var studyValues: [String: MigrationRowValues] = [:]
        var seriesValues: [String: MigrationRowValues] = [:]

        // The checks, in manifest order, given what a worker found in the file.
        func check(_ row: MigrationRow, at position: Int, _ facts: FileFacts) {
            func reject(_ message: String) {
                bad.append(MigrationRowProblem(line: row.line, path: row.path, message: message))
                refused.insert(position)
            }
            let digest = PathDigest(row.path)
            if let first = seenPaths[digest] { return reject("the same file as line \(first)") }
            seenPaths[digest] = row.line
            let kind: FileKind
            let identity: FileIdentity
            var header: Result<String?, FileFacts.HeaderError> = .success(nil)
            switch facts {
            case .missing: return reject("no such file: \(row.absolutePath)")
            case .notMigratable: return reject(Self.notMigratable)
            case .migratable(let found, let file): kind = found; identity = file
            case .dicom(let study, let file): kind = .dicom; header = study; identity = file
            }
            if let first = seenFiles[identity] { return reject("the same file as line \(first) (under another path)") }
            seenFiles[identity] = row.line
            let patientID = idMapping[row.patientID] ?? row.patientID
            if let problem = LocalPatientIdentifier.problem(patientID, name: patientID != row.patientID ? "patient_id (mapped from \(row.patientID))" : "patient_id") {
                return reject(problem)
            }
            if !registered.isEmpty && !registered.contains(patientID) {
                return reject("unknown patient \(patientID)\(patientID != row.patientID ? " (mapped from \(row.patientID))" : ""): not in the registry")
            }
            if let owner = studyPatient[row.effectiveStudyKey], owner.patient != patientID {
                return reject("study key \(row.effectiveStudyKey) belongs to patient \(owner.patient) on line \(owner.line)")
            }
            // The manifest's patient values are written into the objects
            // (without a registry), its study values into the study the
            // converted rows share: rows that contradict each other are
            // refused, not filed as one patient, or one study, of two
            // names or dates.
            let patientRow = [row.patientName, row.birthDate, row.sex]
            if registered.isEmpty, let known = patientValues[patientID], let i = known.conflict(patientRow) {
                return reject("\(["patient_name", "birth_date", "sex"][i]) \"\(patientRow[i]!)\" differs from \"\(known.values[i]!)\" of patient \(patientID) on line \(known.lines[i])")
            }
            let studyRow = [row.studyDate, row.studyDescription]
            if kind != .dicom, let known = studyValues[row.effectiveStudyKey], let i = known.conflict(studyRow) {
                return reject("\(["study_date", "study_description"][i]) \"\(studyRow[i]!)\" differs from \"\(known.values[i]!)\" of study key \(row.effectiveStudyKey) on line \(known.lines[i]): one study has one date and description")
            }
            // Images of one series key form one series: one modality (rows
            // without a series key are put in a series per modality).
            let seriesEntry = kind != .dicom && kind != .pdf ? MigrationPreflight.seriesEntry(row) : nil
            if let seriesEntry, let known = seriesValues[seriesEntry], known.conflict([row.modality]) != nil {
                return reject("modality \"\(row.modality!)\" differs from \"\(known.values[0]!)\" of series key \(row.seriesKey!) on line \(known.lines[0]): one series has one modality")
            }
            if kind == .dicom {
                let study: String?
                switch header {
                case .failure(let error): return reject("a DICOM file whose header cannot be read: \(error.message)")
                case .success(let found): study = found
                }
                if let study {
                    if let owner = dicomStudyPatient[study], owner.patient != patientID {
                        return reject("its study \(study) has a file of patient \(owner.patient) on line \(owner.line): one study cannot belong to two patients (give these rows one patient, or reassign the study after migrating)")
                    }
                    dicomStudyPatient[study] = (patientID, row.line)
                }
            }
            studyPatient[row.effectiveStudyKey] = (patientID, row.line)
            patientValues[patientID, default: MigrationRowValues(count: 3)].merge(patientRow, line: row.line)
            if kind != .dicom { studyValues[row.effectiveStudyKey, default: MigrationRowValues(count: 2)].merge(studyRow, line: row.line) }
            if let seriesEntry { seriesValues[seriesEntry, default: MigrationRowValues(count: 1)].merge([row.modality], line: row.line) }
            good += 1
        }

        // Files are opened by the workers; their facts come back by position.
        let threads = workers
        let paths = MigrationQueue<(position: Int, path: String)>(capacity: 8 * threads)
        let found = MigrationFacts()
        let finished = DispatchGroup()
        for _ in 0..<threads {
            finished.enter()
            let thread = Thread {
                while let next = paths.take() { found.put(next.position, FileFacts(path: next.path)) }
                finished.leave()
            }
            thread.name = "discport.preflight"
            thread.start()
        }
        // Rows waiting for their file's facts, oldest first (a window of
        // about the queue's length).
        var waiting: [(position: Int, row: MigrationRow)] = []
        var checked = 0
        var position = 0
        do {
            try input.forEach { item in
                switch item {
                case .failure(let problem):
                    bad.append(problem)
                case .success(let row):
                    waiting.append((position, row))
                    paths.put((position, row.absolutePath))
                    position += 1
                    while checked < waiting.count, let facts = found.take(waiting[checked].position, wait: false) {
                        check(waiting[checked].row, at: waiting[checked].position, facts)
                        checked += 1
                    }
                    if checked > 64 {
                        waiting.removeFirst(checked)
                        checked = 0
                    }
                }
            }
        } catch {
            paths.close()
            finished.wait()
            throw error
        }
        paths.close()
        while checked < waiting.count {
            check(waiting[checked].row, at: waiting[checked].position, found.take(waiting[checked].position, wait: true)!)
            checked += 1
        }
        finished.wait()
        bad.sort { $0.line < $1.line }
        return MigrationPreflight(input: input, problems: bad, good: good, studies: studyPatient.count,
                                  idMapping: idMapping, refused: refused, patientValues: patientValues, studyValues: studyValues, seriesValues: seriesValues)
    }

    static let notMigratable = "not DICOM, JPEG, PNG, TIFF, BMP or PDF (cannot be read, or another format)"

    /// Migrates the good rows of `preflight` (skipping rows a previous run
    /// finished); `dryRun` stops after the pre-flight, listing what would
    /// be done. Events: one outcome per row — the pre-flight's invalid rows
    /// first, then the others as they are done, from several threads.
    public func run(_ preflight: MigrationPreflight, dryRun: Bool = false,
                    progress: @escaping @Sendable (MigrationRowOutcome) -> Void = { _ in }) throws -> MigrationSummary {
        let clock = ContinuousClock.now
        // A resumed job looks each row up as it comes (a first run has
        // nothing to look up): never every finished row at once.
        let resuming = try store.hasMigrationRows(job: job)
        let shared = MigrationRunState()
        for problem in preflight.problems {
            let outcome = MigrationRowOutcome(line: problem.line, path: problem.path ?? "", patientID: nil, status: .invalid,
                                              sopInstanceUIDs: [], message: problem.message)
            shared.tally.withLock { $0.add(outcome) }
            progress(outcome)
        }
        let location = "migrate:\(job)"
        let importID: Int64? = dryRun ? nil : try store.beginImport(ImportSource(location: location, kind: "migration"))
        // Coercions carry the time of the job's first run, so a resumed run
        // rewrites DICOM files exactly as the first one did.
        let firstRun = try store.imports().first { $0.source.location == location }
        let modificationTime = firstRun.flatMap { IdentityCoercion.dateTime(fromTimestamp: $0.startedAt) }
            ?? IdentityCoercion.dateTime(Date())
        let resolver = PatientResolver(store: store)
        let identities = IdentityCache()
        // The good rows go from this thread (reading the input again) to the
        // workers through a short queue: only the rows being worked on are
        // in memory.
        let threads = min(workers, max(1, preflight.good))
        let queue = MigrationQueue<MigrationWork>(capacity: 4 * threads)
        let work: @Sendable () -> Void = {
            while let item = queue.take() {
                if shared.storeFull.withLock({ $0 != nil }) { continue }
                let row = item.row
                var outcome = MigrationRowOutcome(line: row.line, path: row.path, patientID: item.patientID, status: .failed,
                                                  sopInstanceUIDs: [], message: nil)
                let previous: MigrationRowState?
                do {
                    previous = resuming ? try self.store.migrationRow(job: self.job, key: row.key) : nil
                } catch {
                    // Failed rather than migrated again blindly.
                    outcome.message = "its state from a previous run cannot be read: \(error)"
                    shared.tally.withLock { $0.add(outcome) }
                    progress(outcome)
                    continue
                }
                if let previous, previous.status == .done {
                    outcome.status = .done
                    outcome.sopInstanceUIDs = previous.sopInstanceUIDs
                    // Not redone, but not said done under a patient it is
                    // not filed under either (a manifest corrected since).
                    if let other = self.storedUnderAnotherPatient(previous.sopInstanceUIDs, patientID: item.patientID) {
                        outcome.status = .failed
                        outcome.message = "done by an earlier run of this job and stored under patient \(other), but this row now says patient \(item.patientID): not redone; move it with discport reassign, or give the row its earlier patient"
                    }
                } else if dryRun {
                    outcome.status = .planned
                } else {
                    do {
                        let (uids, stored, size) = try self.migrate(row, patientID: item.patientID, instanceNumber: item.instanceNumber,
                                                                    resolver: resolver, identities: identities, importID: importID,
                                                                    modificationTime: modificationTime)
                        outcome.sopInstanceUIDs = uids
                        outcome.status = stored ? .stored : .alreadyStored
                        shared.bytes.add(size, ordering: .relaxed)
                        try self.store.recordMigrationRow(job: self.job, MigrationRowState(key: row.key, status: .done, sopInstanceUIDs: uids, message: nil))
                    } catch let error where StoreError.isStorageFull(error) {
                        // Not a failure of the row: it is done by the next run.
                        shared.storeFull.withLock { $0 = $0 ?? "\(error)" }
                        continue
                    } catch {
                        outcome.status = .failed
                        outcome.message = "\(error)"
                        try? self.store.recordMigrationRow(job: self.job, MigrationRowState(key: row.key, status: .failed, sopInstanceUIDs: [],
                                                                                           message: outcome.message))
                    }
                }
                shared.tally.withLock { $0.add(outcome) }
                progress(outcome)
            }
        }
        // Threads of their own, not the concurrency pool: the rows block on
        // files and on the store's commits.
        let finished = DispatchGroup()
        for _ in 0..<threads {
            finished.enter()
            let thread = Thread {
                work()
                finished.leave()
            }
            thread.name = "discport.migrate"
            thread.start()
        }
        do {
            // Instance numbers within a series follow the manifest order.
            var positions: [String: Int] = [:]
            try preflight.forEachGoodRow { given in
                let row = preflight.completed(given)
                if let detail = shared.storeFull.withLock({ $0 }) { throw StoreFullError(home: store.home, detail: detail) }
                let patientID = preflight.localPatientID(row)
                let series = patientID + "\u{1F}" + row.effectiveStudyKey + "\u{1F}" + Self.seriesSalt(row)
                let number = positions[series, default: 0] + 1
                positions[series] = number
                queue.put(MigrationWork(row: row, patientID: patientID, instanceNumber: number))
            }
        } catch {
            queue.close()
            finished.wait()
            if error is StoreFullError { try? store.flush() }
            throw error
        }
        queue.close()
        finished.wait()
        if let detail = shared.storeFull.withLock({ $0 }) {
            try? store.flush()
            throw StoreFullError(home: store.home, detail: detail)
        }
        let final = shared.tally.withLock { $0 }
        let summary = MigrationSummary(
            job: job, rows: final.rows, stored: final.count(.stored), alreadyStored: final.count(.alreadyStored),
            done: final.count(.done), invalid: final.count(.invalid), failed: final.count(.failed), planned: final.count(.planned),
            dryRun: dryRun, instances: final.instances, bytes: shared.bytes.load(ordering: .relaxed),
            seconds: (ContinuousClock.now - clock) / .seconds(1),
            notMigrated: final.notMigrated.sorted { ($0.line, $0.path) < ($1.line, $1.path) }, patients: final.patients)
        if let importID {
            try store.finishImport(importID, status: summary.failed == 0 ? .completed : .failed, failed: summary.failed,
                                   note: "migration \(job): \(summary.rows) rows")
        }
        try store.flush()
        return summary
    }

    /// The Patient ID a done row's objects are stored under when it is not
    /// `patientID` (nil when they are under it, or no longer stored).
    private func storedUnderAnotherPatient(_ uids: [String], patientID: String) -> String? {
        for uid in uids {
            if let record = try? store.instance(sopInstanceUID: uid), record.patientID != patientID { return record.patientID }
        }
        return nil
    }

    /// One row: returns its SOP Instance UIDs, whether anything new was
    /// stored, and the bytes read.
    private func migrate(_ row: MigrationRow, patientID: String, instanceNumber: Int, resolver: PatientResolver,
                         identities: IdentityCache, importID: Int64?, modificationTime: String) throws -> ([String], Bool, Int) {
        var (identity, registered) = try identities.identity(patientID) {
            try resolver.localIdentity(patientID: patientID, issuer: nil)
        }
        if registered == nil {
            // The manifest's own values, for a clinic without a registry.
            identity.patientName = row.patientName
            identity.birthDate = row.birthDate
            identity.sex = row.sex
        }
        // The file is opened once: its kind, a DICOM header and the bytes
        // stored all come from this descriptor.
        let file: MigrationFile
        do {
            file = try MigrationFile(path: row.absolutePath)
        } catch MigrationFile.OpenFailure.missing {
            throw MigrationError("no such file: \(row.absolutePath)")
        } catch {
            throw MigrationError("cannot be read: \(row.absolutePath)")
        }
        let size = file.size
        if file.kind == .dicom {
            let header = try file.header()
            let summary: InstanceSummary
            var source = file.source(originalPath: row.path, needsFileMeta: !header.hasFileMeta)
            let coercion = IdentityCoercion(identity: identity, modificationDateTime: modificationTime)
            if let coerced = try coercion.apply(to: header, fileSize: size, path: row.path) {
                source.needsFileMeta = false
                source.rewrite = InstanceSource.Rewrite(header: coerced.header, replacedLength: coerced.replacedLength,
                                                        changes: coerced.changes.map(\.description))
                summary = InstanceSummary(file: DICOMFile(meta: header.meta, dataset: coerced.dataset, transferSyntax: header.transferSyntax))
            } else {
                summary = InstanceSummary(file: header)
            }
            let result = try store.store(source, summary: summary, importID: importID)
            if result.outcome == .conflict { throw MigrationError("stored with other content under SOP Instance UID \(result.sopInstanceUID); kept aside at \(result.path)") }
            return ([result.sopInstanceUID], result.outcome == .stored || result.outcome == .adopted, size)
        }
        let studyUID = StableConversion.derivedUID(["discport migrate study", patientID, row.effectiveStudyKey])
        var options = ConvertOptions(patient: identity, study: StudyContext(
            studyInstanceUID: studyUID, studyDate: row.studyDate, studyDescription: row.studyDescription,
            accessionNumber: nil, studyID: nil, firstSeriesNumber: 1))
        options.seriesDescription = row.seriesKey
        if let date = row.studyDate { options.dateTime = date }
        let session = try ConversionSession(options: options)
        let stable = StableConversion(studyInstanceUID: studyUID, seriesSalt: "migrate \(Self.seriesSalt(row))",
                                      creationDateTime: modificationTime)
        var uids: [String] = []
        var storedAny = false
        let converted = try stable.convert(contents: file.contents(), path: row.absolutePath, displayPath: row.path,
                                           session: session) { object in
            // Numbered in manifest order within the series, the same every run.
            object.dataset.set(DataElement(tag: .instanceNumber, vr: .IS, bytes: Self.even(String(instanceNumber))))
            if let modality = row.modality, object.sopClassUID != "1.2.840.10008.5.1.4.1.1.104.1" {
                object.dataset.set(DataElement(tag: .modality, vr: .CS, bytes: Self.even(modality)))
            }
        }
        for (file, source) in converted {
            let result = try store.store(source, summary: InstanceSummary(file: file), importID: importID)
            if result.outcome == .conflict { throw MigrationError("stored with other content under SOP Instance UID \(result.sopInstanceUID); kept aside at \(result.path)") }
            storedAny = storedAny || result.outcome == .stored || result.outcome == .adopted
            uids.append(result.sopInstanceUID)
        }
        return (uids, storedAny, size)
    }

    /// What tells a row's series apart within its study: its series key,
    /// else its modality (a series has one modality; without either, as
    /// before: the one series of its kind).
    static func seriesSalt(_ row: MigrationRow) -> String {
        if let key = row.seriesKey { return key }
        return row.modality.map { "\u{1F}modality \($0)" } ?? ""
    }

    static func even(_ text: String) -> Data {
        var bytes = Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(0x20) }
        return Data(bytes)
    }

}

/// The local identity of each patient, looked up in the registry once per
/// run (the registry does not change while the rows are migrated).
private final class IdentityCache: Sendable {
    private let known = Mutex<[String: (identity: LocalIdentity, registered: RegisteredPatient?)]>([:])

    func identity(_ patientID: String, lookUp: () throws -> (identity: LocalIdentity, registered: RegisteredPatient?)) throws
        -> (identity: LocalIdentity, registered: RegisteredPatient?) {
        if let found = known.withLock({ $0[patientID] }) { return found }
        let found = try lookUp()
        known.withLock { $0[patientID] = found }
        return found
    }
}

/// What the worker threads of a run share.
private final class MigrationRunState: Sendable {
    let tally = Mutex(MigrationTally())
    let bytes = Atomic<Int>(0)
    /// Set when the store's disk is full: the rows still queued are left
    /// for the next run.
    let storeFull = Mutex<String?>(nil)
}

/// One good row handed to a worker.
private struct MigrationWork: Sendable {
    var row: MigrationRow
    var patientID: String
    var instanceNumber: Int
}

/// A bounded first-in first-out queue from one producer to several
/// consumers: ``put(_:)`` waits while it is full, ``take()`` while it is
/// empty and not closed. A full queue wakes its producer only once it has
/// drained to half, so the producer refills it in a burst rather than
/// being woken and put back to sleep for every item taken (a futex wake,
/// a wait and two context switches per row).
final class MigrationQueue<Element: Sendable>: @unchecked Sendable {
    // One condition serves both sides: the producer waits only on a full
    // queue and consumers only on an empty one, never both at once.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private var producerWaiting = false
    private var consumersWaiting = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
    }

    private var count: Int { items.count - head }

    /// Slots the queue's array holds, taken items not yet dropped
    /// included (for tests: at most twice the capacity).
    var slotsHeld: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count
    }

    func put(_ item: Element) {
        condition.lock()
        defer { condition.unlock() }
        while count >= capacity {
            producerWaiting = true
            condition.wait()
        }
        if head >= capacity {
            // Taken items go before the array grows: a queue kept between
            // half and full never drains to empty.
            items.removeFirst(head)
            head = 0
        }
        items.append(item)
        if consumersWaiting > 0 { condition.signal() }
    }

    /// The next item; nil once the queue is closed and empty.
    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed {
            consumersWaiting += 1
            condition.wait()
            consumersWaiting -= 1
        }
        guard count > 0 else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        if producerWaiting && count <= capacity / 2 {
            producerWaiting = false
            condition.signal()
        }
        return item
    }

    /// No more items (called by the producer after its last ``put(_:)``):
    /// each consumer gets nil once the queue is empty.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// What the pre-flight needs from a row's file, found by opening it once.
private enum FileFacts: Sendable {
    struct HeaderError: Error {
        var message: String
    }
    /// Not there, or a folder.
    case missing
    /// Cannot be read, or not a kind a migration takes.
    case notMigratable
    /// JPEG, PNG, TIFF, BMP or PDF.
    case migratable(FileKind, FileIdentity)
    /// A DICOM file: its header's Study Instance UID, or why the header
    /// cannot be read.
    case dicom(Result<String?, HeaderError>, FileIdentity)

    init(path: String) {
        let file: MigrationFile
        do {
            file = try MigrationFile(path: path)
        } catch MigrationFile.OpenFailure.missing {
            self = .missing
            return
        } catch {
            self = .notMigratable
            return
        }
        guard let kind = file.kind else {
            self = .notMigratable
            return
        }
        guard kind == .dicom else {
            self = .migratable(kind, file.identity)
            return
        }
        do {
            self = .dicom(.success(try file.header().dataset.firstString(.studyInstanceUID)), file.identity)
        } catch {
            self = .dicom(.failure(HeaderError(message: error.message)), file.identity)
        }
    }
}

/// The facts the pre-flight's workers found, by the row's position, until
/// the checks take them.
private final class MigrationFacts: @unchecked Sendable {
    private let condition = NSCondition()
    private var facts: [Int: FileFacts] = [:]

    func put(_ position: Int, _ found: FileFacts) {
        condition.lock()
        facts[position] = found
        condition.signal()
        condition.unlock()
    }

    /// The facts of the row at `position`, waiting for them when `wait`
    /// (else nil when they are not there yet).
    func take(_ position: Int, wait: Bool) -> FileFacts? {
        condition.lock()
        defer { condition.unlock() }
        while wait && facts[position] == nil { condition.wait() }
        return facts.removeValue(forKey: position)
    }
}

/// A path's identity in the pre-flight's check for files named twice: the
/// first 16 bytes of its SHA-256 (two distinct paths share them with a
/// probability of about n²/2¹²⁹ — never, for any manifest).
private struct PathDigest: Hashable {
    let high: UInt64
    let low: UInt64

    init(_ path: String) {
        let digest = SHA256.hash(data: Data(path.utf8))
        (high, low) = digest.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}

/// Values a group of rows must agree on (a patient's name, birth date and
/// sex; a study's date and description): the first row giving each, and
/// its line.
public struct MigrationRowValues: Sendable {
    public private(set) var values: [String?]
    private(set) var lines: [Int]

    init(count: Int) {
        values = Array(repeating: nil, count: count)
        lines = Array(repeating: 0, count: count)
    }

    /// The index of the first of `candidate`'s values that differs from
    /// one given before (an empty one agrees with anything).
    func conflict(_ candidate: [String?]) -> Int? {
        candidate.indices.first { candidate[$0] != nil && values[$0] != nil && candidate[$0] != values[$0] }
    }

    mutating func merge(_ candidate: [String?], line: Int) {
        for i in candidate.indices where values[i] == nil && candidate[i] != nil {
            values[i] = candidate[i]
            lines[i] = line
        }
    }
}

/// What a run counts while its rows are done (under a mutex): counts only,
/// plus the rows that did not go through.
private struct MigrationTally: Sendable {
    var rows = 0
    var byStatus: [MigrationRowOutcome.Status: Int] = [:]
    var instances = 0
    var patients: [String: [String: Int]] = [:]
    var notMigrated: [MigrationRowOutcome] = []

    mutating func add(_ outcome: MigrationRowOutcome) {
        rows += 1
        byStatus[outcome.status, default: 0] += 1
        instances += outcome.sopInstanceUIDs.count
        patients[outcome.patientID ?? "(invalid rows)", default: [:]][outcome.status.rawValue, default: 0] += 1
        if outcome.status == .failed || outcome.status == .invalid { notMigrated.append(outcome) }
    }

    func count(_ status: MigrationRowOutcome.Status) -> Int { byStatus[status] ?? 0 }
}

struct MigrationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
