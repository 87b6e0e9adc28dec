#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Dispatch
import Reconcile
import Foundation
import Synchronization

/// The instance store: DICOM files under a home folder plus the SQLite
/// catalog that describes them (see ``Layout`` for the folders, ``Catalog``
/// for the schema).
///
/// Thread-safe: ``store(_:summary:importID:)`` may be called from many
/// tasks or threads at once. Reading, hashing and writing the bytes happen
/// on the caller's thread; only the catalog work (one SQLite connection) is
/// serialized under a mutex.
///
/// **Durability.** Every instance is streamed into a temporary file inside
/// the store (`tmp/`) while its SHA-256 is computed; its catalog rows
/// (patient, study, series, instance, import counters, audit) go into the
/// current batch transaction. A batch commits after ``Options/batchSize``
/// instances or ``Options/batchInterval`` (a timer commits it even when no
/// further instance comes, so the catalog's write lock is never held long
/// and several discport processes can import at once), and always on
/// ``flush()``, ``finishImport(_:status:skipped:failed:note:)``,
/// ``check()`` and ``close()``. The commit flushes the batch's temporary
/// files to disk (one `syncfs(2)`; where syncfs is missing each file is
/// `fdatasync`ed as it is written; the
/// store call that fills a batch first runs a syncfs without holding the
/// lock, so other callers go on meanwhile), renames them into place, flushes
/// the folders it touched (a second syncfs; without syncfs an fsync per
/// folder), and only then COMMITs. So file and row appear
/// together, and a crash at any moment leaves each instance either whole in
/// its place or not there at all; a catalog row never points at a missing
/// or partial file. Files renamed by a batch whose COMMIT was lost are
/// *adopted* when the import runs again: hashed and, when they have the
/// bytes being stored, given their row. Until its batch commits, an
/// instance's ``StoreResult/path`` does not exist yet.
///
/// **Idempotence.** The same SOP Instance with the same content is skipped
/// (``StoreOutcome/duplicate``). The same SOP Instance UID with other
/// content never replaces what is stored: the copy is kept under
/// `conflicts/` with a row in `conflicts` (``StoreOutcome/conflict``).
public final class InstanceStore: Sendable {
    /// Tuning and durability settings.
    public struct Options: Sendable {
        /// Instances per catalog transaction.
        public var batchSize: Int
        /// Longest time a batch stays open while instances keep coming.
        public var batchInterval: Duration
        /// fsync files and folders before each commit. Turning it off keeps
        /// the catalog consistent but a power loss may lose or truncate
        /// recent files; for tests and throwaway stores only.
        public var synchronous: Bool
        /// Files hashed at once by ``InstanceStore/check()``.
        public var checkConcurrency: Int
        /// The operator recorded in imports and the audit log; nil: `$USER`.
        public var operatorName: String?

        public init(batchSize: Int = 4096, batchInterval: Duration = .milliseconds(500), synchronous: Bool = true,
                    checkConcurrency: Int = 4, operatorName: String? = nil) {
            self.batchSize = max(1, batchSize)
            self.batchInterval = batchInterval
            self.synchronous = synchronous
            self.checkConcurrency = max(1, checkConcurrency)
            self.operatorName = operatorName
        }
    }

    /// Points where a test can inject a crash (internal): a thrown
    /// `StoreError(.injected)` leaves everything as a killed process would;
    /// any other error thrown after the temporary file fails that instance
    /// only (a test's full disk).
    enum FaultPoint: Sendable, Hashable {
        /// The temporary file is complete and flushed, nothing renamed yet.
        case afterTemporaryFile
        /// The file has been renamed into place; its catalog row is not written.
        case afterRename
        /// The batch's files and folders are flushed; COMMIT has not run.
        case beforeCommit
    }

    /// The store's home folder (absolute).
    public let home: String
    public let options: Options
    /// Recorded as the operator of imports and audit entries.
    public let operatorName: String

    private let state: StateLock<State>
    private let temporaryCounter = Atomic<Int>(0)
    /// This process's temporary folder (`tmp/<session>`), fixed while open.
    private let temporaryFolder: String
    /// False once closed (or crashed in a test): checked without the lock.
    private let isOpen = Atomic<Bool>(true)
    private let faultHook: (@Sendable (FaultPoint) throws -> Void)?

