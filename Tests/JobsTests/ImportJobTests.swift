import Crypto
import DICOM
import Foundation
import Jobs
import Media
import Reconcile
@testable import Store
import Synchronization
import Testing

// MARK: - Fixtures

/// A temporary folder, removed when the test ends.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "discport-jobs-tests/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String {
        let folder = path + "/" + name
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}

enum Disc {
    /// testdata/sample-disc: 5 CT instances of one patient (IR 87 name), a DICOMDIR, viewer junk.
    static let sample: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/testdata/sample-disc"
    }()

    static func copySample(to folder: String) throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.copyItem(atPath: sample, toPath: folder)
    }

    /// The sample disc with one pixel byte of one file changed (the same
    /// SOP Instance UID, other content); returns that file's path.
    static func copySampleModified(to folder: String) throws -> String {
        try copySample(to: folder)
        let victim = folder + "/DICOM/PAT00001/STU00001/SER00002/IMG00002"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[bytes.count - 10] ^= 0xFF
        try FileManager.default.removeItem(atPath: victim)
        try bytes.write(to: URL(fileURLWithPath: victim))
        return victim
    }

    static func element(_ group: UInt16, _ element: UInt16, _ vr: VR, _ text: String) -> DataElement {
        var bytes = Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == .UI ? 0 : 0x20) }
        return DataElement(tag: DICOM.Tag(group, element), vr: vr, bytes: Data(bytes))
    }

    static func dataset(patient: String, name: String, sop: String, study: String, series: String, pixel: UInt8) -> Dataset {
        Dataset([
            element(0x0008, 0x0016, .UI, "1.2.840.10008.5.1.4.1.1.7"),
            element(0x0008, 0x0018, .UI, sop),
            element(0x0008, 0x0060, .CS, "OT"),
            element(0x0010, 0x0010, .PN, name),
            element(0x0010, 0x0020, .LO, patient),
            element(0x0010, 0x0021, .LO, "FOREIGN-HOSP"),
            element(0x0010, 0x0030, .DA, "19800101"),
            element(0x0020, 0x000D, .UI, study),
            element(0x0020, 0x000E, .UI, series),
            element(0x0020, 0x0013, .IS, "1"),
            DataElement(tag: .pixelData, vr: .OW, bytes: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* Int(pixel)) })),
        ])
    }

    /// A folder with two patients (3 instances each); patient B's first
    /// instance is a raw implicit-VR data set without Part 10 header.
    static func twoPatients(in folder: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/A", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: folder + "/B", withIntermediateDirectories: true)
        for index in 1...3 {
            let a = dataset(patient: "F-A", name: "Suzuki^Hanako", sop: "1.2.3.100.\(index)", study: "1.2.3.10", series: "1.2.3.11", pixel: UInt8(index))
            try DICOMWriter.encode(DICOMFile(dataset: a, transferSyntax: .explicitVRLittleEndian)).write(to: URL(fileURLWithPath: folder + "/A/IM\(index)"))
            let b = dataset(patient: "F-B", name: "Tanaka^Ichiro", sop: "1.2.3.200.\(index)", study: "1.2.3.20", series: "1.2.3.21", pixel: UInt8(index + 7))
            let bytes = index == 1 ? try DICOMWriter.encode(b, transferSyntax: .implicitVRLittleEndian)
                : try DICOMWriter.encode(DICOMFile(dataset: b, transferSyntax: .implicitVRLittleEndian))
            try bytes.write(to: URL(fileURLWithPath: folder + "/B/IM\(index)"))
        }
    }
}

