import DICOM
import Foundation
import Media
import Reconcile
import Store
import Synchronization

/// Imports a patient-brought medium into the store: the reception's main job.
///
/// Two steps, so a person can look before anything is written:
/// 1. ``scan()`` reads every header once (the engine of `discport scan`)
///    and returns an ``ImportPlan`` with one decision per patient found;
/// 2. ``run(_:events:)`` visits the medium again and stores every instance
///    of the patients to import — byte-exact when kept as they are, with
///    the Part 10 header rewritten when re-identified (pixel data and
///    everything after it copied unchanged) — reporting each instance.
///
/// Folders are read by several threads at once and the store takes
/// instances concurrently, so both cores work. Re-running after a crash or
/// `kill -9` finishes the job: what was stored is found again (duplicates),
/// what was written but not committed is adopted.
public final class ImportJob: Sendable {
    /// The note an interrupted run gets when a later run resumes it.
    static let interruptedNote = "interrupted; resumed by a later run"

    public let source: String
    public let store: InstanceStore?
    public let limits: MediumLimits
    private let medium: Mutex<(any Medium)?>

    /// - Parameters:
    ///   - source: folder, ISO image, device, zip/tar, or single file.
    ///   - store: where to import; nil only for a dry run without a store.
    public init(source: String, store: InstanceStore?, limits: MediumLimits = .init()) {
        self.source = source
        self.store = store
        self.limits = limits
        self.medium = Mutex(nil)
    }

    /// Scans the medium. Never throws: an unreadable source gives a report
    /// that says so (``ScanReport/complete`` false) and a plan with no
    /// patients. Every patient starts as ``PatientDecision/skip``.
    public func scan() -> ImportPlan {
        let scanner = MediumScanner(limits: limits)
        do {
            let opened = try openMedium(source, limits: limits)
            medium.withLock { $0 = opened }
            let scanned = scanner.scanKeepingHeaders(opened)
            return ImportPlan(report: scanned.report, headers: scanned.headers)
        } catch {
            return ImportPlan(report: scanner.scan(path: source))
        }
    }

    /// The local patient whose documents a medium without DICOM instances
    /// holds (`--convert --patient-id LOCAL`): one the registry or the store
    /// knows, with their name, birth date and sex. Such a medium names no
    /// patient to hold the ID against, so an ID neither knows (a typo would
    /// make a new patient) is refused.
    public func documentsPatient(localPatientID: String) throws(DecisionError) -> LocalIdentity {
        guard let store else { throw DecisionError("converting documents needs the store (\(localPatientID) is looked up in it)") }
        let known: LocalIdentity?
        do {
            known = try ConvertJob.knownPatient(localPatientID, store: store)
        } catch {
            throw DecisionError("cannot look up patient \(localPatientID): \(error)")
        }
        guard let known else {
            throw DecisionError("patient \(localPatientID) is neither in the registry nor in the store: the medium holds no DICOM to check the ID against, so its documents are not filed under a new patient; register the patient (discport patients add) or give a known Patient ID")
        }
        return known
    }