    /// `$DISCPORT_HOME`, else `$XDG_DATA_HOME/discport`, else
    /// `~/.local/share/discport`.
    public static func defaultHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home = environment["DISCPORT_HOME"], !home.isEmpty { return home }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/discport" }
        let user = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return user + "/.local/share/discport"
    }

    /// Opens the store at `home` (nil: ``defaultHome(environment:)``),
    /// creating the folders and the catalog when needed and migrating an
    /// older catalog. Temporary files left by crashed runs are removed.
    public convenience init(home: String? = nil, options: Options = Options()) throws {
        try self.init(home: home, options: options, faultHook: nil, migrations: Catalog.migrations)
    }

    /// Opens the store at `home` (nil: ``defaultHome(environment:)``) only
    /// when there is one — its catalog exists — for what only looks at a
    /// store (`ls`, `show`, `store check`): a mistyped `--home` is then an
    /// error (``StoreError/Kind/noStore``), not a new empty store that is
    /// listed as empty and checked as consistent.
    public convenience init(existingHome home: String?, options: Options = Options()) throws {
        let path = InstanceStore.absoluteHome(home)
        guard FileIO.status(path + "/" + Layout.catalogFile) != nil else {
            throw StoreError(.noStore, "no store here: there is no \(Layout.catalogFile) (check --home or $DISCPORT_HOME)", path: path)
        }
        try self.init(home: path, options: options)
    }

    /// `home` (nil: the default) as an absolute path without trailing slash.
    static func absoluteHome(_ home: String?) -> String {
        var path = home ?? InstanceStore.defaultHome()
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    init(home: String?, options: Options, faultHook: (@Sendable (FaultPoint) throws -> Void)?,
         migrations: [String]) throws {
        let path = InstanceStore.absoluteHome(home)
        self.home = path
        self.options = options
        self.operatorName = options.operatorName ?? FileIO.currentUser()
        self.faultHook = faultHook

        var created: [String] = []
        try FileIO.makeDirectories(path, mode: 0o700, created: &created)
        for folder in [Layout.instancesFolder, Layout.conflictsFolder, Layout.temporaryFolder] {
            try FileIO.makeDirectories(path + "/" + folder, created: &created)
        }
        var session = try TemporarySession(home: path)
        let catalog: Catalog
        do {
            catalog = try Catalog(path: path + "/" + Layout.catalogFile, home: path, migrations: migrations)
        } catch {
            session.remove()
            throw error
        }
        temporaryFolder = session.path
        state = StateLock(State(catalog: catalog, session: session))

        try recoverConflictCopies()

        // Commits a batch that has been open too long even when no store
        // call comes (a stalled medium), so the catalog's write lock is
        // never held for long and other processes can write.
        let interval = options.batchInterval
        let milliseconds = Int(max(10, interval / .milliseconds(1)))
        state.withLock { st in
            let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
            timer.schedule(deadline: .now() + .milliseconds(milliseconds), repeating: .milliseconds(milliseconds),
                           leeway: .milliseconds(milliseconds / 4 + 1))
            timer.setEventHandler { [weak self] in self?.commitIfStale() }
            timer.resume()
            st.timer = timer
        }
    }

    deinit {
        try? close()
    }

    /// Path of the SQLite catalog.
    public var catalogPath: String { home + "/" + Layout.catalogFile }

    /// The catalog's schema version (`PRAGMA user_version`).
    public func schemaVersion() throws -> Int {
        try withCatalog { try $0.schemaVersion }
    }

    /// Schema versions applied when this store was opened (empty when the
    /// catalog was already current).
    public func migrationsApplied() throws -> [Int] {
        try withCatalog { $0.appliedMigrations }
    }

    // MARK: - Imports

    /// Starts an import run: a row in `imports` (status `running`,
    /// operator, host, start time) and an audit entry. Returns its id, to
    /// pass to ``store(_:summary:importID:)``.
    public func beginImport(_ source: ImportSource, operatorName: String? = nil) throws -> Int64 {
        let name = operatorName ?? self.operatorName
        return try state.withLock { st throws -> Int64 in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let id = try catalog.insertImport(source, operatorName: name, host: FileIO.hostName())
            var detail = ["source": source.location]
            detail["kind"] = source.kind
            detail["label"] = source.label
            detail["volumeID"] = source.volumeID
            try catalog.audit(.importStarted, operatorName: name, importID: id, sopInstanceUID: nil, detail: detail)
            try commitBatch(&st)
            st.knownImports.insert(id)
            return id
        }
    }

    /// Ends an import run: status, end time, and what the import job itself
    /// counted (files it skipped, failures before reaching the store; the
    /// store's own counts are kept as instances are stored). Commits
    /// everything pending and returns the run's record.
    @discardableResult
    public func finishImport(_ importID: Int64, status: ImportStatus = .completed, skipped: Int = 0, failed: Int = 0,
                             note: String? = nil) throws -> ImportRecord {
        try state.withLock { st throws -> ImportRecord in
            let catalog = try st.open()
            guard try catalog.importExists(importID) else {
                throw StoreError(.invalidInput, "no import run \(importID)")
            }
            try ensureTransaction(&st)
            try writePendingCounts(&st)
            try catalog.finishImport(importID, status: status, skipped: skipped, failed: failed, note: note)
            let record = try catalog.imports(id: importID)[0]
            try catalog.audit(.importFinished, operatorName: operatorName, importID: importID, sopInstanceUID: nil, detail: [
                "status": status.rawValue, "stored": String(record.stored), "adopted": String(record.adopted),
                "duplicates": String(record.duplicates), "conflicts": String(record.conflicts),
                "failed": String(record.failed), "skipped": String(record.skipped), "bytes": String(record.bytes),
            ])
            try commitBatch(&st)
            try throwDeferredError(&st)
            return record
        }
    }

    // MARK: - Storing

    /// Stores one instance; see the type's documentation for what happens.
    ///
    /// - Parameters:
    ///   - source: the bytes, streamed once.
    ///   - summary: where to file it; the SOP Instance UID is required,
    ///     and for a raw data set the SOP Class UID and transfer syntax too.
    ///   - importID: the run from ``beginImport(_:operatorName:)``; its
    ///     counters are updated. nil for instances stored outside a run.
    /// - Throws: ``StoreError`` (bad input, I/O, size mismatch),
    ///   ``SQLiteError``, `DICOMError` (file meta), or whatever the
    ///   source's `copyContents` throws. Nothing is left behind for the
    ///   failed instance.
    public func store(_ source: InstanceSource, summary: InstanceSummary, importID: Int64? = nil) throws -> StoreResult {
        do {
            return try storeInstance(source, summary: summary.normalized, importID: importID)
        } catch let error as StoreError where error.kind == .injected || error.kind == .closed {
            throw error
        } catch {
            if let importID { countFailure(importID) }
            throw error
        }
    }

    /// What to do with a streamed instance, decided against the catalog.
    private enum Plan: Sendable {
        case duplicate(storedPath: String)
        /// The same instance, stored under another patient (the message says which).
        case storedUnderAnotherPatient(storedPath: String, patientID: String, message: String)
        case knownConflict(storedPath: String)
        /// The same instance, its stored file missing or of another size
        /// than catalogued (`damage` says which): written again from this copy.
        case restore(storedPath: String, damage: String, catalogSHA256: String)
        case conflict
        case new
    }

    private func storeInstance(_ source: InstanceSource, summary: InstanceSummary, importID: Int64?) throws -> StoreResult {
        guard !summary.sopInstanceUID.isEmpty else {
            throw StoreError(.invalidInput, "the instance has no SOP Instance UID", path: source.originalPath)
        }
        // 1. Stream into a temporary file, hashing (no lock held).
        if source.rewrite != nil && source.needsFileMeta {
            throw StoreError(.invalidInput, "a rewritten instance carries its own file meta information", path: source.originalPath)
        }
        let header = source.needsFileMeta ? try Layout.fileMetaHeader(for: summary) : source.rewrite?.header
        let metaAdded = source.needsFileMeta
        guard isOpen.load(ordering: .acquiring) else { throw StoreError(.closed, "the store is closed") }
        let temporary = temporaryFolder + "/\(temporaryCounter.add(1, ordering: .relaxed).newValue).part"
        var leaveTemporary = false     // a simulated crash leaves it, as a real one would
        var temporaryExists = true
        defer { if temporaryExists && !leaveTemporary { unlink(temporary) } }

        var hashes = try write(source, header: header, to: temporary)
        if let origin = source.originSHA256 { hashes.source = origin }
        let uid = summary.sopInstanceUID

        // 2. Without syncfs(2) every new file is flushed on its own (step 3),
        //    so duplicates and known conflicts are sorted out first (lock);
        //    with it, step 4 decides everything under one lock.
        let flushEachFile = options.synchronous && FileIO.syncfsFunction == nil
        let early = !flushEachFile ? nil : try state.withLock { st throws -> StoreResult? in
            let catalog = try st.open()
            try checkImport(importID, &st)
            let plan = try classify(uid, summary, hashes.stored, hashes.source, catalog, &st)
            switch plan {
            case .storedUnderAnotherPatient(let path, let patientID, let message):
                try countOne(\.conflicts, importID, &st)
                var outcome = result(.conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, [message])
                outcome.filedUnderAnotherPatient = patientID
                return outcome
            case .duplicate(let path), .knownConflict(let path):
                let isDuplicate = if case .duplicate = plan { true } else { false }
                try countOne(isDuplicate ? \.duplicates : \.conflicts, importID, &st)
                return result(isDuplicate ? .duplicate : .conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, [])
            case .restore, .conflict, .new:
                return nil
            }
        }
        if let early { return early }

        // 3. Without syncfs(2), flush the temporary file now (no lock held,
        //    so flushes overlap); with it, the whole batch is flushed at once.
        if flushEachFile {
            let fd = open(temporary, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.posix("cannot reopen temporary file", path: temporary) }
            defer { closeDescriptor(fd) }
            try FileIO.syncFile(fd, path: temporary)
        }
        do {
            try faultHook?(.afterTemporaryFile)
        } catch let error as StoreError where error.kind == .injected {
            leaveTemporary = true
            state.withLock { crash(&$0) }
            throw error
        }   // other errors (a disk made full by a test) fail this instance only

        // What a new instance's rows need, prepared before taking the lock.
        let newPath = Layout.instancePath(summary)
        var newDetail = ["path": newPath, "sha256": hashes.stored, "original": source.originalPath]
        if metaAdded { newDetail["fileMetaAdded"] = "true" }
        if source.rewrite != nil { newDetail["coerced"] = "true" }
        let newDetailJSON = Catalog.json(newDetail)
        // A file already where a new instance goes was left by an
        // interrupted run. Looked for before taking the lock: while this
        // caller waits for it, only an instance with the same SOP Instance
        // UID can put a file there, and its row makes this one no longer
        // new (a duplicate or a conflict).
        let foundAtNewPath = FileIO.status(home + "/" + newPath) != nil

        // 4. Write the rows and schedule the rename for the batch's commit (lock).
        var preflush = false
        let stored = try state.withLock { st throws -> StoreResult in
            let catalog = try st.open()
            try checkImport(importID, &st)
            try ensureTransaction(&st)
            try catalog.db.run("SAVEPOINT instance")
            var scheduled = false
            let outcome: StoreResult
            do {
                var counts = Catalog.Counts()
                /// Keeps the copy under `conflicts/` with a `conflicts` row (`reason`).
                func keepAside(reason: String, warnings: [String]) throws -> StoreResult {
                    let path = Layout.conflictPath(sopInstanceUID: uid, sha256: hashes.stored)
                    st.schedule(temporary, home + "/" + path)
                    temporaryExists = false
                    scheduled = true
                    try catalog.insertConflict(summary: summary, sha256: hashes.stored, size: hashes.storedSize, storedPath: path,
                                               originalPath: source.originalPath, importID: importID, reason: reason)
                    try catalog.audit(.conflict, operatorName: operatorName, importID: importID, sopInstanceUID: uid,
                                      detail: ["path": path, "sha256": hashes.stored, "original": source.originalPath,
                                               "reason": reason])
                    counts.conflicts = 1
                    counts.bytes = hashes.storedSize
                    return result(.conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, warnings)
                }
                switch try classify(uid, summary, hashes.stored, hashes.source, catalog, &st) {
                case .duplicate(let path):
                    counts.duplicates = 1
                    outcome = result(.duplicate, uid, path, hashes.stored, hashes.storedSize, metaAdded, [])
                case .storedUnderAnotherPatient(let path, let patientID, let message):
                    counts.conflicts = 1
                    var filed = result(.conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, [message])
                    filed.filedUnderAnotherPatient = patientID
                    outcome = filed
                case .knownConflict(let path):
                    counts.conflicts = 1
                    outcome = result(.conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, [])
                case .restore(let path, let damage, let catalogSHA256):
                    st.schedule(temporary, home + "/" + path)
                    temporaryExists = false
                    scheduled = true
                    var detail = ["path": path, "sha256": hashes.stored, "original": source.originalPath, "repaired": damage]
                    if hashes.stored != catalogSHA256 {
                        // Coerced again (another coercion time): the catalog takes the new file.
                        try catalog.updateInstanceContent(sopInstanceUID: uid, sha256: hashes.stored, size: hashes.storedSize)
                        detail["previousSHA256"] = catalogSHA256
                    }
                    try catalog.audit(.restore, operatorName: operatorName, importID: importID, sopInstanceUID: uid, detail: detail)
                    counts.stored = 1
                    counts.bytes = hashes.storedSize
                    outcome = result(.stored, uid, path, hashes.stored, hashes.storedSize, metaAdded, [])
                case .conflict:
                    outcome = try keepAside(reason: "different-content", warnings: [])
                case .new:
                    // Filed first: an instance whose study is another
                    // patient's (or series another study's) is kept aside
                    // before anything touches the file system.
                    let filed = try catalog.fileHierarchy(summary)
                    if let misfiling = filed.misfiling {
                        try catalog.db.run("ROLLBACK TO instance")   // the rows its filing touched
                        catalog.forgetCachedRows()
                        var kept: StoreResult
                        if let path = try catalog.conflictPath(sopInstanceUID: uid, sha256: hashes.stored) {
                            counts.conflicts = 1
                            kept = result(.conflict, uid, path, hashes.stored, hashes.storedSize, metaAdded, [misfiling.message])
                        } else {
                            kept = try keepAside(reason: misfiling.reason, warnings: [misfiling.message])
                        }
                        kept.filedUnderAnotherPatient = misfiling.patientID
                        outcome = kept
                        break
                    }
                    let path = newPath
                    let absolute = home + "/" + path
                    var adopted = false
                    var warnings: [String] = []
                    if foundAtNewPath {
                        // Left by an interrupted run (its row was never committed).
                        let existing = try FileIO.sha256(path: absolute)
                        if existing.sha256 == hashes.stored {
                            adopted = true
                            st.pendingDirectories.insert(parent(absolute))
                        } else {
                            let aside = Layout.conflictPath(sopInstanceUID: uid, sha256: existing.sha256)
                            try moveIntoPlace(absolute, home + "/" + aside, &st)
                            try catalog.insertConflict(summary: summary, sha256: existing.sha256, size: existing.size,
                                                       storedPath: aside, originalPath: nil, importID: importID,
                                                       reason: "orphan-displaced")
                            try catalog.audit(.conflict, operatorName: operatorName, importID: importID, sopInstanceUID: uid,
                                              detail: ["path": aside, "sha256": existing.sha256, "reason": "orphan-displaced"])
                            warnings.append("a file without catalog row at \(path) had other content; it was moved to \(aside)")
                        }
                    }
                    if !adopted {
                        st.schedule(temporary, absolute)
                        temporaryExists = false
                        scheduled = true
                    }
                    try catalog.insertInstance(Catalog.NewInstance(
                        summary: summary, seriesRef: filed.series, size: hashes.storedSize, sha256: hashes.stored,
                        sourceSHA256: hashes.source, fileMetaAdded: metaAdded, storedPath: path,
                        originalPath: source.originalPath, importID: importID))
                    if let rewrite = source.rewrite {
                        try catalog.audit(.coercion, operatorName: operatorName, importID: importID, sopInstanceUID: uid,
                                          detail: ["path": path, "original": source.originalPath,
                                                   "sourceSHA256": hashes.source, "changes": rewrite.changes.joined(separator: "\n")])
                    }
                    try catalog.audit(adopted ? .adopt : .store, operatorName: operatorName, importID: importID,
                                      sopInstanceUID: uid, json: newDetailJSON)
                    if adopted { counts.adopted = 1 } else { counts.stored = 1 }
                    counts.bytes = hashes.storedSize
                    outcome = result(adopted ? .adopted : .stored, uid, path, hashes.stored, hashes.storedSize, metaAdded, warnings)
                }
                try catalog.db.run("RELEASE instance")
                // The run's counters are written once per batch (``commitBatch(_:)``).
                if let importID { st.addCounts(counts, toImport: importID) }
            } catch {
                if catalog.isInTransaction {
                    try? catalog.db.run("ROLLBACK TO instance")
                    try? catalog.db.run("RELEASE instance")
                    catalog.forgetCachedRows()
                }
                if scheduled, let last = st.pendingRenames.popLast() {
                    st.pendingTargets.remove(last.target)
                    temporaryExists = true      // removed by the defer
                }
                throw error
            }
            st.pending += 1
            if st.preflushing {
                // Another caller is flushing the batch's files; it commits.
            } else if options.synchronous, FileIO.syncfsFunction != nil, isDue(st) {
                st.preflushing = true
                preflush = true
            } else {
                try maybeCommit(&st)
            }
            return outcome
        }
        // 5. The batch is due: flush the file system *without* the lock, so
        //    the other callers keep streaming and filing instances meanwhile,
        //    then commit (lock). The commit still runs its own syncfs, which
        //    covers the files written during this one, so the guarantee is
        //    unchanged; it merely finds almost nothing left to write.
        if preflush {
            try? FileIO.syncFileSystem(containing: home)   // a failure is the commit's to report
            try state.withLock { st throws in
                st.preflushing = false
                try commitBatch(&st)
            }
        }
        return stored
    }

    /// Streams `source` into a new file at `path` (the Part 10 file the
    /// store keeps for it: `header`, then the source after what the rewrite
    /// replaces), hashing both; checks the announced size.
    private func write(_ source: InstanceSource, header: Data?, to temporary: String) throws
        -> (stored: String, source: String, storedSize: Int64, sourceSize: Int64) {
        let hashes: (stored: String, source: String, storedSize: Int64, sourceSize: Int64)
        do {
            let writer = try HashingWriter(path: temporary, capacity: (source.expectedSize ?? FileIO.chunkSize) + (header?.count ?? 0))
            if let header { try writer.writeHeader(header) }
            var first = source.needsFileMeta
            var toReplace = source.rewrite?.replacedLength ?? 0
            try source.copyContents { chunk in
                if first {
                    try Layout.checkRawDataSetStart(chunk, path: source.originalPath)
                    first = false
                }
                if toReplace > 0 {
                    let skipped = min(toReplace, chunk.count)
                    writer.skipSource(UnsafeRawBufferPointer(rebasing: chunk[0..<skipped]))
                    toReplace -= skipped
                    try writer.writeSource(UnsafeRawBufferPointer(rebasing: chunk[skipped...]))
                } else {
                    try writer.writeSource(chunk)
                }
            }
            if toReplace > 0 {
                throw StoreError(.sizeMismatch, "the source ended before the \(source.rewrite?.replacedLength ?? 0) bytes its rewrite replaces", path: source.originalPath)
            }
            hashes = try writer.finish()
        }
        if let expected = source.expectedSize, Int64(expected) != hashes.sourceSize {
            throw StoreError(.sizeMismatch, "the source announced \(expected) bytes but gave \(hashes.sourceSize)", path: source.originalPath)
        }
        return hashes
    }

    private func result(_ outcome: StoreOutcome, _ uid: String, _ storedPath: String, _ sha: String, _ size: Int64,
                        _ metaAdded: Bool, _ warnings: [String]) -> StoreResult {
        StoreResult(outcome: outcome, sopInstanceUID: uid, path: home + "/" + storedPath, sha256: sha, size: size,
                    fileMetaAdded: metaAdded, warnings: warnings)
    }

    /// What to do with an instance (`summary`) whose bytes as stored and
    /// as read hash to `stored` and `source`, against the catalog.
    private func classify(_ uid: String, _ summary: InstanceSummary, _ stored: String, _ source: String, _ catalog: Catalog,
                          _ st: inout State) throws -> Plan {
        if let existing = try catalog.instance(sopInstanceUID: uid) {
            let same = Set([existing.sha256, existing.sourceSHA256]).contains(stored)
                || Set([existing.sha256, existing.sourceSHA256]).contains(source)
            if same && existing.patientKey != Catalog.patientKey(summary) {
                return .storedUnderAnotherPatient(storedPath: existing.storedPath, patientID: existing.patientID,
                                                  message: Catalog.storedUnderAnotherPatient(summary, existing))
            }
            if same {
                // A cheap look at the stored file (no hashing): missing or
                // of another size, it is written again from this copy.
                let absolute = home + "/" + existing.storedPath
                if !st.pendingTargets.contains(absolute), let damage = Self.damage(of: absolute, catalogSize: existing.size) {
                    return .restore(storedPath: existing.storedPath, damage: damage, catalogSHA256: existing.sha256)
                }
                return .duplicate(storedPath: existing.storedPath)
            }
            if let path = try catalog.conflictPath(sopInstanceUID: uid, sha256: stored) {
                return .knownConflict(storedPath: path)
            }
            return .conflict
        }
        return .new
    }

    /// What is wrong with a stored file, from its status alone: missing
    /// (or not a regular file), or a size other than the catalog's; nil
    /// when neither.
    private static func damage(of path: String, catalogSize: Int64) -> String? {
        guard let info = FileIO.status(path), (info.st_mode & S_IFMT) == S_IFREG else { return "missing" }
        return Int64(info.st_size) == catalogSize ? nil : "size \(info.st_size) bytes, the catalog says \(catalogSize)"
    }

    /// The folder of an absolute path (`/a/b/c` → `/a/b`, `/a` → `/`),
    /// cut at the last `/` without Foundation's path parsing (twice per
    /// stored instance).
    private func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        return slash == path.utf8.startIndex ? "/" : String(path[..<slash])
    }

    /// Renames `from` to `target` (both absolute), creating folders; the
    /// folders touched are fsynced before the commit.
    private func moveIntoPlace(_ from: String, _ target: String, _ st: inout State) throws {
        let folder = parent(target)
        for attempt in 0..<2 {
            if !st.knownDirectories.contains(folder) {
                var created: [String] = []
                try FileIO.makeDirectories(folder, created: &created)
                for directory in created { st.pendingDirectories.insert(parent(directory)) }
                st.knownDirectories.insert(folder)
            }
            if rename(from, target) == 0 {
                st.pendingDirectories.insert(folder)
                st.pendingDirectories.insert(parent(from))
                return
            }
            if errno == ENOENT && attempt == 0 {
                st.knownDirectories.remove(folder)   // removed behind our back: create again
                continue
            }
            break
        }
        throw StoreError.posix("cannot move into the store", path: target)
    }

    private func checkImport(_ importID: Int64?, _ st: inout State) throws {
        guard let importID, !st.knownImports.contains(importID) else { return }
        guard try st.open().importExists(importID) else {
            throw StoreError(.invalidInput, "no import run \(importID) (call beginImport first)")
        }
        st.knownImports.insert(importID)
    }

    private func countFailure(_ importID: Int64) {
        state.withLock { st in
            guard st.catalog != nil, st.knownImports.contains(importID) else { return }
            try? countOne(\.failed, importID, &st)
        }
    }

    /// Counts one instance that moves no file (a duplicate, a conflict
    /// found early, a failure) for its import run, in the open batch.
    private func countOne(_ outcome: WritableKeyPath<Catalog.Counts, Int>, _ importID: Int64?, _ st: inout State) throws {
        guard let importID else { return }
        try ensureTransaction(&st)
        var counts = Catalog.Counts()
        counts[keyPath: outcome] = 1
        st.addCounts(counts, toImport: importID)
        st.pending += 1
        try maybeCommit(&st)
    }

    // MARK: - Batches

    private func ensureTransaction(_ st: inout State) throws {
        let catalog = try st.open()
        guard !catalog.isInTransaction else { return }
        try catalog.begin()
        st.batchStarted = .now
        st.pending = 0
    }

    /// The timer's work: commit a batch older than the interval. A failure
    /// is reported by the next ``flush()``, ``finishImport(_:status:skipped:failed:note:)``
    /// or ``close()``.
    private func commitIfStale() {
        state.withLock { st in
            guard st.catalog != nil, let started = st.batchStarted,
                  ContinuousClock.now - started >= options.batchInterval else { return }
            do {
                try commitBatch(&st)
            } catch {
                if st.deferredError == nil { st.deferredError = error }
            }
        }
    }

    /// Throws (once) a failure of a commit made by the timer.
    private func throwDeferredError(_ st: inout State) throws {
        if let error = st.deferredError {
            st.deferredError = nil
            throw error
        }
    }

    /// Adds the counters gathered in the open batch to their import runs'
    /// rows (one UPDATE per run and batch instead of one per instance).
    private func writePendingCounts(_ st: inout State) throws {
        guard !st.pendingCounts.isEmpty else { return }
        let catalog = try st.open()
        for (importID, counts) in st.pendingCounts.sorted(by: { $0.key < $1.key }) {
            try catalog.addCounts(counts, toImport: importID)
        }
        st.pendingCounts.removeAll()
    }

    private func maybeCommit(_ st: inout State) throws {
        if isDue(st) { try commitBatch(&st) }
    }

    /// The open batch is full or has been open for the interval.
    private func isDue(_ st: State) -> Bool {
        guard let started = st.batchStarted else { return false }
        return st.pending >= options.batchSize || ContinuousClock.now - started >= options.batchInterval
    }

    /// Commits the batch: flushes the temporary files (one syncfs), renames
    /// them into place, flushes the folders touched (syncfs again), then COMMITs. A crash
    /// before the renames leaves only temporary files (removed on the next
    /// open); after them, whole files whose rows are adopted on re-import.
    private func commitBatch(_ st: inout State) throws {
        guard let catalog = st.catalog, catalog.isInTransaction else { return }
        do {
            try writePendingCounts(&st)
            if !st.pendingRenames.isEmpty {
                if options.synchronous, FileIO.syncfsFunction != nil {
                    try FileIO.syncFileSystem(containing: home)
                }
                let renames = st.pendingRenames
                st.pendingRenames.removeAll()
                st.pendingTargets.removeAll()
                for (index, move) in renames.enumerated() {
                    do {
                        try moveIntoPlace(move.temporary, move.target, &st)
                    } catch {
                        for rest in renames[index...] { unlink(rest.temporary) }
                        throw error
                    }
                }
                try faultHook?(.afterRename)
            }
            if options.synchronous && !st.pendingDirectories.isEmpty {
                if FileIO.syncfsFunction != nil {
                    // One syncfs makes every name the batch created or
                    // renamed durable (all of the file system's dirty
                    // metadata), where an fsync per folder cost a disk
                    // cache flush each, with every store call waiting.
                    try FileIO.syncFileSystem(containing: home)
                } else {
                    for directory in st.pendingDirectories.sorted() {
                        try FileIO.syncDirectory(directory)
                    }
                }
            }
            try faultHook?(.beforeCommit)
            try catalog.commit()
        } catch let error as StoreError where error.kind == .injected {
            crash(&st)
            throw error
        } catch {
            // The batch's rows are lost. Files already renamed stay and are
            // adopted when the import runs again; the others are dropped.
            catalog.rollback()
            st.pendingCounts.removeAll()
            for move in st.pendingRenames { unlink(move.temporary) }
            st.pendingRenames.removeAll()
            st.pendingTargets.removeAll()
            st.pendingDirectories.removeAll()
            st.batchStarted = nil
            st.pending = 0
            throw error
        }
        st.pendingDirectories.removeAll()
        st.batchStarted = nil
        st.pending = 0
    }

    /// Commits the current batch: everything stored so far is durable when
    /// this returns.
    public func flush() throws {
        try state.withLock { st throws in
            try commitBatch(&st)
            try throwDeferredError(&st)
        }
    }

    /// Commits, closes the catalog and removes this store's temporary
    /// folder. Further calls throw ``StoreError/Kind/closed``. Called by
    /// `deinit` too.
    public func close() throws {
        isOpen.store(false, ordering: .releasing)
        try state.withLock { st throws in
            st.timer?.cancel()
            st.timer = nil
            guard st.catalog != nil else { return }
            defer {
                st.catalog?.close()
                st.catalog = nil
                st.session.remove()
            }
            try commitBatch(&st)
            try throwDeferredError(&st)
        }
    }

    /// Simulates the process dying: the open batch is lost (rolled back,
    /// as SQLite does on the next open after a crash), nothing is cleaned
    /// up, the temporary folder's lock is released. (Tests.)
    func simulateCrash() {
        state.withLock { crash(&$0) }
    }

    private func crash(_ st: inout State) {
        isOpen.store(false, ordering: .releasing)
        st.timer?.cancel()
        st.timer = nil
        st.pendingRenames.removeAll()     // their temporary files stay, as after a real crash
        st.pendingTargets.removeAll()
        st.pendingCounts.removeAll()
        st.catalog?.rollback()
        st.catalog?.close()
        st.catalog = nil
        st.session.unlock()
    }

    // MARK: - Audit and deletion

    /// Appends an entry to the audit log (for coercions and exports done by
    /// other parts of discport) and commits it.
    public func audit(_ action: AuditAction, sopInstanceUID: String? = nil, importID: Int64? = nil,
                      detail: [String: String] = [:]) throws {
        try state.withLock { st throws in
            let catalog = try st.open()
            try ensureTransaction(&st)
            try catalog.audit(action, operatorName: operatorName, importID: importID, sopInstanceUID: sopInstanceUID, detail: detail)
            try commitBatch(&st)
        }
    }

    /// Removes an instance from the store: its row (and any series, study
    /// and patient left empty) and an audit entry are committed first, then
    /// the file is deleted. Returns false when no such instance is stored.
    @discardableResult
    public func delete(sopInstanceUID: String, reason: String) throws -> Bool {
        let uid = UID.trimmed(sopInstanceUID)
        return try state.withLock { st throws -> Bool in
            let catalog = try st.open()
            try ensureTransaction(&st)
            guard let existing = try catalog.instance(sopInstanceUID: uid),
                  let path = try catalog.deleteInstance(sopInstanceUID: uid) else { return false }
            try catalog.audit(.deletion, operatorName: operatorName, importID: nil, sopInstanceUID: uid,
                              detail: ["path": path, "sha256": existing.sha256, "reason": reason])
            try commitBatch(&st)
            let absolute = home + "/" + path
            if unlink(absolute) != 0 && errno != ENOENT {
                throw StoreError.posix("the instance was removed from the catalog but its file could not be deleted", path: absolute)
            }
            if options.synchronous { try? FileIO.syncDirectory(parent(absolute)) }
            return true
        }
    }

    /// Copies kept aside under `conflicts/` by a run that died before its
    /// batch committed have no row. Their names say what they are
    /// (`<SOP Instance UID>/<SHA-256>.dcm`): each one whose content matches
    /// its name gets its row back, so nothing set aside is ever untracked.
    private func recoverConflictCopies() throws {
        let folder = home + "/" + Layout.conflictsFolder
        let files = FileIO.regularFiles(under: folder)
        guard !files.isEmpty else { return }
        try state.withLock { st throws in
            let catalog = try st.open()
            let known = Set(try catalog.conflicts().map(\.storedPath))
            for relative in files {
                let stored = Layout.conflictsFolder + "/" + relative
                guard !known.contains(stored), relative.hasSuffix(".dcm") else { continue }
                let parts = relative.split(separator: "/")
                guard parts.count == 2 else { continue }
                let expected = String(parts[1].dropLast(4))
                guard let actual = try? FileIO.sha256(path: home + "/" + stored), actual.sha256 == expected,
                      let header = try? DICOMFile(contentsOf: home + "/" + stored, options: .header) else { continue }
                var summary = InstanceSummary(file: header).normalized
                // The folder is the UID made a file name (``Layout/component(forUID:)``):
                // the header's UID when it is that one's, the folder's
                // name only when the header says otherwise.
                if Layout.component(forUID: summary.sopInstanceUID) != String(parts[0]) {
                    summary.sopInstanceUID = String(parts[0])
                }
                try ensureTransaction(&st)
                try catalog.insertConflict(summary: summary.normalized, sha256: actual.sha256, size: actual.size, storedPath: stored,
                                           originalPath: nil, importID: nil, reason: "recovered-after-crash")
                try catalog.audit(.conflict, operatorName: operatorName, importID: nil, sopInstanceUID: summary.sopInstanceUID,
                                  detail: ["path": stored, "sha256": actual.sha256, "reason": "recovered-after-crash"])
            }
            try commitBatch(&st)
        }
    }

    // MARK: - Migrations

    /// The recorded state of one row of a migration job (its key), nil
    /// when no run has recorded it. Looked up row by row, so a resumed job
    /// of any size holds only the rows being worked on.
    public func migrationRow(job: String, key: String) throws -> MigrationRowState? {
        try withCatalog { try $0.migrationRow(job: job, key: key) }
    }

    /// Whether any run of the migration job has recorded a row: a first run
    /// needs no look-up per row.
    public func hasMigrationRows(job: String) throws -> Bool {
        try withCatalog { try $0.hasMigrationRows(job: job) }
    }

    /// Records what a migration row became, in the current batch: it is
    /// committed with (or after) the instances stored for it, so a row
    /// marked done always has its objects in the store. It does not count
    /// towards the batch's size and does not commit it: a commit found due
    /// here would flush the file system with the lock held, stalling every
    /// other writer; the next ``store(_:summary:importID:)`` (which flushes
    /// first without the lock), the timer or ``flush()`` commits it.
    public func recordMigrationRow(job: String, _ row: MigrationRowState) throws {
        try state.withLock { st throws in
            let catalog = try st.open()
            try ensureTransaction(&st)
            try catalog.recordMigrationRow(job: job, row)
        }
    }

    // MARK: - Reassignment

    /// Rewrites a stored instance in place: `header` replaces the first
    /// `replacedLength` bytes of the stored file, the rest is copied as it
    /// is (``IdentityCoercion`` output). The new file is written beside,
    /// flushed, renamed over the old one, and its hash and size committed
    /// with an audit entry in one step. A crash between the rename and the
    /// commit leaves the new file with the old hash in the catalog:
    /// ``refreshContentHash(sopInstanceUID:reason:)`` (which `reassign`
    /// calls when it runs again) settles it.
    ///
    /// The original medium's hash is kept, so importing the original disc
    /// again still finds the instance stored.
    @discardableResult
    public func rewrite(sopInstanceUID: String, header: Data, replacedLength: Int, changes: [String],
                        reason: String) throws -> InstanceRecord {
        let uid = UID.trimmed(sopInstanceUID)
        guard let record = try instance(sopInstanceUID: uid) else {
            throw StoreError(.invalidInput, "no stored instance \(uid)")
        }
        guard isOpen.load(ordering: .acquiring) else { throw StoreError(.closed, "the store is closed") }
        let temporary = temporaryFolder + "/\(temporaryCounter.add(1, ordering: .relaxed).newValue).part"
        var temporaryExists = true
        defer { if temporaryExists { unlink(temporary) } }
        let writer = try HashingWriter(path: temporary, capacity: Int(record.size) + header.count)
        try writer.writeHeader(header)
        var toSkip = replacedLength
        try FileIO.stream(path: record.path) { chunk in
            let skipped = min(toSkip, chunk.count)
            toSkip -= skipped
            try writer.writeSource(UnsafeRawBufferPointer(rebasing: chunk[skipped...]))
        }
        guard toSkip == 0 else {
            throw StoreError(.sizeMismatch, "the stored file is shorter than the part being replaced", path: record.path)
        }
        let hashes = try writer.finish()
        if options.synchronous {
            let fd = open(temporary, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.posix("cannot reopen temporary file", path: temporary) }
            defer { closeDescriptor(fd) }
            try FileIO.syncFile(fd, path: temporary)
        }
        return try state.withLock { st throws -> InstanceRecord in
            let catalog = try st.open()
            try commitBatch(&st)      // whatever was pending goes first
            try ensureTransaction(&st)
            try catalog.updateInstanceContent(sopInstanceUID: uid, sha256: hashes.stored, size: hashes.storedSize)
            try catalog.audit(.reassignment, operatorName: operatorName, importID: nil, sopInstanceUID: uid, detail: [
                "path": record.storedPath, "previousSHA256": record.sha256, "sha256": hashes.stored, "reason": reason,
                "changes": changes.joined(separator: "\n")])
            if rename(temporary, record.path) != 0 {
                let error = StoreError.posix("cannot replace the stored file", path: record.path)
                catalog.rollback()
                st.batchStarted = nil
                st.pending = 0
                throw error
            }
            temporaryExists = false
            if options.synchronous { try FileIO.syncDirectory(parent(record.path)) }
            try commitBatch(&st)
            var updated = record
            updated.sha256 = hashes.stored
            updated.size = hashes.storedSize
            return updated
        }
    }

    /// Re-hashes a stored file and, when it differs from the catalog, takes
    /// the file's hash (audited). For finishing a reassignment interrupted
    /// between its rename and its commit; returns whether the row changed.
    @discardableResult
    public func refreshContentHash(sopInstanceUID: String, reason: String) throws -> Bool {
        let uid = UID.trimmed(sopInstanceUID)
        guard let record = try instance(sopInstanceUID: uid) else { return false }
        let actual = try FileIO.sha256(path: record.path)
        guard actual.sha256 != record.sha256 else { return false }
        try state.withLock { st throws in
            let catalog = try st.open()
            try ensureTransaction(&st)
            try catalog.updateInstanceContent(sopInstanceUID: uid, sha256: actual.sha256, size: actual.size)
            try catalog.audit(.reassignment, operatorName: operatorName, importID: nil, sopInstanceUID: uid, detail: [
                "path": record.storedPath, "previousSHA256": record.sha256, "sha256": actual.sha256, "reason": reason])
            try commitBatch(&st)
        }
        return true
    }

    /// Files a study under another patient (the one `summary` names),
    /// audited; the previous patient is removed when it has no study left.
    ///
    /// The decisions remembered for the study's foreign identities
    /// (`foreignIdentities`: the Patient IDs and issuers it came with) that
    /// name the previous patient move with it, in the same transaction,
    /// each audited as a reconciliation (how `reassign`): the next disc of
    /// that patient follows the correction. Returns the decisions moved, as
    /// they are now.
    @discardableResult
    public func moveStudy(_ studyInstanceUID: String, to summary: InstanceSummary, reason: String,
                          foreignIdentities: [(issuer: String?, patientID: String)] = []) throws -> [IdentityMapping] {
        let summary = summary.normalized
        return try state.withLock { st throws -> [IdentityMapping] in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let study = UID.trimmed(studyInstanceUID)
            let previous = try catalog.moveStudy(study, to: summary)
            try catalog.audit(.reassignment, operatorName: operatorName, importID: nil, sopInstanceUID: nil, detail: [
                "study": studyInstanceUID, "previousPatientID": previous?.patientID ?? "", "patientID": summary.patientID, "reason": reason])
            var moved: [IdentityMapping] = []
            if let previous, previous.patientID != summary.patientID || previous.issuer != summary.issuerOfPatientID {
                for foreign in foreignIdentities {
                    guard var mapping = try catalog.mapping(foreignIssuer: foreign.issuer, foreignID: foreign.patientID),
                          mapping.localID == previous.patientID, (mapping.localIssuer ?? "") == (previous.issuer ?? "") else { continue }
                    mapping.localID = summary.patientID
                    mapping.localIssuer = summary.issuerOfPatientID
                    mapping.how = "reassign"
                    mapping.operatorName = operatorName
                    mapping.decidedAt = FileIO.timestamp()
                    try rememberLocked(mapping, catalog: catalog, importID: nil, detail: ["study": study, "reason": reason])
                    moved.append(mapping)
                }
            }
            try commitBatch(&st)
            return moved
        }
    }

    // MARK: - Queries

    private func withCatalog<T: Sendable>(_ body: (Catalog) throws -> T) throws -> T {
        try state.withLock { st throws -> T in try body(try st.open()) }
    }

    /// This process's temporary folder under `tmp/` (locked while the store
    /// is open, removed when it closes): where a receiver spools files.
    public func temporaryDirectory() throws -> String {
        try state.withLock { st throws -> String in
            _ = try st.open()
            return st.session.path
        }
    }

    // MARK: - Outbox (instances sent without being stored)

    /// An instance written for a node outside the store
    /// (``writeOutgoing(_:summary:node:)``).
    public struct OutgoingFile: Sendable, Hashable {
        /// Absolute path under `outbox/NODE/`.
        public var path: String
        /// SHA-256 of the source (the medium's bytes): the content key of
        /// the send queue, the same however often the file is written again.
        public var sourceSHA256: String
        public var size: Int64
    }

    /// Writes the file the store would keep for `source` (Part 10 header
    /// added or rewritten, pixel data copied as is) into `outbox/NODE/`
    /// under the home, for `import --send --no-store`: never filed in the
    /// catalog, flushed and renamed into place so a killed process leaves
    /// a whole file or none. The caller removes it once the node has
    /// acknowledged it (``removeOutgoing(_:)``); one still there is pending
    /// in the send queue.
    public func writeOutgoing(_ source: InstanceSource, summary: InstanceSummary, node: String) throws -> OutgoingFile {
        guard !summary.sopInstanceUID.isEmpty else {
            throw StoreError(.invalidInput, "the instance has no SOP Instance UID", path: source.originalPath)
        }
        if source.rewrite != nil && source.needsFileMeta {
            throw StoreError(.invalidInput, "a rewritten instance carries its own file meta information", path: source.originalPath)
        }
        guard isOpen.load(ordering: .acquiring) else { throw StoreError(.closed, "the store is closed") }
        let header = source.needsFileMeta ? try Layout.fileMetaHeader(for: summary) : source.rewrite?.header
        let folder = Layout.outboxFolder(node: node)
        var created: [String] = []
        try FileIO.makeDirectories(home + "/" + folder, created: &created)
        let target = home + "/" + folder + "/" + Layout.component(forUID: summary.sopInstanceUID) + ".dcm"
        let temporary = temporaryFolder + "/\(temporaryCounter.add(1, ordering: .relaxed).newValue).part"
        var temporaryExists = true
        defer { if temporaryExists { unlink(temporary) } }
        var hashes = try write(source, header: header, to: temporary)
        if let origin = source.originSHA256 { hashes.source = origin }
        if options.synchronous {
            let fd = open(temporary, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.posix("cannot reopen temporary file", path: temporary) }
            defer { closeDescriptor(fd) }
            try FileIO.syncFile(fd, path: temporary)
        }
        unlink(target)    // an earlier, interrupted run's copy (mode 0444)
        guard rename(temporary, target) == 0 else { throw StoreError.posix("cannot move into the outbox", path: target) }
        temporaryExists = false
        if options.synchronous { try FileIO.syncDirectory(home + "/" + folder) }
        return OutgoingFile(path: target, sourceSHA256: hashes.source, size: hashes.storedSize)
    }

    /// Removes an outbox file (acknowledged by its node, or not to be sent).
    public func removeOutgoing(_ path: String) {
        guard path.hasPrefix(home + "/" + Layout.outboxRoot + "/") else { return }
        unlink(path)
    }

    // MARK: - Remote nodes and the send queue

    /// The configured DICOM peers, by name.
    public func remoteNodes() throws -> [RemoteNodeRecord] {
        try withCatalog { try $0.remoteNodes() }
    }

    public func remoteNode(named name: String) throws -> RemoteNodeRecord? {
        try remoteNodes().first { $0.name == name }
    }

    /// Adds or replaces a node; returns true when it was new.
    @discardableResult
    public func saveRemoteNode(_ node: RemoteNodeRecord) throws -> Bool {
        try state.withLock { st throws -> Bool in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let new = try catalog.saveRemoteNode(node)
            try commitBatch(&st)
            return new
        }
    }

    /// Removes a node (its queue entries stay); false when there was none.
    @discardableResult
    public func removeRemoteNode(named name: String) throws -> Bool {
        try state.withLock { st throws -> Bool in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let existed = try catalog.removeRemoteNode(name)
            try commitBatch(&st)
            return existed
        }
    }

    /// Queues instances for `node` (committed before anything is sent).
    /// Already queued ones keep their state. Returns how many were new.
    @discardableResult
    public func enqueueSends(node: String, items: [SendQueueItem]) throws -> Int {
        try state.withLock { st throws -> Int in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let added = try catalog.enqueue(node: node, items: items)
            try commitBatch(&st)
            return added
        }
    }

    /// The queue of `node`; `state` narrows to pending or sent entries.
    public func sendQueue(node: String, state: SendQueueEntry.State? = nil) throws -> [SendQueueEntry] {
        try withCatalog { try $0.sendQueue(node: node, state: state) }
    }

    /// Records one attempt: `sent` when the node acknowledged the instance.
    /// Committed with the store's batches (``flush()`` commits the rest): a
    /// crash loses at most the last batch's records, whose instances are
    /// then offered again (the peer keeps one copy per SOP Instance UID).
    public func recordSend(node: String, sopInstanceUID: String, sent: Bool, status: Int? = nil, error: String? = nil) throws {
        try state.withLock { st throws in
            let catalog = try st.open()
            try ensureTransaction(&st)
            try catalog.recordSend(node: node, sopInstanceUID: sopInstanceUID, sent: sent, status: status, error: error)
            st.pending += 1
            try maybeCommit(&st)
        }
    }

    // MARK: - Registry and reconciliation

    /// Adds or updates local registry entries by (Patient ID, issuer);
    /// audited. Returns how many were new and how many changed.
    @discardableResult
    public func register(_ patients: [RegisteredPatient], source: String) throws -> (inserted: Int, updated: Int) {
        try state.withLock { st throws -> (inserted: Int, updated: Int) in
            let catalog = try st.open()
            try ensureTransaction(&st)
            let counts = try catalog.upsertRegistry(patients)
            if counts.inserted + counts.updated > 0 {
                try catalog.audit(.registry, operatorName: operatorName, importID: nil, sopInstanceUID: nil, detail: [
                    "source": source, "inserted": String(counts.inserted), "updated": String(counts.updated)])
            }
            try commitBatch(&st)
            return counts
        }
    }

    /// Registry entries, by Patient ID; narrowed to one ID or birth date.
    public func registry(patientID: String? = nil, birthDate: String? = nil) throws -> [RegisteredPatient] {
        try withCatalog { try $0.registry(patientID: patientID, birthDate: birthDate) }
    }

    /// The remembered local patient of a foreign (issuer, Patient ID).
    public func mapping(foreignIssuer: String?, foreignID: String) throws -> IdentityMapping? {
        try withCatalog { try $0.mapping(foreignIssuer: foreignIssuer, foreignID: foreignID) }
    }

    /// Every remembered reconciliation.
    public func mappings() throws -> [IdentityMapping] {
        try withCatalog { try $0.mappings() }
    }

    /// Remembers a reconciliation decision (replacing an older one for the
    /// same foreign identity); audited with the previous decision.
    public func remember(_ mapping: IdentityMapping, importID: Int64? = nil) throws {
        var mapping = mapping
        if mapping.operatorName.isEmpty { mapping.operatorName = operatorName }
        if mapping.decidedAt.isEmpty { mapping.decidedAt = FileIO.timestamp() }
        try state.withLock { st throws in
            let catalog = try st.open()
            try ensureTransaction(&st)
            try rememberLocked(mapping, catalog: catalog, importID: importID)
            try commitBatch(&st)
        }
    }

    /// Writes a decision and, when it names another local patient than
    /// before, its audit entry (`detail` added to it); the lock is held.
    private func rememberLocked(_ mapping: IdentityMapping, catalog: Catalog, importID: Int64?,
                                detail extra: [String: String] = [:]) throws {
        let previous = try catalog.remember(mapping)
        guard previous?.localID != mapping.localID || previous?.localIssuer != mapping.localIssuer else { return }
        var detail = ["foreignIssuer": mapping.foreignIssuer ?? "", "foreignID": mapping.foreignID,
                      "localID": mapping.localID, "localIssuer": mapping.localIssuer ?? "", "how": mapping.how]
        if let previous { detail["previousLocalID"] = previous.localID }
        detail.merge(extra) { current, _ in current }
        try catalog.audit(.reconciliation, operatorName: operatorName, importID: importID, sopInstanceUID: nil, detail: detail)
    }

    /// Patients, by name; `patientID` narrows to one Patient ID.
    public func patients(patientID: String? = nil) throws -> [PatientRecord] {
        try withCatalog { try $0.patients(patientID: patientID) }
    }

    /// Studies by date; `patientID` narrows to one patient's.
    public func studies(patientID: String? = nil) throws -> [StudyRecord] {
        try withCatalog { try $0.studies(patientID: patientID) }
    }

    /// Series; `studyInstanceUID` narrows to one study's.
    public func series(studyInstanceUID: String? = nil) throws -> [SeriesRecord] {
        try withCatalog { try $0.series(studyUID: studyInstanceUID.map(UID.trimmed)) }
    }

    /// Instances; `seriesInstanceUID` narrows to one series', `importID`
    /// to those written by one run.
    public func instances(seriesInstanceUID: String? = nil, importID: Int64? = nil) throws -> [InstanceRecord] {
        try withCatalog { try $0.instances(seriesUID: seriesInstanceUID.map(UID.trimmed), importID: importID) }
    }

    /// One instance by SOP Instance UID.
    public func instance(sopInstanceUID: String) throws -> InstanceRecord? {
        try withCatalog { try $0.instances(sopInstanceUID: UID.trimmed(sopInstanceUID)).first }
    }

    /// When `path` is this store's file of the instance and its bytes no
    /// longer match the catalog (a disk error, a hand edit), says how: the
    /// SHA-256 expected and found. nil for a file that matches, or that is
    /// not the store's. Reads the whole file.
    public func damage(of path: String, sopInstanceUID: String) throws -> String? {
        guard let record = try instance(sopInstanceUID: sopInstanceUID),
              (record.path as NSString).standardizingPath == (path as NSString).standardizingPath else { return nil }
        let actual = try FileIO.sha256(path: path)
        guard actual.sha256 != record.sha256 || actual.size != record.size else { return nil }
        return "its content changed since it was stored (SHA-256 \(actual.sha256), the catalog says \(record.sha256)); "
            + "discport store check lists what else differs"
    }

    /// Everything filed under `identifier`, taken as a Patient ID, a Study,
    /// Series or SOP Instance UID (for `discport show`).
    public func lookup(_ identifier: String) throws -> CatalogLookup {
        let uid = UID.trimmed(identifier)
        return try withCatalog { catalog in
            CatalogLookup(patients: try catalog.patients(patientID: identifier),
                          studies: try catalog.studies(studyUID: uid),
                          series: try catalog.series(seriesUID: uid),
                          instances: try catalog.instances(sopInstanceUID: uid),
                          conflicts: try catalog.conflicts(sopInstanceUID: uid))
        }
    }

    /// What hangs below what ``lookup(_:)`` found, one level down: each
    /// patient's studies (that patient's: the same Patient ID and issuer),
    /// each study's series, each series' instances.
    public func below(_ found: CatalogLookup) throws -> CatalogLookup {
        try withCatalog { catalog in
            var studies: [StudyRecord] = []
            for patient in found.patients {
                studies += try catalog.studies(patientID: patient.patientID)
                    .filter { ($0.issuerOfPatientID ?? "") == (patient.issuerOfPatientID ?? "") }
            }
            var series: [SeriesRecord] = []
            for study in found.studies { series += try catalog.series(studyUID: study.studyInstanceUID) }
            var instances: [InstanceRecord] = []
            for one in found.series { instances += try catalog.instances(seriesUID: one.seriesInstanceUID) }
            return CatalogLookup(patients: [], studies: studies, series: series, instances: instances, conflicts: [])
        }
    }

    /// Import runs, oldest first.
    public func imports() throws -> [ImportRecord] {
        try withImportCounts { try $0.imports() }
    }

    /// One import run.
    public func importRecord(id: Int64) throws -> ImportRecord? {
        try withImportCounts { try $0.imports(id: id).first }
    }

    /// Reads import rows with the open batch's counters in them (as the
    /// batch will commit them).
    private func withImportCounts<T: Sendable>(_ body: (Catalog) throws -> T) throws -> T {
        try state.withLock { st throws -> T in
            let catalog = try st.open()
            if catalog.isInTransaction { try writePendingCounts(&st) }
            return try body(catalog)
        }
    }

    /// Copies kept aside as conflicts; `sopInstanceUID` narrows to one UID.
    public func conflicts(sopInstanceUID: String? = nil) throws -> [ConflictRecord] {
        try withCatalog { try $0.conflicts(sopInstanceUID: sopInstanceUID.map(UID.trimmed)) }
    }

    /// The audit log, oldest first.
    public func auditLog(sopInstanceUID: String? = nil, importID: Int64? = nil, limit: Int? = nil) throws -> [AuditEntry] {
        try withCatalog { try $0.auditLog(sopInstanceUID: sopInstanceUID, importID: importID, limit: limit) }
    }

    // MARK: - Check

    /// Verifies the store against its catalog: every catalogued file
    /// (instances and kept-aside conflicts) is read and its SHA-256 and
    /// size compared; files under `instances/` and `conflicts/` without a
    /// row are listed as orphans. Commits the pending batch first. Reads
    /// ``Options/checkConcurrency`` files at once, each in 1 MiB chunks.
    public func check() throws -> CheckReport {
        let home = self.home
        let (files, temporaryFiles) = try state.withLock { st throws -> ([CatalogedFile], [String]) in
            try commitBatch(&st)
            let rows = try st.open().catalogedFiles().map {
                CatalogedFile(kind: $0.kind, uid: $0.uid, storedPath: $0.storedPath, sha256: $0.sha256, size: $0.size)
            }
            return (rows, TemporarySession.staleFiles(home: home, except: st.session.path))
        }
        let findings = Mutex<(corrupted: [CheckFinding], missing: [CheckFinding], bytes: Int64)>(([], [], 0))
        let workers = min(options.checkConcurrency, max(1, files.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < files.count {
                let file = files[index]
                index += workers
                let absolute = home + "/" + file.storedPath
                var finding = CheckFinding(kind: file.kind, sopInstanceUID: file.uid, path: absolute,
                                           expectedSHA256: file.sha256, actualSHA256: nil, expectedSize: file.size,
                                           actualSize: nil, error: nil)
                guard FileIO.status(absolute) != nil else {
                    finding.error = "no such file"
                    findings.withLock { $0.missing.append(finding) }
                    continue
                }
                do {
                    let actual = try FileIO.sha256(path: absolute)
                    finding.actualSHA256 = actual.sha256
                    finding.actualSize = actual.size
                    findings.withLock {
                        $0.bytes += actual.size
                        if actual.sha256 != file.sha256 || actual.size != file.size { $0.corrupted.append(finding) }
                    }
                } catch {
                    finding.error = "\(error)"
                    findings.withLock { $0.missing.append(finding) }
                }
            }
        }
        let known = Set(files.map(\.storedPath))
        var candidates: [String] = []
        for folder in [Layout.instancesFolder, Layout.conflictsFolder] {
            for relative in FileIO.regularFiles(under: home + "/" + folder) {
                let stored = folder + "/" + relative
                if !known.contains(stored) { candidates.append(stored) }
            }
        }
        // A file without a row may be one another process's batch has
        // renamed into place and is about to commit (a running import):
        // batches rename under the catalog's write lock, so once this
        // holds it, every such batch has committed its rows (or died,
        // leaving true orphans). Only files still without a row are orphans.
        let orphans: [String] = candidates.isEmpty ? [] : try state.withLock { st throws -> [String] in
            let catalog = try st.open()
            let ours = catalog.isInTransaction
            if !ours { try catalog.begin() }
            defer { if !ours { catalog.rollback() } }
            return try candidates.filter { try !catalog.hasFile(storedPath: $0) }.map { home + "/" + $0 }
        }
        let result = findings.withLock { $0 }
        let corrupted = result.corrupted.sorted { $0.path < $1.path }
        let missing = result.missing.sorted { $0.path < $1.path }
        return CheckReport(
            instancesChecked: files.count(where: { $0.kind == .instance }),
            conflictsChecked: files.count(where: { $0.kind == .conflict }),
            bytesChecked: result.bytes, corrupted: corrupted, missing: missing, orphans: orphans,
            temporaryFiles: temporaryFiles,
            isClean: corrupted.isEmpty && missing.isEmpty && orphans.isEmpty)
    }
}

