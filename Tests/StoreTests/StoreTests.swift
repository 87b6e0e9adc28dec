#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import Crypto
import DICOM
import Reconcile
@testable import Store

// MARK: - Fixtures

/// A fresh store home under /tmp, removed when the test ends.
final class TemporaryHome {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "discport-store-tests/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Small hand-built DICOM instances.
enum Fixture {
    static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"

    static func element(_ group: UInt16, _ element: UInt16, _ vr: VR, _ text: String) -> DataElement {
        var bytes = Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == .UI ? 0 : 0x20) }
        return DataElement(tag: DICOM.Tag(group, element), vr: vr, bytes: Data(bytes))
    }

    static func dataset(sop: String, series: String = "1.2.826.0.1.3680043.2.1125.2.1",
                        study: String = "1.2.826.0.1.3680043.2.1125.1", patientID: String = "PAT-1",
                        patientName: String = "Yamada^Taro", instanceNumber: Int = 1, pixel: UInt8 = 0x11,
                        pixelBytes: Int = 2048) -> Dataset {
        Dataset([
            element(0x0008, 0x0016, .UI, ctImageStorage),
            element(0x0008, 0x0018, .UI, sop),
            element(0x0008, 0x0020, .DA, "20240102"),
            element(0x0008, 0x0060, .CS, "CT"),
            element(0x0010, 0x0010, .PN, patientName),
            element(0x0010, 0x0020, .LO, patientID),
            element(0x0020, 0x000D, .UI, study),
            element(0x0020, 0x000E, .UI, series),
            element(0x0020, 0x0011, .IS, "1"),
            element(0x0020, 0x0013, .IS, String(instanceNumber)),
            DataElement(tag: DICOM.Tag(0x7FE0, 0x0010), vr: .OW, bytes: Data(repeating: pixel, count: pixelBytes)),
        ])
    }

    /// A Part 10 file, explicit VR little endian.
    static func part10(_ dataset: Dataset) throws -> Data {
        try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: .explicitVRLittleEndian))
    }

    /// A raw data set (no preamble, no meta), implicit VR little endian.
    static func raw(_ dataset: Dataset) throws -> Data {
        try DICOMWriter.encode(dataset, transferSyntax: .implicitVRLittleEndian)
    }

    static func summary(_ data: Data) throws -> InstanceSummary {
        InstanceSummary(file: try DICOMFile(data: data, options: .header))
    }

    /// A source that streams `data` in small chunks (like an archive entry).
    static func source(_ data: Data, path: String = "DICOM/IMG0001", needsFileMeta: Bool = false,
                       expectedSize: Int? = nil) -> InstanceSource {
        InstanceSource(originalPath: path, expectedSize: expectedSize ?? data.count, needsFileMeta: needsFileMeta) { sink in
            try data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let count = min(700, raw.count - offset)
                    try sink(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]))
                    offset += count
                }
            }
        }
    }

    static func uid(_ n: Int) -> String { "1.2.826.0.1.3680043.2.1125.3.\(n)" }
}

/// Fails with an injected error the `n`-th time `point` is reached.
func crashAt(_ point: InstanceStore.FaultPoint, hit n: Int) -> @Sendable (InstanceStore.FaultPoint) throws -> Void {
    let hits = Mutex(0)
    return { reached in
        guard reached == point else { return }
        let count = hits.withLock { value -> Int in value += 1; return value }
        if count == n { throw StoreError(.injected, "simulated crash at \(point)") }
    }
}

func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

// MARK: - Tests

@Suite("Store")
struct StoreTests {
    @Test("store, then duplicate, then conflict; bytes kept exactly")
    func storeDuplicateConflict() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let run = try store.beginImport(ImportSource(location: "/media/cdrom", kind: "folder", label: "CD A", volumeID: "DISC_A"))

        let original = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        let summary = try Fixture.summary(original)
        let first = try store.store(Fixture.source(original), summary: summary, importID: run)
        #expect(first.outcome == .stored)
        #expect(!first.fileMetaAdded)
        #expect(first.path == home.path + "/instances/1.2.826.0.1.3680043.2.1125.1/1.2.826.0.1.3680043.2.1125.2.1/\(Fixture.uid(1)).dcm")
        #expect(fileBytes(first.path) == nil, "the file appears with its row, when the batch commits")
        try store.flush()
        #expect(fileBytes(first.path) == original, "stored byte for byte")

        let again = try store.store(Fixture.source(original, path: "copy/IMG0001"), summary: summary, importID: run)
        #expect(again.outcome == .duplicate)
        #expect(again.path == first.path)