    /// Imports what `plan` says. Throws only when the store cannot be used
    /// at all (opening the import run, committing); problems with single
    /// instances are reported in their events and in the summary.
    ///
    /// - Parameter dryRun: read the headers and say what would happen;
    ///   nothing is written.
    /// - Parameter send: `--send NODE [--no-store]`: after the import, the
    ///   imported instances (as stored, reconciled) go to the node through
    ///   the retry queue; with ``ImportSend/keepInStore`` false they are
    ///   written into the outbox instead of the store (see ``ImportSend``).
    public func run(_ plan: ImportPlan, dryRun: Bool = false, send: ImportSend? = nil,
                    events: @escaping @Sendable (ImportEvent) -> Void = { _ in }) throws -> ImportSummary {
        let clock = ContinuousClock.now
        let report = plan.report
        let opened = try medium.withLock { current throws -> any Medium in
            if let current { return current }
            let fresh = try openMedium(source, limits: limits)
            current = fresh
            return fresh
        }
        guard dryRun || store != nil else {
            throw StoreError(.invalidInput, "an import needs a store (only a dry run works without one)")
        }
        if let send, !send.keepInStore, plan.convertLooseFiles {
            throw ImportFailure("converting loose files (--convert) stores them: it cannot be combined with sending without storing (\(send.peer.node.name))")
        }
        let outbox = send.flatMap { $0.keepInStore ? nil : $0.peer.node.name }

        // The import run, resuming interrupted ones of the same source: the
        // first of them (since the last run that completed) gives the time
        // written into coerced files, so however often a run is killed and
        // resumed, the files come out the same and what a killed run left
        // behind is adopted.
        var importID: Int64?
        var modificationTime = IdentityCoercion.dateTime(Date())
        if let store, !dryRun {
            let location = report.source.path
            let runs = try store.imports().filter { $0.source.location == location }
            let unfinished = runs.reversed().prefix { $0.status != .completed }
            if let first = unfinished.last(where: { $0.status == .running || $0.note?.hasPrefix(ImportJob.interruptedNote) == true }) {
                modificationTime = IdentityCoercion.dateTime(fromTimestamp: first.startedAt) ?? modificationTime
            }
            for run in unfinished where run.status == .running {
                try store.finishImport(run.id, status: .failed, note: ImportJob.interruptedNote)
            }
            importID = try store.beginImport(ImportSource(location: location, kind: report.source.kind?.rawValue,
                                                          label: report.source.volumeLabel, volumeID: report.source.volumeLabel))
        }
        // Doubtful assignments are applied as decided, and audited with the
        // run (after a resume, again with the run that resumes); a kept
        // identity the clinic uses for someone else is left out (the store
        // would file both people under one patient), audited the same way.
        let warnings = try identityWarnings(plan)
        let refused = Set(warnings.filter(\.refused).flatMap(\.patients))
        let plan = plan.leavingOut(warnings)
        if let store, let importID {
            for warning in warnings {
                let patients = warning.patients.map { report.patients[$0] }
                var detail = [
                    "warning": warning.code.rawValue, "message": warning.message,
                    "foreignID": patients.map { $0.patientID ?? "" }.joined(separator: "\\"),
                    "foreignIssuer": patients.map { $0.issuerOfPatientID ?? "" }.joined(separator: "\\"),
                    "localID": warning.localPatientID, "localIssuer": warning.localIssuer ?? "",
                ]
                if warning.refused { detail["refused"] = "left out, not imported" }
                try store.audit(.reconciliation, importID: importID, detail: detail)
            }
        }
        events(.started(ImportStart(importID: importID, source: report.source.path, instances: plan.plannedInstances,
                                    bytes: plan.plannedBytes, dryRun: dryRun)))

        let coercions = plan.decisions.map { decision -> IdentityCoercion? in
            guard case .assign(let identity) = decision else { return nil }
            return IdentityCoercion(identity: identity, modificationDateTime: modificationTime, accession: plan.accession)
        }
        // A medium of documents only: its documents' patient comes after the
        // medium's (none), so every count has a row.
        let tally = Mutex(Tally(patients: report.patients.count + (plan.documentsPatient == nil ? 0 : 1)))
        let misfiled = MisfiledPatients()
        let worker = InstanceImporter(plan: plan, coercions: coercions, store: store, importID: importID, dryRun: dryRun,
                                      outbox: outbox, misfiled: misfiled)
        // What goes to the node: stored (or outbox) paths and content keys,
        // and where on the medium each came from.
        let toSend = Mutex<[(path: String, contentSHA256: String?, source: String)]>([])

        var mediumError: String?
        let home = store?.home ?? ""
        do {
            try opened.visitFiles({ file in
                guard let planned = plan.instanceByPath[file.path] else { return }
                let event = worker.importInstance(file, patient: planned.patient, expectedUID: planned.sopInstanceUID)
                tally.withLock { $0.add(event) }
                if [.stored, .adopted, .duplicate, .outgoing].contains(event.outcome), let path = event.storedPath {
                    toSend.withLock { $0.append((path, event.contentSHA256, event.path)) }
                }
                events(.instance(event))
                if event.storeFull {
                    throw StoreFullError(home: home, detail: event.message ?? "no space left")
                }
            }, skipped: { _ in })
        } catch let error as StoreFullError {
            // Keep what is stored (a commit may still fit); the run stays
            // unfinished, and the next one goes on from there.
            try? store?.flush()
            throw error
        } catch {
            mediumError = (error as? MediaError)?.description ?? "\(error)"
        }

        var conversionNotes: [String] = []
        if plan.convertLooseFiles && mediumError == nil {
            conversionNotes = LooseFileConversion(plan: plan, medium: opened, store: store, importID: importID,
                                                  dryRun: dryRun, creationDateTime: modificationTime).run { event in
                tally.withLock { $0.add(event) }
                events(.instance(event))
            }
        }

        let final = tally.withLock { $0 }
        var summary = ImportSummary(
            importID: importID, source: report.source.path, dryRun: dryRun,
            complete: report.complete && mediumError == nil,
            patients: report.patients.enumerated().map { index, patient in
                let decision = plan.decisions[index]
                var localID: String? = nil
                switch decision {
                case .keepSourceIdentity: localID = patient.patientID ?? ""
                case .assign(let identity): localID = identity.patientID
                case .skip: break
                }
                return ImportSummary.Patient(sourcePatientID: patient.patientID, sourceName: patient.name,
                                             birthDate: patient.birthDate, decision: refused.contains(index) ? "refused" : decision.label,
                                             patientID: localID, counts: final.perPatient[index])
            } + (plan.documentsPatient.map { local in
                [ImportSummary.Patient(sourcePatientID: nil, sourceName: LooseFileConversion.documentsLabel, birthDate: nil,
                                       decision: PatientDecision.assign(local).label, patientID: local.patientID,
                                       counts: final.perPatient[report.patients.count])]
            } ?? []),
            counts: final.counts,
            unreadable: report.problems.filter { [.truncated, .damaged, .unreadableFile].contains($0.code) }.compactMap(\.path),
            looseFiles: report.looseFiles,
            failures: final.failures.sorted { $0.path < $1.path },
            conflicts: final.conflicts.sorted { $0.path < $1.path },
            mediumError: mediumError,
            seconds: 0)
        summary.converted = final.converted
        summary.warnings = warnings
        summary.conversionNotes = conversionNotes
        // Instances the scan saw but the import did not find again (the
        // medium changed or could not be read to its end).
        let unseen = plan.plannedInstances - (final.counts.total - final.counts.skipped - final.converted)
        if unseen > 0 && mediumError == nil {
            summary.mediumError = "\(unseen) instance(s) seen by the scan were not found again on the medium"
            summary.complete = false
        }
        if let store, let importID {
            try PatientResolver(store: store).remember(plan, summary: summary, importID: importID,
                                                       except: misfiled.patients.withLock { $0 })
            let status: ImportStatus = summary.complete ? .completed : .failed
            try store.finishImport(importID, status: status, skipped: final.counts.skipped, failed: final.failedBeforeStore, note: summary.mediumError)
        }
        if let send, let store, !dryRun {
            let job = SendJob(store: store, peer: send.peer)
            let queued = toSend.withLock { $0 }
            let sources = Dictionary(queued.map { ($0.path, $0.source) }, uniquingKeysWith: { first, _ in first })
            summary.send = try job.send(queued.map { ($0.path, $0.contentSHA256) }, parallel: send.parallel, checkStored: false) { sent in
                var sent = sent
                sent.sourcePath = sources[sent.path]
                events(.sent(sent))
            }
        }
        summary.seconds = (ContinuousClock.now - clock) / .seconds(1)
        events(.finished(summary))
        return summary
    }
}