/// The store's lock: a plain pthread mutex, whose waiters sleep at once.
/// Store calls hold it for tens of microseconds and, at each batch commit,
/// for the commit's flushes; with more importing threads than cores, the
/// spinning of `Synchronization.Mutex` (a priority-inheritance futex) cost
/// ~4% of an import's CPU in the profile.
private final class StateLock<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// close(2) (the name `close` is taken by the store's method).
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

private struct CatalogedFile: Sendable {
    var kind: CheckFinding.Kind
    var uid: String
    var storedPath: String
    var sha256: String
    var size: Int64
}

/// The mutable part of an ``InstanceStore``, always used under its mutex.
private struct State {
    /// nil once closed (or after a simulated crash).
    var catalog: Catalog?
    var session: TemporarySession
    /// Folders known to exist (no mkdir needed).
    var knownDirectories: Set<String> = []
    /// Temporary files to rename into place when the batch commits.
    var pendingRenames: [PendingRename] = []
    /// Their targets (absolute), for classifying further copies.
    var pendingTargets: Set<String> = []
    /// Folders that received names in the open batch: fsynced before COMMIT.
    var pendingDirectories: Set<String> = []
    /// Instances in the open batch.
    var pending = 0
    /// Counters of the open batch per import run, not yet in its row:
    /// written inside the batch's transaction just before it commits, so
    /// they are lost (or kept) together with the batch's rows.
    var pendingCounts: [Int64: Catalog.Counts] = [:]
    /// A store call is flushing the file system before committing the
    /// batch (without the lock); the others leave the commit to it.
    var preflushing = false
    var batchStarted: ContinuousClock.Instant?
    /// Import ids known to exist.
    var knownImports: Set<Int64> = []
    /// Commits open batches that are older than the interval.
    var timer: DispatchSourceTimer?
    /// A failed commit by the timer, to report from the next flush.
    var deferredError: (any Error)?