        let changed = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1), pixel: 0x22))
        let conflict = try store.store(Fixture.source(changed, path: "other/IMG0001"), summary: summary, importID: run)
        #expect(conflict.outcome == .conflict)
        #expect(conflict.path.hasPrefix(home.path + "/conflicts/\(Fixture.uid(1))/"))
        try store.flush()
        #expect(fileBytes(conflict.path) == changed)
        #expect(fileBytes(first.path) == original, "the stored instance is never overwritten")

        let conflictAgain = try store.store(Fixture.source(changed, path: "other2/IMG0001"), summary: summary, importID: run)
        #expect(conflictAgain.outcome == .conflict)
        #expect(conflictAgain.path == conflict.path)

        let record = try store.finishImport(run)
        #expect(record.status == .completed)
        #expect((record.stored, record.duplicates, record.conflicts, record.failed) == (1, 1, 2, 0))
        #expect(record.bytes == Int64(original.count + changed.count))
        #expect(record.source.volumeID == "DISC_A")
        #expect(!record.operatorName.isEmpty)
        #expect(record.finishedAt != nil)

        #expect(try store.conflicts().count == 1)
        #expect(try store.conflicts()[0].reason == "different-content")
        let patients = try store.patients()
        #expect(patients.count == 1)
        #expect(patients.first?.patientID == "PAT-1")
        #expect(patients.first?.patientName == "Yamada^Taro")
        #expect(patients.first?.instanceCount == 1)
        let studies = try store.studies(patientID: "PAT-1")
        #expect(studies.count == 1)
        #expect(studies.first?.modalities == ["CT"])
        #expect(studies.first?.studyDate == "20240102")
        #expect(try store.series(studyInstanceUID: "1.2.826.0.1.3680043.2.1125.1").count == 1)
        let instances = try store.instances(importID: run)
        #expect(instances.count == 1)
        #expect(instances.first?.originalPath == "DICOM/IMG0001")
        #expect(instances.first?.transferSyntaxUID == "1.2.840.10008.1.2.1")
        #expect(instances.first?.sha256 == first.sha256)

        let lookup = try store.lookup(Fixture.uid(1))
        #expect(lookup.instances.count == 1 && lookup.conflicts.count == 1)
        #expect(try store.lookup("PAT-1").patients.count == 1)
        #expect(try store.lookup("1.2.826.0.1.3680043.2.1125.1").studies.count == 1)
        #expect(try store.lookup("nothing").isEmpty)

        let actions = try store.auditLog().map(\.action)
        #expect(actions == ["import-start", "store", "conflict", "import-finish"])

        // Records are Codable for --json.
        let json = try JSONEncoder().encode(lookup)
        #expect(try JSONDecoder().decode(CatalogLookup.self, from: json) == lookup)

        let report = try store.check()
        #expect(report.isClean)
        #expect(report.instancesChecked == 1 && report.conflictsChecked == 1)
    }

    @Test("an instance whose study is another patient's, or whose series is another study's, is kept aside, never filed there")
    func misfiledInstances() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let run = try store.beginImport(ImportSource(location: "/media/cdrom", kind: "folder", label: nil, volumeID: nil))
        let study = "1.2.826.0.1.3680043.2.1125.1", series = "1.2.826.0.1.3680043.2.1125.2.1"
        let first = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        #expect(try store.store(Fixture.source(first), summary: Fixture.summary(first), importID: run).outcome == .stored)
        try store.flush()

        // The same study under another patient (a reception mistake, or a
        // foreign system reusing UIDs): kept aside, the first patient's study untouched.
        let other = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(2), study: study, patientID: "PAT-2", patientName: "Suzuki^Hanako"))
        let kept = try store.store(Fixture.source(other, path: "DICOM/IMG0002"), summary: Fixture.summary(other), importID: run)
        #expect(kept.outcome == .conflict)
        #expect(kept.path.hasPrefix(home.path + "/conflicts/\(Fixture.uid(2))/"))
        #expect(kept.warnings == ["study \(study) is stored under Patient ID \"PAT-1\" (Yamada^Taro), this instance names Patient ID \"PAT-2\" (Suzuki^Hanako): kept aside, not filed with the other patient's study (if the study is this patient's, move it with `discport reassign` and import again)"])
        // Again: the same copy, no second row.
        let again = try store.store(Fixture.source(other, path: "DICOM/IMG0002"), summary: Fixture.summary(other), importID: run)
        #expect(again.outcome == .conflict && again.path == kept.path)

        // A new study whose series is the first study's: kept aside, the study not created.
        let moved = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(3), series: series, study: "1.2.826.0.1.3680043.2.1125.9"))
        let aside = try store.store(Fixture.source(moved, path: "DICOM/IMG0003"), summary: Fixture.summary(moved), importID: run)
        #expect(aside.outcome == .conflict)
        #expect(aside.warnings.first?.hasPrefix("series \(series) is stored in study \(study), this instance names study 1.2.826.0.1.3680043.2.1125.9") == true)

        // The first patient's study gained nothing, PAT-2 was never created,
        // and a new instance of the first patient still files normally.
        let next = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(4), instanceNumber: 2))
        #expect(try store.store(Fixture.source(next, path: "DICOM/IMG0004"), summary: Fixture.summary(next), importID: run).outcome == .stored)
        let record = try store.finishImport(run)
        #expect((record.stored, record.conflicts) == (2, 3))
        #expect(try store.patients().map(\.patientID) == ["PAT-1"])
        #expect(try store.studies(patientID: "PAT-1").map(\.studyInstanceUID) == [study])
        #expect(try store.instances(importID: run).count == 2)
        #expect(try store.conflicts().map(\.reason).sorted() == ["series-of-another-study", "study-of-another-patient"])
        #expect(fileBytes(kept.path) == other)
        #expect(try store.check().isClean)
    }

    @Test("a raw data set gets a Part 10 header; its bytes are unchanged")
    func rawDataSetGetsFileMeta() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let raw = try Fixture.raw(Fixture.dataset(sop: Fixture.uid(7)))
        let summary = try Fixture.summary(raw)
        #expect(summary.transferSyntaxUID == "1.2.840.10008.1.2", "the reader detects implicit VR")

        let result = try store.store(Fixture.source(raw, needsFileMeta: true), summary: summary)
        #expect(result.outcome == .stored)
        #expect(result.fileMetaAdded)
        try store.flush()
        let stored = try #require(fileBytes(result.path))
        #expect(stored.prefix(128) == Data(count: 128))
        #expect(stored[128..<132] == Data("DICM".utf8))

        let file = try DICOMFile(contentsOf: result.path)
        #expect(file.hasFileMeta)
        #expect(file.meta.firstString(DICOM.Tag(0x0002, 0x0010)) == "1.2.840.10008.1.2", "the meta says implicit VR")
        #expect(file.meta.firstString(DICOM.Tag(0x0002, 0x0002)) == Fixture.ctImageStorage)
        #expect(file.meta.firstString(DICOM.Tag(0x0002, 0x0003)) == Fixture.uid(7))
        #expect(file.meta.firstString(DICOM.Tag(0x0002, 0x0012)) == UID.implementationClassUID)
        #expect(file.meta.integer(DICOM.Tag(0x0002, 0x0000)) == file.datasetOffset - 144, "group length covers the meta after it")
        #expect(stored[file.datasetOffset...] == raw[...], "the data set is copied verbatim after the meta")
        #expect(Int64(stored.count) == result.size)

        let record = try #require(try store.instance(sopInstanceUID: Fixture.uid(7)))
        #expect(record.fileMetaAdded)
        #expect(record.sourceSHA256 != record.sha256)
        #expect(record.size == Int64(stored.count))

        // The same raw data set again: a duplicate, not a conflict.
        #expect(try store.store(Fixture.source(raw, needsFileMeta: true), summary: summary).outcome == .duplicate)
        // A Part 10 file passed as raw would get a second header: refused.
        let part10 = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(8)))
        #expect(throws: StoreError.self) {
            try store.store(Fixture.source(part10, needsFileMeta: true), summary: try Fixture.summary(part10))
        }
        #expect(try store.check().isClean)
    }

    @Test("a full disk is told apart: ENOSPC and EDQUOT from a write, SQLITE_FULL from the catalog; other failures are not")
    func storageFullIsRecognised() {
        for (code, full) in [(ENOSPC, true), (EDQUOT, true), (EIO, false), (EACCES, false)] {
            errno = code
            let error = StoreError.posix("cannot write", path: "/x")
            #expect(StoreError.isStorageFull(error) == full, "errno \(code)")
            #expect(error.description.hasPrefix("/x: cannot write: "))
        }
        #expect(StoreError.isStorageFull(SQLiteError(code: 13, message: "database or disk is full", sql: "COMMIT")))
        #expect(!StoreError.isStorageFull(SQLiteError(code: 2067, message: "UNIQUE constraint failed", sql: nil)))
        #expect(!StoreError.isStorageFull(StoreError(.injected, "simulated crash")))
    }

    @Test("studies and instances name their patient's issuer: one Patient ID of two issuers is two patients")
    func studiesAndInstancesCarryTheIssuer() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path, options: .init(synchronous: false))
        for (n, issuer) in [(1, "HOSP-A"), (2, "HOSP-B")] {
            let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(n), series: Fixture.uid(100 + n), study: Fixture.uid(200 + n),
                                                          patientID: "12345"))
            var summary = try Fixture.summary(data)
            summary.issuerOfPatientID = issuer
            #expect(try store.store(Fixture.source(data), summary: summary).outcome == .stored)
        }
        try store.flush()
        let studies = try store.studies(patientID: "12345")
        #expect(Set(studies.map { "\($0.studyInstanceUID) \($0.issuerOfPatientID ?? "-")" })
                == [Fixture.uid(201) + " HOSP-A", Fixture.uid(202) + " HOSP-B"])
        let instances = try store.instances()
        #expect(Set(instances.map { "\($0.sopInstanceUID) \($0.issuerOfPatientID ?? "-")" })
                == [Fixture.uid(1) + " HOSP-A", Fixture.uid(2) + " HOSP-B"])
        try store.close()
    }

    @Test("below: a patient's studies (its issuer's only), a study's series, a series' instances")
    func belowIsOneLevelDown() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path, options: .init(synchronous: false))
        for (n, issuer, series) in [(1, "HOSP-A", 101), (2, "HOSP-A", 102), (3, "HOSP-B", 103)] {
            let study = issuer == "HOSP-A" ? Fixture.uid(201) : Fixture.uid(202)
            let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(n), series: Fixture.uid(series), study: study,
                                                          patientID: "12345", instanceNumber: n))
            var summary = try Fixture.summary(data)
            summary.issuerOfPatientID = issuer
            #expect(try store.store(Fixture.source(data), summary: summary).outcome == .stored)
        }
        try store.flush()
        let patient = try store.lookup("12345")
        #expect(patient.patients.count == 2)
        let studies = try store.below(CatalogLookup(patients: patient.patients.filter { $0.issuerOfPatientID == "HOSP-A" },
                                                    studies: [], series: [], instances: [], conflicts: []))
        #expect(studies.studies.map(\.studyInstanceUID) == [Fixture.uid(201)])
        let series = try store.below(store.lookup(Fixture.uid(201)))
        #expect(Set(series.series.map(\.seriesInstanceUID)) == [Fixture.uid(101), Fixture.uid(102)])
        #expect(series.studies.isEmpty && series.instances.isEmpty)
        let instances = try store.below(store.lookup(Fixture.uid(103)))
        #expect(instances.instances.map(\.sopInstanceUID) == [Fixture.uid(3)])
        try store.close()
    }

    @Test("a conflict copy renamed before a crash is recovered under its own SOP Instance UID, also one not safe as a file name")
    func recoveredConflictKeepsItsUID() throws {
        let home = TemporaryHome()
        let uid = "1.2.3.abc"      // invalid: filed under x<hash>
        let first = try Fixture.part10(Fixture.dataset(sop: uid, pixel: 0x11))
        let second = try Fixture.part10(Fixture.dataset(sop: uid, pixel: 0x22))
        let crashing = try InstanceStore(home: home.path, options: .init(batchInterval: .seconds(3600)),
                                         faultHook: crashAt(.afterRename, hit: 2), migrations: Catalog.migrations)
        #expect(try crashing.store(Fixture.source(first), summary: Fixture.summary(first)).outcome == .stored)
        try crashing.flush()
        #expect(try crashing.store(Fixture.source(second), summary: Fixture.summary(second)).outcome == .conflict)
        #expect(throws: StoreError.self) { try crashing.flush() }   // renamed aside, then the "process" dies

        let store = try InstanceStore(home: home.path, options: .init(synchronous: false))
        let conflicts = try store.conflicts()
        #expect(conflicts.map(\.sopInstanceUID) == [uid])
        #expect(try store.lookup(uid).conflicts.count == 1)
        #expect(try store.check().isClean)
        try store.close()
    }

    @Test("check while another store commits a batch: its renamed files are not orphans")
    func checkDuringAnotherProcessesCommitFindsNoOrphans() throws {
        let home = TemporaryHome()
        let checker = try InstanceStore(home: home.path, options: .init(synchronous: false))
        let report = Mutex<CheckReport?>(nil)
        let done = DispatchSemaphore(value: 0)
        // At the writer's commit (files renamed, rows not committed), the
        // other store checks; the writer commits a moment later.
        let hook: @Sendable (InstanceStore.FaultPoint) throws -> Void = { point in
            guard point == .beforeCommit else { return }
            DispatchQueue.global().async {
                let result = try? checker.check()
                report.withLock { $0 = result }
                done.signal()
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let writer = try InstanceStore(home: home.path, options: .init(batchInterval: .seconds(3600), synchronous: false),
                                       faultHook: hook, migrations: Catalog.migrations)
        for n in 1...3 {
            let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(n), instanceNumber: n))
            #expect(try writer.store(Fixture.source(data), summary: Fixture.summary(data)).outcome == .stored)
        }
        try writer.flush()
        done.wait()
        let seen = try #require(report.withLock { $0 })
        #expect(seen.orphans.isEmpty, "files of a batch being committed reported as orphans: \(seen.orphans)")
        #expect(seen.isClean)
        try writer.close()
        try checker.close()
    }

    @Test("opening an existing store for reading refuses a home without a catalog and creates nothing there")
    func existingHomeIsNotCreated() throws {
        let home = TemporaryHome()
        let missing = home.path + "/typo"
        do {
            _ = try InstanceStore(existingHome: missing)
            Issue.record("a store was opened at a home that holds none")
        } catch let error as StoreError {
            #expect(error.kind == .noStore)
            #expect(error.description.contains(missing))
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
        // An empty folder is no store either.
        do {
            _ = try InstanceStore(existingHome: home.path)
            Issue.record("an empty folder was opened as a store")
        } catch let error as StoreError {
            #expect(error.kind == .noStore)
        }
        #expect(!FileManager.default.fileExists(atPath: home.path + "/catalog.sqlite"))
        // A store that exists opens (a trailing slash is no other home).
        try InstanceStore(home: home.path, options: .init(synchronous: false)).close()
        let store = try InstanceStore(existingHome: home.path + "/", options: .init(synchronous: false))
        #expect(store.home == home.path)
        #expect(try store.check().isClean)
        try store.close()
    }

    @Test("two stores opened at once on a new home both open (the WAL switch is retried while busy)")
    func concurrentOpensOfANewHome() throws {
        for _ in 0..<30 {
            let home = NSTemporaryDirectory() + "discport-open-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: home) }
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 3) { _ in
                do {
                    let store = try InstanceStore(home: home, options: .init(synchronous: false))
                    try store.close()
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
        }
    }

    @Test("a crash between rename and row: the re-run adopts the files and check is clean")
    func crashAfterRenameIsAdopted() throws {
        let home = TemporaryHome()
        let files = try (1...3).map { try Fixture.part10(Fixture.dataset(sop: Fixture.uid($0), instanceNumber: $0)) }

        let crashing = try InstanceStore(home: home.path, options: .init(batchInterval: .seconds(3600)),
                                         faultHook: crashAt(.afterRename, hit: 1), migrations: Catalog.migrations)
        let run = try crashing.beginImport(ImportSource(location: "/media/cd"))
        for data in files {
            #expect(try crashing.store(Fixture.source(data), summary: Fixture.summary(data), importID: run).outcome == .stored)
        }
        // The commit renames the three files into place, then the "process" dies.
        #expect(throws: StoreError.self) { try crashing.flush() }
        #expect(throws: StoreError.self) { try crashing.patients() }

        let store = try InstanceStore(home: home.path)
        let before = try store.check()
        #expect(before.orphans.count == 3, "renamed files whose rows were lost")
        #expect(try store.instances().isEmpty)
        #expect(try store.imports().first?.status == .running)

        let rerun = try store.beginImport(ImportSource(location: "/media/cd"))
        let outcomes = try files.map { try store.store(Fixture.source($0), summary: Fixture.summary($0), importID: rerun).outcome }
        #expect(outcomes == [.adopted, .adopted, .adopted])
        let record = try store.finishImport(rerun)
        #expect(record.adopted == 3 && record.stored == 0)
        for (index, data) in files.enumerated() {
            let instance = try #require(try store.instance(sopInstanceUID: Fixture.uid(index + 1)))
            #expect(fileBytes(instance.path) == data)
        }
        let after = try store.check()
        #expect(after.isClean)
        #expect(after.instancesChecked == 3)
        #expect(try store.auditLog().filter { $0.action == "adopt" }.count == 3)
    }

    @Test("a crash before the batch's renames leaves nothing; the re-run stores everything")
    func crashBeforeRenamesLeavesNothing() throws {
        let home = TemporaryHome()
        let files = try (1...4).map { try Fixture.part10(Fixture.dataset(sop: Fixture.uid($0), instanceNumber: $0)) }
        let crashing = try InstanceStore(home: home.path, options: .init(batchInterval: .seconds(3600)))
        for data in files {
            #expect(try crashing.store(Fixture.source(data), summary: Fixture.summary(data)).outcome == .stored)
        }
        crashing.simulateCrash()
        #expect(FileIO.regularFiles(under: home.path + "/instances").isEmpty)
        #expect(FileIO.regularFiles(under: home.path + "/tmp").count == 4, "complete temporary files, never renamed")

        let store = try InstanceStore(home: home.path)
        #expect(FileIO.regularFiles(under: home.path + "/tmp").isEmpty)
        let before = try store.check()
        #expect(before.isClean && before.instancesChecked == 0)
        for data in files {
            #expect(try store.store(Fixture.source(data), summary: Fixture.summary(data)).outcome == .stored)
        }
        let after = try store.check()
        #expect(after.isClean && after.instancesChecked == 4)
    }

    @Test("a crash before COMMIT loses only rows; a crash mid-copy leaves nothing")
    func crashBeforeCommitAndMidCopy() throws {
        let home = TemporaryHome()
        let files = try (1...5).map { try Fixture.part10(Fixture.dataset(sop: Fixture.uid($0), instanceNumber: $0)) }
        // Commit #1 is beginImport's; #2 would be the batch of five.
        let crashing = try InstanceStore(home: home.path, options: .init(batchSize: 100, batchInterval: .seconds(3600)), faultHook: crashAt(.beforeCommit, hit: 2),
                                         migrations: Catalog.migrations)
        let run = try crashing.beginImport(ImportSource(location: "/media/cd"))
        for data in files {
            #expect(try crashing.store(Fixture.source(data), summary: Fixture.summary(data), importID: run).outcome == .stored)
        }
        #expect(throws: StoreError.self) { try crashing.flush() }

        // Crash after the temporary file is complete, before the rename.
        let extra = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(6), instanceNumber: 6))
        do {
            // Scoped: the crashed store's temporary folder stays locked while
            // it lives (ARC may keep it past its last use), and a locked
            // folder belongs to a live store that the next open leaves alone.
            let midCopy = try InstanceStore(home: home.path, options: .init(), faultHook: crashAt(.afterTemporaryFile, hit: 1),
                                            migrations: Catalog.migrations)
            #expect(throws: StoreError.self) { try midCopy.store(Fixture.source(extra), summary: Fixture.summary(extra)) }
        }
        let leftovers = FileIO.regularFiles(under: home.path + "/tmp")
        #expect(leftovers.count == 1, "the crashed copy's temporary file is still there")

        let store = try InstanceStore(home: home.path)
        #expect(FileIO.regularFiles(under: home.path + "/tmp").isEmpty, "leftovers are removed on open")
        let before = try store.check()
        #expect(before.orphans.count == 5)
        #expect(before.temporaryFiles.isEmpty)

        let rerun = try store.beginImport(ImportSource(location: "/media/cd"))
        for data in files {
            #expect(try store.store(Fixture.source(data), summary: Fixture.summary(data), importID: rerun).outcome == .adopted)
        }
        #expect(try store.store(Fixture.source(extra), summary: Fixture.summary(extra), importID: rerun).outcome == .stored)
        try store.finishImport(rerun)
        let after = try store.check()
        #expect(after.isClean)
        #expect(after.instancesChecked == 6)
    }

    @Test("an orphan with other content is moved aside, not adopted")
    func orphanWithOtherContentIsDisplaced() throws {
        let home = TemporaryHome()
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        let summary = try Fixture.summary(data)
        do {
            let crashing = try InstanceStore(home: home.path, options: .init(), faultHook: crashAt(.afterRename, hit: 1),
                                             migrations: Catalog.migrations)
            let other = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1), pixel: 0x55))
            #expect(try crashing.store(Fixture.source(other), summary: summary).outcome == .stored)
            #expect(throws: StoreError.self) { try crashing.flush() }
        }
        let store = try InstanceStore(home: home.path)
        let result = try store.store(Fixture.source(data), summary: summary)
        #expect(result.outcome == .stored)
        #expect(result.warnings.count == 1)
        try store.flush()
        #expect(fileBytes(result.path) == data)
        let conflicts = try store.conflicts()
        #expect(conflicts.map(\.reason) == ["orphan-displaced"])
        #expect(try store.check().isClean)
    }

    @Test("check finds corrupted, missing and orphan files; a re-run restores the missing one")
    func checkFindsDamage() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        var results: [StoreResult] = []
        for n in 1...3 {
            let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(n), instanceNumber: n))
            results.append(try store.store(Fixture.source(data), summary: Fixture.summary(data)))
        }
        #expect(try store.check().isClean)

        // Flip one byte of the first file.
        chmod(results[0].path, 0o644)
        var damaged = try #require(fileBytes(results[0].path))
        damaged[damaged.count - 1] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: results[0].path))
        // Remove the second.
        try FileManager.default.removeItem(atPath: results[1].path)
        // Drop a stray file into the store.
        let stray = home.path + "/instances/9.9/9.9.9/9.9.9.9.dcm"
        try FileManager.default.createDirectory(atPath: (stray as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("not catalogued".utf8).write(to: URL(fileURLWithPath: stray))

        let report = try store.check()
        #expect(!report.isClean)
        #expect(report.corrupted.map(\.path) == [results[0].path])
        #expect(report.corrupted.first?.expectedSHA256 == results[0].sha256)
        #expect(report.corrupted.first?.actualSHA256 != results[0].sha256)
        #expect(report.missing.map(\.path) == [results[1].path])
        #expect(report.orphans == [stray])
        #expect(report.instancesChecked == 3)

        // Importing the missing instance again puts its file back.
        let second = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(2), instanceNumber: 2))
        #expect(try store.store(Fixture.source(second), summary: Fixture.summary(second)).outcome == .stored)
        try store.flush()
        #expect(fileBytes(results[1].path) == second)
        #expect(try store.check().missing.isEmpty)
        #expect(try store.auditLog().last?.action == "restore")
    }

    @Test("the audit log cannot be updated or deleted")
    func auditLogIsAppendOnly() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        _ = try store.store(Fixture.source(data), summary: Fixture.summary(data))
        try store.audit(.export, sopInstanceUID: Fixture.uid(1), detail: ["medium": "CD-R", "profile": "STD-GEN-CD"])
        #expect(try store.auditLog().map(\.action) == ["store", "export"])
        #expect(try store.auditLog().last?.detail == #"{"medium":"CD-R","profile":"STD-GEN-CD"}"#)
        #expect(Catalog.json(["b": "x\"y\\z\n\u{1}", "a": "/"]) == #"{"a":"/","b":"x\"y\\z\n\u0001"}"#)
        try store.flush()

        let db = try SQLiteConnection(path: store.catalogPath)
        #expect(try db.scalar("SELECT count(*) FROM audit_log") == 2)
        let update = #expect(throws: SQLiteError.self) { try db.run("UPDATE audit_log SET action = 'nothing'") }
        #expect(update?.message.contains("append-only") == true)
        #expect(update?.sql == "UPDATE audit_log SET action = 'nothing'")
        #expect(throws: SQLiteError.self) { try db.run("DELETE FROM audit_log WHERE id = 1") }
        #expect(throws: SQLiteError.self) { try db.run("DELETE FROM audit_log") }
        #expect(try db.scalar("SELECT count(*) FROM audit_log") == 2)
        #expect(try store.auditLog().map(\.action) == ["store", "export"])
        db.close()

        // Deleting an instance is itself audited.
        #expect(try store.delete(sopInstanceUID: Fixture.uid(1), reason: "test"))
        #expect(try store.instances().isEmpty)
        #expect(try store.patients().isEmpty)
        #expect(try store.auditLog().map(\.action) == ["store", "export", "deletion"])
        #expect(try store.check().isClean)
    }

    @Test("the registry is updated by (Patient ID, issuer); remembered reconciliations are replaced and audited")
    func registryAndMappings() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let taro = RegisteredPatient(patientID: "12345", issuer: "CLINIC", alphabetic: "Yamada^Tarou", ideographic: "山田^太郎",
                                     phonetic: "やまだ^たろう", birthDate: "19700401", sex: "M")
        #expect(try store.register([taro], source: "a.csv") == (1, 0))
        #expect(try store.register([taro], source: "a.csv") == (0, 0))
        var moved = taro
        moved.sex = "O"
        let other = RegisteredPatient(patientID: "12345", issuer: nil, alphabetic: "Other^One", birthDate: "19700401")
        #expect(try store.register([moved, other], source: "b.csv") == (1, 1))
        #expect(try store.registry(patientID: "12345").count == 2)
        #expect(try store.registry(birthDate: "19700401").map(\.issuer) == [nil, "CLINIC"])
        #expect(try store.registry(patientID: "12345").first { $0.issuer == "CLINIC" }?.sex == "O")

        try store.remember(IdentityMapping(foreignIssuer: "HOSP-A", foreignID: "A-1", localID: "12345", localIssuer: "CLINIC", how: "explicit"))
        try store.remember(IdentityMapping(foreignIssuer: "HOSP-A", foreignID: "A-1", localID: "12345", localIssuer: "CLINIC", how: "remembered"))
        try store.remember(IdentityMapping(foreignIssuer: "HOSP-A", foreignID: "A-1", localID: "99999", localIssuer: nil, how: "interactive"))
        let mapping = try #require(try store.mapping(foreignIssuer: "HOSP-A", foreignID: "A-1"))
        #expect(mapping.localID == "99999")
        #expect(mapping.how == "interactive")
        #expect(try store.mapping(foreignIssuer: nil, foreignID: "A-1") == nil, "the issuer is part of the foreign identity")
        let audit = try store.auditLog().filter { $0.kind == .reconciliation }
        #expect(audit.count == 2, "a repeated identical decision is not audited again")
        #expect(audit.last?.detail?.contains("previousLocalID") == true)
        #expect(try store.auditLog().filter { $0.kind == .registry }.count == 2)
    }

    @Test("a copy set aside by a run that died before its commit gets its conflict row back when the store opens")
    func conflictCopyRecovered() throws {
        let home = TemporaryHome()
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(7)))
        let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        do { _ = try InstanceStore(home: home.path) }
        let folder = home.path + "/conflicts/" + Fixture.uid(7)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: folder + "/\(sha).dcm"))
        try Data("not what the name says".utf8).write(to: URL(fileURLWithPath: folder + "/" + String(repeating: "0", count: 64) + ".dcm"))
        let store = try InstanceStore(home: home.path)
        let conflicts = try store.conflicts()
        #expect(conflicts.map(\.sha256) == [sha])
        #expect(conflicts.first?.reason == "recovered-after-crash")
        #expect(try store.check().orphans.count == 1, "a file whose content does not match its name stays an orphan")
    }

    @Test("migrations run once; a newer catalog is refused")
    func migrationsRunOnce() throws {
        let home = TemporaryHome()
        let current = Catalog.migrations.count
        do {
            // A version-1 catalog with an instance in it…
            let store = try InstanceStore(home: home.path, options: .init(), faultHook: nil, migrations: [Catalog.migrations[0]])
            #expect(try store.migrationsApplied() == [1])
            _ = try store.store(.data(try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1))), originalPath: "a"),
                                summary: InstanceSummary(file: try DICOMFile(data: try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1))))))
        }
        do {
            // …is migrated to the current schema, its rows kept.
            let store = try InstanceStore(home: home.path)
            #expect(try store.migrationsApplied() == Array(2...current))
            #expect(try store.schemaVersion() == current)
            #expect(try store.instances().count == 1)
            #expect(try store.registry().isEmpty)
        }
        do {
            let store = try InstanceStore(home: home.path)
            #expect(try store.migrationsApplied() == [])
        }
        let extended = Catalog.migrations + ["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"]
        do {
            let store = try InstanceStore(home: home.path, options: .init(), faultHook: nil, migrations: extended)
            #expect(try store.migrationsApplied() == [current + 1])
            #expect(try store.schemaVersion() == current + 1)
        }
        do {
            let store = try InstanceStore(home: home.path, options: .init(), faultHook: nil, migrations: extended)
            #expect(try store.migrationsApplied() == [])
        }
        let refused = #expect(throws: StoreError.self) { try InstanceStore(home: home.path) }
        #expect(refused?.kind == .newerSchema)

        let db = try SQLiteConnection(path: home.path + "/catalog.sqlite")
        #expect(try db.queryFirst("PRAGMA journal_mode") { $0.string(0) } == "wal")
        db.close()
    }

    @Test("500 instances from 8 tasks: exact counts")
    func concurrentStores() async throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path, options: .init(batchSize: 64))
        let run = try store.beginImport(ImportSource(location: "/media/usb", kind: "folder"))
        let total = 500, tasks = 8

        @Sendable func instance(_ n: Int) throws -> (Data, InstanceSummary) {
            let study = "1.2.826.0.1.3680043.2.1125.1.\(n % 5)"
            let series = study + ".\(n % 10)"
            let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(n), series: series, study: study,
                                                          patientID: "PAT-\(n % 5)", instanceNumber: n,
                                                          pixel: UInt8(n % 251), pixelBytes: 512 + n))
            return (data, try Fixture.summary(data))
        }

        let outcomes = try await withThrowingTaskGroup(of: [StoreOutcome].self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var outcomes: [StoreOutcome] = []
                    for n in stride(from: task, to: total, by: tasks) {
                        let (data, summary) = try instance(n)
                        outcomes.append(try store.store(Fixture.source(data), summary: summary, importID: run).outcome)
                        if n % 5 == 0 {   // 100 duplicates, stored concurrently with the rest
                            outcomes.append(try store.store(Fixture.source(data), summary: summary, importID: run).outcome)
                        }
                    }
                    return outcomes
                }
            }
            var all: [StoreOutcome] = []
            for try await part in group { all += part }
            return all
        }
        #expect(outcomes.count == 600)
        #expect(outcomes.filter { $0 == .stored }.count == 500)
        #expect(outcomes.filter { $0 == .duplicate }.count == 100)

        let record = try store.finishImport(run)
        #expect((record.stored, record.duplicates, record.conflicts, record.failed) == (500, 100, 0, 0))
        #expect(try store.instances().count == 500)
        #expect(try store.instances(importID: run).count == 500)
        #expect(try store.patients().count == 5)
        #expect(try store.studies().count == 5)
        #expect(try store.series().count == 10)
        #expect(try store.series().map(\.instanceCount).reduce(0, +) == 500)
        #expect(try store.auditLog().filter { $0.action == "store" }.count == 500)
        let report = try store.check()
        #expect(report.isClean)
        #expect(report.instancesChecked == 500)
        #expect(FileIO.regularFiles(under: home.path + "/instances").count == 500)
    }

    @Test("an idle batch is committed by the timer")
    func idleBatchIsCommitted() async throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path, options: .init(batchSize: 1000, batchInterval: .milliseconds(50)))
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        _ = try store.store(Fixture.source(data), summary: Fixture.summary(data))
        let reader = try SQLiteConnection(path: store.catalogPath)
        defer { reader.close() }
        var committed: Int64 = 0
        for _ in 0..<100 where committed == 0 {
            try await Task.sleep(for: .milliseconds(20))
            committed = try reader.scalar("SELECT count(*) FROM instances") ?? 0
        }
        #expect(committed == 1, "another connection sees the row without any flush")
        // The write lock is free: another connection can write.
        try reader.run("CREATE TABLE IF NOT EXISTS scratch (x)")
    }

    @Test("UIDs that are unsafe as file names get hashed names")
    func unsafeUIDs() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let data = try Fixture.part10(Fixture.dataset(sop: "../../../../etc/passwd", series: "a/b", study: ""))
        let summary = try Fixture.summary(data)
        #expect(summary.sopInstanceUID == "../../../../etc/passwd")
        let result = try store.store(Fixture.source(data), summary: summary)
        #expect(result.outcome == .stored)
        let relative = String(result.path.dropFirst(home.path.count + 1))
        let parts = relative.split(separator: "/").map(String.init)
        #expect(parts.count == 4 && parts[0] == "instances")
        #expect(parts[1...].allSatisfy { $0.hasPrefix("x") && !$0.contains("..") })
        #expect(parts[1].count == 41)
        #expect(Layout.component(forUID: "1.2.3") == "1.2.3")
        #expect(Layout.component(forUID: "1.2.3").count == 5)
        #expect(Layout.component(forUID: ".") != ".")
        #expect(Layout.component(forUID: String(repeating: "1", count: 65)).hasPrefix("x"))
        #expect(try store.check().isClean)
    }

    @Test("a short read fails, leaves nothing behind, and counts as failed")
    func sizeMismatchLeavesNothing() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let run = try store.beginImport(ImportSource(location: "/media/cd"))
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1)))
        let failure = #expect(throws: StoreError.self) {
            try store.store(Fixture.source(data, expectedSize: data.count + 10), summary: Fixture.summary(data), importID: run)
        }
        #expect(failure?.kind == .sizeMismatch)
        struct Unreadable: Error {}
        let failing = InstanceSource(originalPath: "bad") { sink in
            try sink(UnsafeRawBufferPointer(start: nil, count: 0))
            throw Unreadable()
        }
        #expect(throws: Unreadable.self) { try store.store(failing, summary: Fixture.summary(data), importID: run) }
        let record = try store.finishImport(run, status: .failed, skipped: 2, failed: 1, note: "disc unreadable")
        #expect((record.stored, record.failed, record.skipped) == (0, 3, 2))
        #expect(record.status == .failed)
        #expect(try store.instances().isEmpty)
        let report = try store.check()
        #expect(report.isClean && report.orphans.isEmpty)
        #expect(FileIO.regularFiles(under: home.path + "/tmp").isEmpty)
        #expect(throws: StoreError.self) { try store.store(Fixture.source(data), summary: Fixture.summary(data), importID: 999) }
    }

    @Test("files on disk are streamed; default home honours DISCPORT_HOME")
    func fileSourceAndHome() throws {
        let home = TemporaryHome()
        let store = try InstanceStore(home: home.path)
        let data = try Fixture.part10(Fixture.dataset(sop: Fixture.uid(1), pixelBytes: 3 << 20))   // > 1 MiB chunks
        let source = home.path + "/source.dcm"
        try data.write(to: URL(fileURLWithPath: source))
        let result = try store.store(.file(atPath: source), summary: Fixture.summary(data))
        #expect(result.outcome == .stored)
        try store.flush()
        #expect(fileBytes(result.path) == data)
        #expect(try store.instance(sopInstanceUID: Fixture.uid(1))?.originalPath == source)

        #expect(InstanceStore.defaultHome(environment: ["DISCPORT_HOME": "/srv/dp", "HOME": "/home/a"]) == "/srv/dp")
        #expect(InstanceStore.defaultHome(environment: ["HOME": "/home/a"]) == "/home/a/.local/share/discport")
        try store.close()
        #expect(throws: StoreError.self) { try store.patients() }
    }
}