/// Counts kept while the visit runs (under a mutex).
private struct Tally: Sendable {
    var counts = ImportSummary.Counts()
    var perPatient: [ImportSummary.Counts]
    var failures: [InstanceEvent] = []
    var conflicts: [InstanceEvent] = []
    /// Failures before the store was reached (the store counts its own).
    var failedBeforeStore = 0
    /// Events of converted files (not instances the scan saw).
    var converted = 0

    init(patients: Int) {
        perPatient = Array(repeating: ImportSummary.Counts(), count: patients)
    }

    mutating func add(_ event: InstanceEvent) {
        counts.add(event.outcome, size: event.size)
        if event.convertedFrom != nil { converted += 1 }
        if perPatient.indices.contains(event.patient) { perPatient[event.patient].add(event.outcome, size: event.size) }
        if event.outcome == .failed {
            failures.append(event)
            if !event.reachedStore { failedBeforeStore += 1 }
        }
        if event.outcome == .conflict { conflicts.append(event) }
    }
}

/// The patients of the medium (by index) with an instance the store has
/// filed under another patient: the decision taken for them contradicts
/// the store, so it is not remembered.
private final class MisfiledPatients: Sendable {
    let patients = Mutex<Set<Int>>([])
}

/// Imports one instance: header, decision, coercion, store.
private struct InstanceImporter: Sendable {
    let plan: ImportPlan
    let coercions: [IdentityCoercion?]
    let store: InstanceStore?
    let importID: Int64?
    let dryRun: Bool
    /// `--no-store`: the node whose outbox takes the instances instead of the store.
    let outbox: String?
    let misfiled: MisfiledPatients