func sha256(_ path: String) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// The bytes from the Pixel Data element (tag included) to the end of the file.
func pixelTail(_ path: String) throws -> Data {
    let file = try DICOMFile(contentsOf: path, options: .header)
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.subdata(in: try #require(file.pixelDataOffset)..<data.count)
}

/// An element's encoding (explicit VR LE), to compare elements.
func encoded(_ element: DataElement?) -> Data? {
    guard let element else { return nil }
    return try? DICOMWriter.encode(Dataset([element]), transferSyntax: .explicitVRLittleEndian)
}

/// A store's fault hook: the disk is full from the (n+1)th instance on.
func fullAfter(_ n: Int) -> @Sendable (InstanceStore.FaultPoint) throws -> Void {
    let written = Mutex(0)
    return { point in
        guard point == .afterTemporaryFile else { return }
        if written.withLock({ value -> Int in value += 1; return value }) > n {
            throw StoreError(.full, "cannot write: No space left on device", path: "/store/tmp/x.part")
        }
    }
}

func openStore(_ home: String) throws -> InstanceStore {
    try InstanceStore(home: home, options: .init(synchronous: false))
}

func importAll(_ source: String, into store: InstanceStore, decision: PatientDecision,
               dryRun: Bool = false) throws -> ImportSummary {
    let job = ImportJob(source: source, store: store)
    var plan = job.scan()
    plan.decisions = Array(repeating: decision, count: plan.report.patients.count)
    return try job.run(plan, dryRun: dryRun)
}

// MARK: - Tests

@Suite("Import job")
struct ImportJobTests {
    @Test("a re-import repairs the store: a stored file deleted or cut short is written again from the disc (coerced again, the catalog takes its hash), audited; the rest are duplicates")
    func reimportRepairsMissingFiles() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try importExplicitly(Disc.sample, as: "L1", into: store)
        try store.flush()
        let instances = try store.instances()
        try FileManager.default.removeItem(atPath: instances[0].path)
        let cut = try Data(contentsOf: URL(fileURLWithPath: instances[1].path)).prefix(100)
        try cut.write(to: URL(fileURLWithPath: instances[1].path))
        #expect(try !store.check().isClean)

        let again = try importExplicitly(Disc.sample, as: "L1", into: store)
        #expect(again.counts.stored == 2)
        #expect(again.counts.duplicates == 3)
        #expect(again.exitStatus == 0)
        try store.flush()
        #expect(try store.check().isClean, "the files are back and the catalog's hashes match them")
        for damaged in instances.prefix(2) {
            let restore = try #require(try store.auditLog(sopInstanceUID: damaged.sopInstanceUID).last { $0.kind == .restore })
            #expect(restore.detail?.contains("repaired") == true)
        }
    }

    @Test("re-importing a disc for another local patient files nothing again: each instance is a conflict naming the patient it is stored under and how to move it, exit 1, and the remembered decision stays as it was")
    func reimportForAnotherPatient() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let first = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        #expect(first.counts.stored == 5)
        let again = try importExplicitly(Disc.sample, as: "L2", into: store)
        #expect(again.counts.conflicts == 5)
        #expect(again.counts.duplicates == 0)
        #expect(again.exitStatus == 1)
        let message = try #require(again.conflicts.first?.message)
        #expect(message.contains("already stored under Patient ID \"H-000123\""))
        #expect(message.contains("discport reassign"))
        #expect(try store.mappings().isEmpty, "the contradicted decision is not remembered")
        #expect(try store.studies().map(\.patientID) == ["H-000123"])
        #expect(try store.conflicts().isEmpty, "nothing kept aside: the stored file is the same instance")
    }

    @Test("the reassign command a conflict suggests is quoted for a POSIX shell: an ID or issuer with spaces, quotes or shell characters comes back as one word each")
    func reassignCommandIsShellQuoted() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        _ = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        let again = try importAll(Disc.sample, into: store,
                                  decision: .assign(LocalIdentity(patientID: "L 2;$(x)", issuerOfPatientID: "St. Mary's")))
        #expect(again.counts.conflicts == 5)
        let message = try #require(again.conflicts.first?.message)
        let study = try #require(try store.studies().first).studyInstanceUID
        #expect(message.contains("`discport reassign \(study) --to 'L 2;$(x)' --issuer 'St. Mary'\\''s'`"), "\(message)")
        // The shell reads it back as the values.
        let command = try #require(message.split(separator: "`").first { $0.hasPrefix("discport reassign ") })
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "printf '%s\\n' " + command.dropFirst("discport ".count)]
        let pipe = Pipe()
        shell.standardOutput = pipe
        try shell.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(output.split(separator: "\n").map(String.init) == ["reassign", study, "--to", "L 2;$(x)", "--issuer", "St. Mary's"])
        // Plain values stay as they are.
        let plain = try importAll(Disc.sample, into: store, decision: .assign(LocalIdentity(patientID: "L-3", issuerOfPatientID: "CLINIC")))
        #expect(plain.conflicts.first?.message?.contains("`discport reassign \(study) --to L-3 --issuer CLINIC`") == true)
    }

    @Test("as-is import stores every instance byte-exact; a second run skips them all")
    func importAsIsAndAgain() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let first = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        #expect(first.counts.stored == 5)
        #expect(first.exitStatus == 0)
        #expect(first.looseFiles.isEmpty, "the viewer and autorun files are no documents to convert")
        try store.flush()
        for instance in try store.instances() {
            let original = Disc.sample + "/" + (instance.originalPath ?? "")
            #expect(try sha256(instance.path) == sha256(original), "stored byte-exact: \(instance.sopInstanceUID)")
        }
        let second = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        #expect(second.counts.stored == 0)
        #expect(second.counts.duplicates == 5)
        #expect(try store.instances().count == 5)
        #expect(try store.check().isClean)
        let runs = try store.imports()
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.status == .completed })
    }

    @Test("a full store disk stops the import at once with what to do; the same import run again finishes the job")
    func fullDiskStopsTheImport() throws {
        let scratch = Scratch()
        let home = scratch.sub("home")
        let store = try InstanceStore(home: home, options: .init(synchronous: false), faultHook: fullAfter(2),
                                      migrations: Catalog.migrations)
        let job = ImportJob(source: Disc.sample, store: store)
        var plan = job.scan()
        plan.decisions = [.keepSourceIdentity]
        let events = Mutex<[InstanceEvent]>([])
        #expect {
            try job.run(plan) { event in if case .instance(let instance) = event { events.withLock { $0.append(instance) } } }
        } throws: { error in
            let full = error as? StoreFullError
            return full?.home == home && "\(error)".contains("free space") && "\(error)".contains("No space left on device")
        }
        let seen = events.withLock { $0 }
        #expect(seen.filter { $0.outcome == .stored }.count == 2, "the two instances that fitted")
        #expect(seen.count < 5, "stopped before trying every instance")
        try store.close()

        let again = try openStore(home)
        let second = try importAll(Disc.sample, into: again, decision: .keepSourceIdentity)
        #expect(second.counts.stored == 3 && second.counts.duplicates == 2)
        #expect(try again.instances().count == 5)
        #expect(try again.check().isClean)
    }

    @Test("a disc whose files were modified gives conflicts; the stored originals stay untouched")
    func modifiedDiscGivesConflicts() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        _ = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        try store.flush()
        let before = try Dictionary(uniqueKeysWithValues: store.instances().map { ($0.sopInstanceUID, try sha256($0.path)) })

        let modified = scratch.path + "/modified"
        let victim = try Disc.copySampleModified(to: modified)

        let summary = try importAll(modified, into: store, decision: .keepSourceIdentity)
        #expect(summary.counts.conflicts == 1)
        #expect(summary.counts.duplicates == 4)
        #expect(summary.exitStatus == 1)
        #expect(summary.conflicts.map(\.path) == ["DICOM/PAT00001/STU00001/SER00002/IMG00002"])
        try store.flush()
        for instance in try store.instances() {
            #expect(try sha256(instance.path) == before[instance.sopInstanceUID])
        }
        let kept = try store.conflicts()
        #expect(kept.count == 1)
        #expect(try sha256(kept[0].path) == sha256(victim))
        // Importing the modified disc again reports the known conflict, writes nothing new.
        let again = try importAll(modified, into: store, decision: .keepSourceIdentity)
        #expect(again.counts.conflicts == 1)
        #expect(try store.conflicts().count == 1)
    }

    @Test("assigning a local Patient ID coerces the header, keeps the foreign identity and the pixel data")
    func assignLocalPatient() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let summary = try importAll(Disc.sample, into: store,
                                    decision: .assign(LocalIdentity(patientID: "LOCAL-7", issuerOfPatientID: "CLINIC")))
        #expect(summary.counts.stored == 5)
        try store.flush()
        #expect(try store.patients().map(\.patientID) == ["LOCAL-7"])
        for instance in try store.instances() {
            let original = Disc.sample + "/" + (instance.originalPath ?? "")
            #expect(try pixelTail(instance.path) == pixelTail(original), "pixel data byte-identical")
            let stored = try DICOMFile(contentsOf: instance.path)
            let source = try DICOMFile(contentsOf: original)
            #expect(stored.dataset.firstString(.patientID) == "LOCAL-7")
            #expect(stored.dataset.firstString(.issuerOfPatientID) == "CLINIC")
            let history = try #require(stored.dataset.items(.originalAttributesSequence).last)
            #expect(history.firstString(DICOM.Tag(0x0400, 0x0565)) == "COERCE")
            let was = try #require(history.items(.modifiedAttributesSequence).first)
            #expect(encoded(was[.patientID]) == encoded(source.dataset[.patientID]))
            #expect(encoded(was[.issuerOfPatientID]) == encoded(source.dataset[.issuerOfPatientID]))
            let other = stored.dataset.items(.otherPatientIDsSequence)
            #expect(other.contains { $0.firstString(.patientID) == source.dataset.firstString(.patientID) })
            // Everything else is as it was.
            for element in source.dataset.elements where ![DICOM.Tag.patientID, .issuerOfPatientID].contains(element.tag) {
                #expect(encoded(stored.dataset[element.tag]) == encoded(element), "\(element.tag) unchanged")
            }
            #expect(try store.auditLog(sopInstanceUID: instance.sopInstanceUID).contains { $0.kind == .coercion })
        }
        // The same disc and decision again: already stored.
        let again = try importAll(Disc.sample, into: store,
                                  decision: .assign(LocalIdentity(patientID: "LOCAL-7", issuerOfPatientID: "CLINIC")))
        #expect(again.counts.duplicates == 5)
        #expect(again.counts.stored == 0)
    }

    @Test("multi-patient media: each patient decided alone; a skipped patient's instances are not imported")
    func multiPatient() throws {
        let scratch = Scratch()
        let disc = scratch.sub("disc")
        try Disc.twoPatients(in: disc)
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: disc, store: store)
        var plan = job.scan()
        #expect(plan.report.patients.count == 2)
        let a = try #require(plan.patientIndex(sourcePatientID: "F-A").first)
        let b = try #require(plan.patientIndex(sourcePatientID: "F-B").first)
        plan.decisions[a] = .assign(LocalIdentity(patientID: "L-1"))
        plan.decisions[b] = .skip
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 3)
        #expect(summary.counts.skipped == 3)
        try store.flush()
        #expect(try store.patients().map(\.patientID) == ["L-1"])
        #expect(Set(try store.instances().map(\.sopInstanceUID)) == ["1.2.3.100.1", "1.2.3.100.2", "1.2.3.100.3"])
        for instance in try store.instances() {
            let stored = try DICOMFile(contentsOf: instance.path)
            #expect(stored.dataset.firstString(.patientName) == "Suzuki^Hanako")
            #expect(stored.dataset.firstString(.issuerOfPatientID) == nil, "the foreign issuer does not describe the local ID")
        }

        // Now patient B as it is: the raw data set gets a Part 10 header, nothing else changes.
        plan.decisions[a] = .skip
        plan.decisions[b] = .keepSourceIdentity
        let second = try job.run(plan)
        #expect(second.counts.stored == 3)
        try store.flush()
        let raw = try #require(try store.instance(sopInstanceUID: "1.2.3.200.1"))
        #expect(raw.fileMetaAdded)
        let storedBytes = try Data(contentsOf: URL(fileURLWithPath: raw.path))
        let sourceBytes = try Data(contentsOf: URL(fileURLWithPath: disc + "/B/IM1"))
        #expect(storedBytes.suffix(sourceBytes.count) == sourceBytes)
        let file = try DICOMFile(contentsOf: raw.path)
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataset.firstString(.patientID) == "F-B")
    }

    @Test("an implicit-VR raw data set is re-identified with a correct Part 10 header")
    func coerceRawDataSet() throws {
        let scratch = Scratch()
        let disc = scratch.sub("disc")
        try Disc.twoPatients(in: disc)
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: disc + "/B", store: store)
        var plan = job.scan()
        plan.decisions = [.assign(LocalIdentity(patientID: "L-2"))]
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 3)
        try store.flush()
        let raw = try #require(try store.instance(sopInstanceUID: "1.2.3.200.1"))
        let file = try DICOMFile(contentsOf: raw.path)
        #expect(file.hasFileMeta)
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataset.firstString(.patientID) == "L-2")
        #expect(try pixelTail(raw.path) == pixelTail(disc + "/B/IM1"))
    }

    @Test("a dry run writes nothing and tells what is known")
    func dryRun() throws {
        let scratch = Scratch()
        let home = scratch.sub("home")
        let store = try openStore(home)
        let summary = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity, dryRun: true)
        #expect(summary.counts.wouldStore == 5)
        #expect(summary.importID == nil)
        #expect(try store.instances().isEmpty)
        #expect(try store.imports().isEmpty)
        _ = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        let after = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity, dryRun: true)
        #expect(after.counts.wouldSkipKnown == 5)
    }

    @Test("a zip is imported in place, entry by entry")
    func importZip() throws {
        let scratch = Scratch()
        let zip = scratch.path + "/disc.zip"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "zipfile", "-c", zip, Disc.sample + "/DICOM", Disc.sample + "/DICOMDIR"]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let store = try openStore(scratch.sub("home"))
        let summary = try importAll(zip, into: store, decision: .keepSourceIdentity)
        #expect(summary.counts.stored == 5)
        #expect(summary.exitStatus == 0)
        try store.flush()
        #expect(try store.check().isClean)
    }

    @Test("a transfer syntax discport does not write is refused with the way out, never half-written")
    func coercionRefusesBigEndian() throws {
        let dataset = Disc.dataset(patient: "F-X", name: "X^Y", sop: "1.2.3.9", study: "1.2.3.8", series: "1.2.3.7", pixel: 1)
        var file = DICOMFile(dataset: dataset, transferSyntax: .explicitVRBigEndian)
        file.pixelDataOffset = 300
        let coercion = IdentityCoercion(identity: LocalIdentity(patientID: "L-3"), modificationDateTime: "20260101000000")
        #expect {
            _ = try coercion.apply(to: file, fileSize: 5000, path: "DICOM/IM1")
        } throws: { error in
            guard let error = error as? CoercionError else { return false }
            return error.path == "DICOM/IM1" && error.message.contains("--as-is") && error.message.contains("Big Endian")
        }
        // Already carrying the local identity: nothing to rewrite.
        let local = DICOMFile(dataset: Disc.dataset(patient: "L-3", name: "X^Y", sop: "1.2.3.9", study: "1.2.3.8", series: "1.2.3.7", pixel: 1),
                              transferSyntax: .explicitVRLittleEndian)
        var withoutIssuer = local
        _ = withoutIssuer.dataset.remove(.issuerOfPatientID)
        #expect(try coercion.apply(to: withoutIssuer, fileSize: 5000) == nil)
        #expect(try coercion.apply(to: local, fileSize: 5000) != nil, "a foreign issuer is still removed")
    }
}