    init(catalog: Catalog, session: TemporarySession) {
        self.catalog = catalog
        self.session = session
    }

    func open() throws -> Catalog {
        guard let catalog else { throw StoreError(.closed, "the store is closed") }
        return catalog
    }

    mutating func addCounts(_ counts: Catalog.Counts, toImport importID: Int64) {
        pendingCounts[importID, default: Catalog.Counts()].add(counts)
    }

    /// Renames `temporary` to `target` (absolute) when the batch commits.
    mutating func schedule(_ temporary: String, _ target: String) {
        pendingRenames.append(PendingRename(temporary: temporary, target: target))
        pendingTargets.insert(target)
    }
}

/// A complete temporary file and where it goes when its batch commits.
private struct PendingRename {
    var temporary: String
    var target: String
}

/// The temporary folder of one open store, `tmp/<pid>-<random>`, locked
/// with flock(2) for the store's lifetime so that other processes (and
/// other stores in this one) leave it alone; unlocked folders are leftovers
/// of crashed runs and are removed when a store opens.
private struct TemporarySession: Sendable {
    let path: String
    private(set) var lockDescriptor: Int32

    init(home: String) throws {
        let root = home + "/" + Layout.temporaryFolder
        // Creating and cleaning up happen under a lock on tmp/ itself, so
        // no one sees a new session folder before it is locked.
        let rootLock = try TemporarySession.lockRoot(root)
        defer { close(rootLock) }
        TemporarySession.removeStale(root: root)
        let name = "\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        path = root + "/" + name
        guard mkdir(path, 0o700) == 0 else { throw StoreError.posix("cannot create temporary folder", path: path) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = StoreError.posix("cannot lock temporary folder", path: path)
            if fd >= 0 { close(fd) }
            rmdir(path)
            throw failure
        }
        lockDescriptor = fd
    }