    func importInstance(_ file: MediumFile, patient: Int, expectedUID: String?) -> InstanceEvent {
        var event = InstanceEvent(path: file.path, sopInstanceUID: expectedUID, outcome: .failed, patient: patient,
                                  patientID: nil, coerced: false, storedPath: nil, size: file.size, message: nil,
                                  convertedFrom: nil)
        let decision = plan.decisions[patient]
        if decision == .skip {
            event.outcome = .skipped
            return event
        }
        do {
            if coercions[patient] == nil, let scanned = plan.headers[file.path], !plan.uidMismatches.contains(file.path),
               let uid = scanned.sopInstanceUID, expectedUID.map(UID.trimmed) == UID.trimmed(uid) {
                // Kept as it is: filed from the header the scan read.
                return try importAsScanned(file, scanned: scanned, event: event)
            }
            let header = try DICOMFile(size: file.size, path: file.path, options: .header) { (count: Int) throws(DICOMError) -> Data in
                do throws(MediaError) {
                    return try file.readPrefix(count)
                } catch {
                    throw DICOMError(.truncated, "cannot be read from the medium: \(error.message)", path: file.path)
                }
            }
            var summary = InstanceSummary(file: header)
            event.sopInstanceUID = summary.sopInstanceUID
            if let expectedUID, UID.trimmed(expectedUID) != summary.sopInstanceUID {
                throw ImportFailure("the file changed since the scan (SOP Instance UID \(summary.sopInstanceUID), the scan saw \(expectedUID)); scan and import again")
            }
            var source = InstanceSource(originalPath: file.path, expectedSize: file.size,
                                        needsFileMeta: !header.hasFileMeta, copyContents: file.copyContents)
            if let coercion = coercions[patient], let coerced = try coercion.apply(to: header, fileSize: file.size, path: file.path) {
                source.needsFileMeta = false
                source.rewrite = InstanceSource.Rewrite(header: coerced.header, replacedLength: coerced.replacedLength,
                                                        changes: coerced.changes.map(\.description))
                // Filed as rewritten (identity, demographics, repaired UIDs).
                summary = InstanceSummary(file: DICOMFile(meta: header.meta, dataset: coerced.dataset,
                                                          transferSyntax: header.transferSyntax))
                event.sopInstanceUID = summary.sopInstanceUID
                event.coerced = true
            }
            event.patientID = summary.patientID
            return try finish(source, summary: summary, event: event)
        } catch {
            return failed(event, error)
        }
    }