@Suite("Import --convert")
struct ImportConvertTests {
    /// A 2×2 24-bit BMP (bottom-up rows of 4-byte stride: red, green / blue, white).
    static let bmp: Data = {
        var b = [UInt8]()
        func u16(_ v: Int) { b += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16 & 0xFFFF) }
        b += Array("BM".utf8); u32(54 + 16); u32(0); u32(54)
        u32(40); u32(2); u32(2); u16(1); u16(24); u32(0); u32(16); u32(2835); u32(2835); u32(0); u32(0)
        b += [255, 0, 0, 255, 255, 255, 0, 0] + [0, 0, 255, 0, 255, 0, 0, 0]
        return Data(b)
    }()
    static let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)

    @Test("a referral letter on the disc becomes an Encapsulated PDF of the patient's study, under the local identity; a re-import finds it stored")
    func convertsLooseDocument() throws {
        let scratch = Scratch()
        let disc = scratch.path + "/disc"
        try Disc.copySample(to: disc)
        try Self.pdf.write(to: URL(fileURLWithPath: disc + "/LETTER.PDF"))
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: disc, store: store)
        var plan = job.scan()
        plan.decisions = [.assign(LocalIdentity(patientID: "L-9"))]
        plan.convertLooseFiles = true
        let summary = try job.run(plan)
        #expect(summary.converted == 1)
        #expect(summary.counts.stored == 6)
        #expect(summary.exitStatus == 0)
        try store.flush()
        let studies = try store.studies()
        #expect(studies.count == 1, "the document joins the disc's study")
        #expect(studies.first?.modalities.contains("DOC") == true)
        let document = try #require(try store.instances().first { $0.sopClassUID == "1.2.840.10008.5.1.4.1.1.104.1" })
        let file = try DICOMFile(contentsOf: document.path)
        #expect(file.dataset.firstString(.patientID) == "L-9")
        #expect(file.dataset.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう", "the name the images kept")
        #expect(file.dataset.firstString(.mimeTypeOfEncapsulatedDocument) == "application/pdf")

        let again = try job.run(plan)
        #expect(again.counts.duplicates == 6)
        #expect(again.counts.stored == 0)
    }

    @Test("from a zip, the document is copied out of the archive and converted the same way")
    func convertsFromZip() throws {
        let scratch = Scratch()
        let disc = scratch.path + "/disc"
        try Disc.copySample(to: disc)
        try Self.pdf.write(to: URL(fileURLWithPath: disc + "/LETTER.PDF"))
        let zip = scratch.path + "/disc.zip"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.currentDirectoryURL = URL(fileURLWithPath: disc)
        process.arguments = ["python3", "-m", "zipfile", "-c", zip, "DICOM", "DICOMDIR", "LETTER.PDF"]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: zip, store: store)
        var plan = job.scan()
        plan.decisions = [.assign(LocalIdentity(patientID: "L-9"))]
        plan.convertLooseFiles = true
        let summary = try job.run(plan)
        #expect(summary.converted == 1)
        #expect(summary.conversionNotes.isEmpty)
        #expect(summary.counts.stored == 6)
    }

    @Test("with two patients on the medium nothing is converted: a loose file names no patient")
    func refusesWithSeveralPatients() throws {
        let scratch = Scratch()
        let disc = scratch.sub("disc")
        try Disc.twoPatients(in: disc)
        try Self.pdf.write(to: URL(fileURLWithPath: disc + "/LETTER.PDF"))
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: disc, store: store)
        var plan = job.scan()
        plan.decisions = Array(repeating: .keepSourceIdentity, count: plan.report.patients.count)
        plan.convertLooseFiles = true
        let summary = try job.run(plan)
        #expect(summary.converted == 0)
        #expect(summary.conversionNotes.first?.contains("exactly one imported patient") == true)
        #expect(summary.exitStatus == 1)
    }

    @Test("a medium of documents only (a letter, a photo): converted for the named registered patient into a study of their own; the same disc again finds them stored, another disc makes another study")
    func documentsOnlyMediumNeedsTheLocalPatient() throws {
        let scratch = Scratch()
        let disc = scratch.sub("disc")
        try FileManager.default.createDirectory(atPath: disc + "/photos", withIntermediateDirectories: true)
        try Self.pdf.write(to: URL(fileURLWithPath: disc + "/LETTER.PDF"))
        try Self.bmp.write(to: URL(fileURLWithPath: disc + "/photos/IMG_0001.BMP"))
        let store = try openStore(scratch.sub("home"))
        try store.register([RegisteredPatient(patientID: "L-7", alphabetic: "Sato^Hanako", ideographic: "佐藤^花子",
                                              birthDate: "19800202", sex: "F")], source: "t")
        let job = ImportJob(source: disc, store: store)
        var plan = job.scan()
        #expect(plan.report.patients.isEmpty && plan.convertibleFiles.count == 2)
        #expect(throws: DecisionError.self) { try job.documentsPatient(localPatientID: "L-UNKNOWN") }
        plan.documentsPatient = try job.documentsPatient(localPatientID: "L-7")
        plan.convertLooseFiles = true

        let summary = try job.run(plan)
        #expect(summary.converted == 2 && summary.counts.stored == 2 && summary.conversionNotes.isEmpty)
        #expect(summary.exitStatus == 0)
        #expect(summary.patients.map(\.patientID) == ["L-7"] && summary.patients.first?.counts.stored == 2)
        let studies = try store.studies()
        #expect(studies.count == 1 && studies.first?.patientID == "L-7" && studies.first?.studyDescription == "Imported documents")
        for instance in try store.instances() {
            let file = try DICOMFile(contentsOf: instance.path)
            #expect(file.dataset.string(.patientName) == "Sato^Hanako=佐藤^花子", "the registry's name")
            #expect(file.dataset.firstString(.patientBirthDate) == "19800202")
        }

        let again = try job.run(plan)
        #expect(again.counts.duplicates == 2 && again.counts.stored == 0)
        #expect(try store.studies().count == 1)
        let dry = try job.run(plan, dryRun: true)
        #expect(dry.counts.wouldSkipKnown == 2 && dry.counts.wouldStore == 0, "a dry run knows what is stored")

        // Another disc (another letter) is another study.
        try Data(Self.pdf.dropLast(6) + Data("% other\n%%EOF\n".utf8)).write(to: URL(fileURLWithPath: disc + "/LETTER.PDF"))
        let other = ImportJob(source: disc, store: store)
        var second = other.scan()
        second.documentsPatient = try other.documentsPatient(localPatientID: "L-7")
        second.convertLooseFiles = true
        #expect(try other.run(second).counts.stored == 2)
        #expect(try store.studies().count == 2)
    }
}