    /// An exclusive (blocking) flock on `tmp/`; close the descriptor to release it.
    private static func lockRoot(_ root: String) throws -> Int32 {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.posix("cannot open temporary folder", path: root) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let failure = StoreError.posix("cannot lock temporary folder", path: root)
            close(fd)
            throw failure
        }
        return fd
    }

    /// Releases the lock without removing anything (a crash).
    mutating func unlock() {
        if lockDescriptor >= 0 { close(lockDescriptor) }
        lockDescriptor = -1
    }

    /// Removes the folder and releases the lock.
    mutating func remove() {
        guard lockDescriptor >= 0 else { return }
        FileIO.removeTree(path)
        unlock()
    }

    /// Session folders nobody holds a lock on.
    private static func staleSessions(root: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var stale: [String] = []
        for name in names {
            let folder = root + "/" + name
            let fd = open(folder, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                stale.append(folder)     // a stray file
                continue
            }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { stale.append(folder) }
            close(fd)
        }
        return stale
    }

    static func removeStale(root: String) {
        for folder in staleSessions(root: root) { FileIO.removeTree(folder) }
    }

    /// Files in stale session folders (absolute paths), for `check`.
    static func staleFiles(home: String, except own: String) -> [String] {
        let root = home + "/" + Layout.temporaryFolder
        guard let rootLock = try? lockRoot(root) else { return [] }
        defer { close(rootLock) }
        var files: [String] = []
        for folder in staleSessions(root: root) where folder != own {
            if FileIO.isRegularFile(folder) {
                files.append(folder)
            } else {
                files += FileIO.regularFiles(under: folder).map { folder + "/" + $0 }
            }
        }
        return files.sorted()
    }
}