    /// An instance kept as it is, filed from the header the scan read (no
    /// second parse). The file must still be the one the scan saw: its
    /// size, and its SOP Instance UID somewhere in the bytes copied (else
    /// it fails, as a changed file does on the parsing path).
    private func importAsScanned(_ file: MediumFile, scanned: ScannedHeader, event: InstanceEvent) throws -> InstanceEvent {
        var event = event
        let summary = InstanceSummary(scanned: scanned)
        event.sopInstanceUID = summary.sopInstanceUID
        event.patientID = summary.patientID
        guard file.size == scanned.size else {
            throw ImportFailure("the file changed since the scan (\(file.size) bytes, the scan saw \(scanned.size)); scan and import again")
        }
        let uid = summary.sopInstanceUID
        let copy = file.copyContents
        let source = InstanceSource(originalPath: file.path, expectedSize: file.size, needsFileMeta: !scanned.hasFileMeta) { sink in
            var finder = BytesFinder(Array(uid.utf8))
            try copy { chunk in
                finder.look(in: chunk)
                try sink(chunk)
            }
            guard finder.found else {
                throw ImportFailure("the file changed since the scan (SOP Instance UID \(uid) is no longer in it); scan and import again")
            }
        }
        return try finish(source, summary: summary, event: event)
    }

    /// Stores (or writes for the outbox, or only looks up for a dry run).
    private func finish(_ source: InstanceSource, summary: InstanceSummary, event: InstanceEvent) throws -> InstanceEvent {
        var event = event
        do {
            guard let store else {
                event.outcome = .wouldStore
                return event
            }
            if dryRun {
                event.outcome = try store.instance(sopInstanceUID: summary.sopInstanceUID) == nil ? .wouldStore : .wouldSkipKnown
                return event
            }
            if let outbox {
                let written = try store.writeOutgoing(source, summary: summary, node: outbox)
                event.outcome = .outgoing
                event.storedPath = written.path
                event.contentSHA256 = written.sourceSHA256
                return event
            }
            event.reachedStore = true
            let result = try store.store(source, summary: summary, importID: importID)
            if result.filedUnderAnotherPatient != nil { misfiled.patients.withLock { _ = $0.insert(event.patient) } }
            event.outcome = InstanceOutcome(result.outcome)
            event.storedPath = result.path
            if !result.warnings.isEmpty { event.message = result.warnings.joined(separator: "; ") }
        } catch {
            return failed(event, error)
        }
        return event
    }

    private func failed(_ event: InstanceEvent, _ error: any Error) -> InstanceEvent {
        var event = event
        event.outcome = .failed
        event.storeFull = StoreError.isStorageFull(error)
        switch error {
        case let error as DICOMError: event.message = error.description
        case let error as CoercionError: event.message = error.message
        case let error as StoreError: event.message = error.description
        default: event.message = "\(error)"
        }
        return event
    }
}

/// Finds a byte string in a stream of chunks (also across chunk borders).
struct BytesFinder {
    let needle: [UInt8]
    private(set) var found = false
    /// The last `needle.count - 1` bytes seen (a match may start there).
    private var tail: [UInt8] = []

    init(_ needle: [UInt8]) {
        self.needle = needle
        found = needle.isEmpty
    }