// MARK: - Catalog values

@Suite("Instance summary")
struct InstanceSummaryTests {
    /// The catalog takes the values a scan takes (the as-is import files
    /// instances from scanned headers, the other paths parse again): names
    /// trimmed of U+3000 too, integers from decimal IS, UIDs from the data set.
    @Test("values read from a header are the scan's: trimmed names, tolerant numbers, data-set UIDs")
    func valuesLikeTheScan() throws {
        var ds = Dataset()
        ds.set(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Data("ISO_IR 192".utf8)))
        ds.set(DataElement(tag: .sopClassUID, vr: .UI, bytes: DICOMWriter.paddedUID("1.2.840.10008.5.1.4.1.1.7")))
        ds.set(DataElement(tag: .sopInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID("1.2.3.4")))
        ds.set(DataElement(tag: .studyInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID("1.2.3")))
        ds.set(DataElement(tag: .seriesInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID("1.2.3.1")))
        ds.set(DataElement(tag: .patientID, vr: .LO, bytes: Data(" P-1 ".utf8)))
        ds.set(DataElement(tag: .patientName, vr: .PN, bytes: Data("Yamada^Tarou=\u{3000}山田^太郎\u{3000}".utf8)))
        ds.set(DataElement(tag: .studyDescription, vr: .LO, bytes: Data("\u{3000}胸部 ".utf8)))
        ds.set(DataElement(tag: .seriesNumber, vr: .IS, bytes: Data("2.0 ".utf8)))
        ds.set(DataElement(tag: .instanceNumber, vr: .IS, bytes: Data("1e300 ".utf8)))
        var meta = Dataset()
        meta.set(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID("9.9.9")))
        let summary = InstanceSummary(file: DICOMFile(meta: meta, dataset: ds, transferSyntax: .explicitVRLittleEndian))
        #expect(summary.sopInstanceUID == "1.2.3.4")
        #expect(summary.patientID == "P-1")
        #expect(summary.patientName == "Yamada^Tarou=\u{3000}山田^太郎")
        #expect(summary.studyDescription == "胸部")
        #expect(summary.seriesNumber == 2)
        #expect(summary.instanceNumber == nil)
    }
}