    mutating func look(in chunk: UnsafeRawBufferPointer) {
        guard !found, chunk.count > 0 else { return }
        let bytes = UnsafeBufferPointer(start: chunk.baseAddress!.assumingMemoryBound(to: UInt8.self), count: chunk.count)
        if !tail.isEmpty {
            let joined = tail + bytes.prefix(needle.count - 1)
            if joined.withUnsafeBufferPointer({ BytesFinder.contains($0[...], needle) }) { found = true; return }
        }
        if BytesFinder.contains(bytes[...], needle) { found = true; return }
        tail = Array(bytes.suffix(needle.count - 1))
    }

    static func contains(_ haystack: Slice<UnsafeBufferPointer<UInt8>>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        let base = haystack.base.baseAddress! + haystack.startIndex
        let last = haystack.count - needle.count
        var i = 0
        return needle.withUnsafeBufferPointer { n in
            while i <= last {
                guard let hit = memchr(base + i, Int32(first), last - i + 1) else { return false }
                i = Int(bitPattern: hit) - Int(bitPattern: base)
                if memcmp(base + i, n.baseAddress!, n.count) == 0 { return true }
                i += 1
            }
            return false
        }
    }
}

extension InstanceSummary {
    /// The catalog's summary of an instance kept as it is, from the scan.
    init(scanned h: ScannedHeader) {
        self.init(sopClassUID: UID.trimmed(h.sopClassUID ?? ""), sopInstanceUID: UID.trimmed(h.sopInstanceUID ?? ""),
                  transferSyntaxUID: h.transferSyntaxUID, studyInstanceUID: UID.trimmed(h.studyInstanceUID ?? ""),
                  seriesInstanceUID: UID.trimmed(h.seriesInstanceUID ?? ""), patientID: h.patientID ?? "",
                  issuerOfPatientID: h.issuerOfPatientID, patientName: h.patientName, patientBirthDate: h.birthDate,
                  patientSex: h.sex, studyDate: h.studyDate, studyTime: h.studyTime, studyDescription: h.studyDescription,
                  accessionNumber: h.accessionNumber, studyID: h.studyID, modality: h.modality, seriesNumber: h.seriesNumber,
                  seriesDescription: h.seriesDescription, instanceNumber: h.instanceNumber)
    }
}

/// `import --send NODE [--no-store]`: where the imported instances go after
/// the import.
///
/// With ``keepInStore`` (the default) they are stored as usual and the
/// stored files sent. Without it (`--no-store`) nothing is written into
/// the store: each instance — coerced when reassigned, exactly as the store
/// would have kept it — is written into `outbox/NODE/` under the home,
/// queued for the node keyed by its SOP Instance UID and the SHA-256 of its
/// source on the medium, sent, and removed once the node acknowledges it.
/// The catalog still records the import run, the patient decisions and
/// the send queue, so:
/// - a re-run of the same disc finds every instance acknowledged (same
///   UID, same source hash): nothing is sent again, the outbox copies are
///   removed;
/// - a run killed at any point is finished by the next run (or by
///   `send --to NODE`, which sends the outbox files still pending): an
///   instance is written again identically (the coercion time comes from
///   the interrupted run), and at most the last batch of acknowledgements
///   not yet committed is offered again (the node keeps one copy per
///   SOP Instance UID);
/// - another source with a UID the node has already acknowledged with
///   other content is reported, never sent over it.
public struct ImportSend: Sendable {
    public var peer: RemotePeer
    public var keepInStore: Bool
    public var parallel: Int

    public init(peer: RemotePeer, keepInStore: Bool = true, parallel: Int = 1) {
        self.peer = peer
        self.keepInStore = keepInStore
        self.parallel = parallel
    }
}

struct ImportFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension IdentityCoercion {
    /// DT from the catalog's ISO 8601 timestamp (`2026-11-22T05:41:07.123Z`).
    static func dateTime(fromTimestamp text: String) -> String? {
        let digits = text.filter(\.isNumber)
        guard digits.count >= 14 else { return nil }
        let fraction = digits.dropFirst(14)
        return String(digits.prefix(14)) + "." + (String(fraction) + "000000").prefix(6) + "+0000"
    }
}
