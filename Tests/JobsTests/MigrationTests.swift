import DICOM
import Foundation
@testable import Jobs
import Reconcile
@testable import Store
import Synchronization
import Testing

@Suite("Migration")
struct MigrationTests {
    @Test("manifest rows: required path and patient, dates in either form, sex, relative paths; bad rows listed, not thrown")
    func manifestRows() throws {
        let scratch = Scratch()
        let manifest = scratch.path + "/m.csv"
        try Data("""
        path,patient_id,birth_date,sex,study_date,extra
        a/1.jpg,P1,1970-04-01,m,20200101,x
        a/2.jpg,,,,,
        a/3.jpg,P2,19701301,,,
        /abs/4.pdf,P3,,Q,,
        a/5.jpg,P4,,,2020.02.30,

        """.utf8).write(to: URL(fileURLWithPath: manifest))
        let (rows, problems) = try MigrationManifest.read(manifest, root: "/data")
        #expect(rows.map(\.path) == ["a/1.jpg"])
        #expect(rows.first?.absolutePath == "/data/a/1.jpg")
        #expect(rows.first?.birthDate == "19700401")
        #expect(rows.first?.sex == "M")
        #expect(problems.map(\.line) == [3, 4, 5, 6])
        #expect(problems[0].message.contains("patient_id"))
        #expect(problems[1].message.contains("birth_date"))
        #expect(problems[2].message.contains("sex"))
        #expect(problems[3].message.contains("study_date"))

        let jsonl = scratch.path + "/m.jsonl"
        try Data("{\"path\":\"x.pdf\",\"patient_id\":\"P9\",\"study_key\":\"K\"}\nnot json\n".utf8).write(to: URL(fileURLWithPath: jsonl))
        let (jrows, jproblems) = try MigrationManifest.read(jsonl)
        #expect(jrows.first?.absolutePath == scratch.path + "/x.pdf")
        #expect(jrows.first?.effectiveStudyKey == "K")
        #expect(jproblems.map(\.line) == [2])
    }

    @Test("folder layouts: placeholders per folder, dates in the given format, {*} for the rest; files that do not fit are listed")
    func layouts() throws {
        let scratch = Scratch()
        for path in ["P1/2021-03-04/a.jpg", "P1/2021-03-04/deep/b.jpg", "P2/20210304/c.jpg", "loose.jpg", "P3/2021-13-01/d.jpg"] {
            let full = scratch.path + "/tree/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data([0xFF, 0xD8, 0xFF]).write(to: URL(fileURLWithPath: full))
        }
        let (rows, problems) = try MigrationManifest.fromLayout(root: scratch.path + "/tree", pattern: "{patient_id}/{study_date:yyyy-MM-dd}/{*}")
        #expect(rows.map(\.path) == ["P1/2021-03-04/a.jpg", "P1/2021-03-04/deep/b.jpg"])
        #expect(rows.allSatisfy { $0.patientID == "P1" && $0.studyDate == "20210304" })
        #expect(Set(problems.compactMap(\.path)) == ["P2/20210304/c.jpg", "loose.jpg", "P3/2021-13-01/d.jpg"])
        let (flat, flatProblems) = try MigrationManifest.fromLayout(root: scratch.path + "/tree", pattern: "{patient_id}/{study_date:yyyyMMdd}")
        #expect(flat.map(\.path) == ["P2/20210304/c.jpg"])
        #expect(flatProblems.count == 4)
        #expect(throws: DecisionError.self) { _ = try MigrationManifest.fromLayout(root: scratch.path, pattern: "{study_date:yyyyMMdd}/{*}") }
    }

    @Test("pre-flight: missing files, unknown patients (with a registry), a study key shared by two patients; a run stores exactly the good rows and a second run redoes nothing")
    func preflightAndRun() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try store.register([RegisteredPatient(patientID: "NEW-1", alphabetic: "Doe^Jane", birthDate: "19700101", sex: "F")], source: "t")
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        try pdf.write(to: URL(fileURLWithPath: scratch.path + "/a.pdf"))
        try (pdf + Data("%2\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/b.pdf"))
        try (pdf + Data("%3\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/d.pdf"))
        try FileManager.default.copyItem(atPath: Disc.sample + "/DICOM/PAT00001/STU00001/SER00002/IMG00001", toPath: scratch.path + "/c.dcm")
        func row(_ line: Int, _ path: String, _ patient: String, study: String = "K1") -> MigrationRow {
            MigrationRow(line: line, path: path, absolutePath: scratch.path + "/" + path, patientID: patient, studyKey: study)
        }
        let rows = [row(2, "a.pdf", "OLD-1"), row(3, "b.pdf", "OLD-1"), row(4, "c.dcm", "OLD-1"),
                    row(5, "missing.pdf", "OLD-1"), row(6, "b.pdf", "OLD-1"), row(7, "d.pdf", "STRANGER", study: "K9")]
        let job = MigrationJob(store: store, job: "t")
        let preflight = try job.preflight(MigrationInput(rows: rows), idMapping: ["OLD-1": "NEW-1"])
        #expect(try goodLines(preflight) == [2, 3, 4])
        #expect(preflight.good == 3)
        #expect(preflight.problems.map(\.line) == [5, 6, 7])
        #expect(preflight.problems.last?.message.contains("unknown patient") == true)

        let firstOutcomes = Mutex<[MigrationRowOutcome]>([])
        let first = try job.run(preflight) { outcome in firstOutcomes.withLock { $0.append(outcome) } }
        #expect(first.stored == 3)
        #expect(firstOutcomes.withLock { $0.count } == 6, "every row's outcome, the invalid ones too, goes to progress")
        #expect(first.notMigrated.map(\.line) == [5, 6, 7])
        #expect(first.invalid == 3)
        #expect(first.exitStatus == 1)
        let stored = try store.instances()
        #expect(stored.count == 3)
        #expect(Set(stored.map(\.patientID)) == ["NEW-1"])
        let documents = stored.filter { $0.sopClassUID == "1.2.840.10008.5.1.4.1.1.104.1" }
        #expect(Set(documents.map(\.studyInstanceUID)).count == 1, "rows sharing a study key form one study")
        let dicom = try DICOMFile(contentsOf: try #require(stored.first { $0.originalPath == "c.dcm" }).path)
        #expect(dicom.dataset.string(.patientName) == "Doe^Jane", "the registry's name")
        #expect(dicom.dataset.items(.originalAttributesSequence).last?.items(.modifiedAttributesSequence).first?.firstString(.patientID) == "H-000123")

        let secondOutcomes = Mutex<[MigrationRowOutcome]>([])
        let second = try job.run(preflight) { outcome in secondOutcomes.withLock { $0.append(outcome) } }
        #expect(second.done == 3)
        #expect(second.stored == 0)
        #expect(Set(secondOutcomes.withLock { $0 }.flatMap(\.sopInstanceUIDs)) == Set(firstOutcomes.withLock { $0 }.flatMap(\.sopInstanceUIDs)))
        // Another job over the same files finds them stored: same UIDs.
        let other = try MigrationJob(store: store, job: "t2").run(preflight)
        #expect(other.alreadyStored == 3)
        // The state is looked up row by row: done rows with their UIDs,
        // refused rows never recorded.
        let c = try #require(try store.migrationRow(job: "t", key: "c.dcm"))
        #expect(c.status == .done && c.sopInstanceUIDs == [dicom.sopInstanceUID].compactMap { $0 })
        #expect(try store.migrationRow(job: "t", key: "missing.pdf") == nil)
        #expect(try store.hasMigrationRows(job: "t") && !store.hasMigrationRows(job: "never-run"))
        // A row a run recorded as failed is tried again by the next one.
        try store.recordMigrationRow(job: "t3", MigrationRowState(key: "b.pdf", status: .failed, sopInstanceUIDs: [], message: "earlier fault"))
        try store.flush()
        let retried = try MigrationJob(store: store, job: "t3").run(preflight)
        #expect(retried.alreadyStored == 3 && retried.done == 0)
        #expect(try store.migrationRow(job: "t3", key: "b.pdf")?.status == .done)
    }

    @Test("the row queue: every item exactly once and in order, nil for every consumer after close, storage bounded when it never drains")
    func rowQueue() {
        // Kept between half and full for thousands of items: never empty.
        let steady = MigrationQueue<Int>(capacity: 8)
        for i in 0..<8 { steady.put(i) }
        var next = 0, added = 8
        for _ in 0..<1000 {
            for _ in 0..<4 {
                #expect(steady.take() == next)
                next += 1
            }
            for _ in 0..<4 {
                steady.put(added)
                added += 1
            }
        }
        #expect(steady.slotsHeld <= 16)

        // One producer, three consumers on threads of their own.
        let queue = MigrationQueue<Int>(capacity: 4)
        let taken = Mutex<[[Int]]>([[], [], []])
        let done = DispatchGroup()
        for consumer in 0..<3 {
            done.enter()
            Thread {
                while let item = queue.take() { taken.withLock { $0[consumer].append(item) } }
                done.leave()
            }.start()
        }
        for item in 0..<10_000 { queue.put(item) }
        queue.close()
        done.wait()
        let all = taken.withLock { $0 }
        #expect(all.flatMap { $0 }.sorted() == Array(0..<10_000))
        #expect(all.allSatisfy { $0 == $0.sorted() }, "each consumer gets its items in the order they were put")
    }

    @Test("a full store disk stops the migration: the rows not done are left for the next run, which finishes the job")
    func fullDiskStopsTheMigration() throws {
        let scratch = Scratch()
        let home = scratch.sub("home")
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        let rows = try (1...12).map { index -> MigrationRow in
            try (pdf + Data("%\(index)\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/\(index).pdf"))
            return MigrationRow(line: index + 1, path: "\(index).pdf", absolutePath: scratch.path + "/\(index).pdf", patientID: "P1", studyKey: "K1")
        }
        let store = try InstanceStore(home: home, options: .init(synchronous: false), faultHook: fullAfter(3),
                                      migrations: Catalog.migrations)
        let job = MigrationJob(store: store, job: "t", workers: 2)
        let preflight = try job.preflight(MigrationInput(rows: rows))
        let outcomes = Mutex<[MigrationRowOutcome]>([])
        #expect(throws: StoreFullError.self) {
            try job.run(preflight) { outcome in outcomes.withLock { $0.append(outcome) } }
        }
        #expect(outcomes.withLock { $0 }.filter { $0.status == .stored }.count == 3)
        #expect(outcomes.withLock { $0 }.allSatisfy { $0.status == .stored }, "rows cut off by the full disk are not failures")
        try store.close()

        let again = try openStore(home)
        let second = try MigrationJob(store: again, job: "t").run(preflight)
        #expect(second.done == 3 && second.stored == 9 && second.failed == 0)
        #expect(try again.instances().count == 12)
    }

    @Test("pre-flight: DICOM files of one study given to two patients; the later rows are refused in manifest order")
    func dicomStudyOfTwoPatients() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let series = Disc.sample + "/DICOM/PAT00001/STU00001/SER00002/"
        for name in ["IMG00001", "IMG00002"] {
            try FileManager.default.copyItem(atPath: series + name, toPath: scratch.path + "/" + name)
        }
        let rows = [MigrationRow(line: 2, path: "IMG00001", absolutePath: scratch.path + "/IMG00001", patientID: "A", studyKey: "K1"),
                    MigrationRow(line: 3, path: "IMG00002", absolutePath: scratch.path + "/IMG00002", patientID: "B", studyKey: "K2")]
        let preflight = try MigrationJob(store: store, job: "t").preflight(MigrationInput(rows: rows))
        #expect(try goodLines(preflight) == [2])
        #expect(preflight.problems.map(\.line) == [3])
        #expect(preflight.problems.first?.message.contains("one study cannot belong to two patients") == true)
        #expect(preflight.problems.first?.message.contains("line 2") == true)
    }

    @Test("a manifest is gone through twice: the run takes exactly the rows the pre-flight let through (parse problems, refused rows and good rows interleaved)")
    func manifestInTwoPasses() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        try pdf.write(to: URL(fileURLWithPath: scratch.path + "/a.pdf"))
        try (pdf + Data("%2\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/b.pdf"))
        try Data("not a picture\n".utf8).write(to: URL(fileURLWithPath: scratch.path + "/c.txt"))
        let manifest = scratch.path + "/m.csv"
        try Data("""
        path,patient_id,study_key
        a.pdf,P1,K1
        missing.pdf,P1,K1
        b.pdf,,K1
        a.pdf,P1,K1
        c.txt,P1,K1
        b.pdf,P1,K1

        """.utf8).write(to: URL(fileURLWithPath: manifest))
        let job = MigrationJob(store: store, job: "t")
        let preflight = try job.preflight(MigrationManifest.input(manifest))
        #expect(preflight.problems.map(\.line) == [3, 4, 5, 6])
        #expect(preflight.problems[2].message.contains("the same file as line 2"))
        #expect(try goodLines(preflight) == [2, 7])
        let outcomes = Mutex<[MigrationRowOutcome]>([])
        let summary = try job.run(preflight) { outcome in outcomes.withLock { $0.append(outcome) } }
        #expect(summary.stored == 2 && summary.invalid == 4)
        #expect(Set(outcomes.withLock { $0 }.filter { $0.status == .stored }.map(\.path)) == ["a.pdf", "b.pdf"])

        try Data("file,patient\nx.pdf,P1\n".utf8).write(to: URL(fileURLWithPath: manifest))
        #expect(throws: DecisionError.self) { _ = try MigrationManifest.input(manifest) }
    }

    @Test("pre-flight: one file named by two paths (./, a symlink) is refused like a path named twice, not filed under two patients")
    func theSameFileUnderAnotherPathIsRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        try FileManager.default.createDirectory(atPath: scratch.path + "/d", withIntermediateDirectories: true)
        try pdf.write(to: URL(fileURLWithPath: scratch.path + "/d/a.pdf"))
        try FileManager.default.createSymbolicLink(atPath: scratch.path + "/link.pdf", withDestinationPath: "d/a.pdf")
        func row(_ line: Int, _ path: String, _ patient: String) -> MigrationRow {
            MigrationRow(line: line, path: path, absolutePath: scratch.path + "/" + path, patientID: patient, studyKey: "K-\(patient)")
        }
        let rows = [row(2, "d/a.pdf", "A"), row(3, "./d/a.pdf", "B"), row(4, "link.pdf", "C"), row(5, "d//a.pdf", "A")]
        let job = MigrationJob(store: store, job: "t")
        let preflight = try job.preflight(MigrationInput(rows: rows))
        #expect(try goodLines(preflight) == [2])
        #expect(preflight.problems.map(\.line) == [3, 4, 5])
        #expect(preflight.problems.allSatisfy { $0.message.contains("the same file as line 2") })
        _ = try job.run(preflight)
        #expect(Set(try store.instances().map(\.patientID)) == ["A"])
    }

    @Test("pre-flight: rows of one patient with another name, birth date or sex, and rows of one study key with another date or description, are refused; empty values take the others'")
    func rowsContradictingTheirPatientOrStudyAreRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        for k in 1...6 { try (pdf + Data("%\(k)\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/\(k).pdf")) }
        func row(_ k: Int, name: String? = nil, birth: String? = nil, date: String? = nil, description: String? = nil) -> MigrationRow {
            MigrationRow(line: k + 1, path: "\(k).pdf", absolutePath: scratch.path + "/\(k).pdf", patientID: "P1", patientName: name,
                         birthDate: birth, studyDate: date, studyKey: "K1", studyDescription: description)
        }
        let rows = [row(1, name: "Yamada^Taro", date: "20240105", description: "Referral"),
                    row(2, name: "Yamada^Jiro"),
                    row(3, birth: "19700101"),
                    row(4, date: "20240107"),
                    row(5, description: "Other"),
                    row(6, name: "Yamada^Taro", birth: "19700101")]
        let job = MigrationJob(store: store, job: "t")
        let preflight = try job.preflight(MigrationInput(rows: rows))
        #expect(try goodLines(preflight) == [2, 4, 7])
        #expect(preflight.problems.map(\.line) == [3, 5, 6])
        #expect(preflight.problems[0].message.contains("patient_name \"Yamada^Jiro\" differs from \"Yamada^Taro\" of patient P1 on line 2"))
        #expect(preflight.problems[1].message.contains("study_date \"20240107\""))
        #expect(preflight.problems[2].message.contains("study_description \"Other\""))
        let summary = try job.run(preflight)
        #expect(summary.stored == 3)
        for instance in try store.instances() {
            let ds = try DICOMFile(contentsOf: instance.path).dataset
            #expect(ds.string(.patientName) == "Yamada^Taro")
            #expect(ds.firstString(.patientBirthDate) == "19700101")
            #expect(ds.firstString(.studyDate) == "20240105")
            #expect(ds.firstString(.studyDescription) == "Referral")
        }
    }

    @Test("a re-run whose manifest now gives a done row another patient does not say it done under that patient: failed, naming both")
    func doneRowGivenAnotherPatientIsNotDone() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let pdf = Data("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".utf8)
        try pdf.write(to: URL(fileURLWithPath: scratch.path + "/a.pdf"))
        try (pdf + Data("%2\n".utf8)).write(to: URL(fileURLWithPath: scratch.path + "/b.pdf"))
        func rows(_ first: String) -> [MigrationRow] {
            [MigrationRow(line: 2, path: "a.pdf", absolutePath: scratch.path + "/a.pdf", patientID: first, studyKey: "K-\(first)"),
             MigrationRow(line: 3, path: "b.pdf", absolutePath: scratch.path + "/b.pdf", patientID: "P1", studyKey: "K1")]
        }
        let job = MigrationJob(store: store, job: "t")
        #expect(try job.run(job.preflight(MigrationInput(rows: rows("P1")))).stored == 2)
        let outcomes = Mutex<[MigrationRowOutcome]>([])
        let again = try job.run(job.preflight(MigrationInput(rows: rows("P2")))) { o in outcomes.withLock { $0.append(o) } }
        #expect(again.done == 1 && again.failed == 1 && again.exitStatus == 1)
        let a = try #require(outcomes.withLock { $0 }.first { $0.path == "a.pdf" })
        #expect(a.status == .failed)
        #expect(a.message?.contains("stored under patient P1") == true && a.message?.contains("now says patient P2") == true)
        #expect(Set(try store.instances().map(\.patientID)) == ["P1"], "nothing redone")
    }

    @Test("a JSON Lines manifest in Shift_JIS is read as Shift_JIS (names not turned into U+FFFD), one in neither encoding refused")
    func jsonLinesInShiftJIS() throws {
        let scratch = Scratch()
        let manifest = scratch.path + "/m.jsonl"
        let line = "{\"path\": \"a.jpg\", \"patient_id\": \"P1\", \"patient_name\": \"山田^太郎=ヤマダ^タロウ\", \"study_description\": \"表示ソフト\"}\r\n"
        try #require(line.data(using: .shiftJIS)).write(to: URL(fileURLWithPath: manifest))
        let (rows, problems) = try MigrationManifest.read(manifest)
        #expect(problems.isEmpty)
        #expect(rows.first?.patientName == "山田^太郎=ヤマダ^タロウ")
        #expect(rows.first?.studyDescription == "表示ソフト")
        try (Data([0xEF, 0xBB, 0xBF]) + Data(line.utf8)).write(to: URL(fileURLWithPath: manifest))
        #expect(try MigrationManifest.read(manifest).rows.first?.patientName == "山田^太郎=ヤマダ^タロウ")
        try Data([0x7B, 0x22, 0xFF, 0xFF, 0x81, 0x22, 0x7D, 0x0A]).write(to: URL(fileURLWithPath: manifest))
        #expect(throws: DecisionError.self) { _ = try MigrationManifest.read(manifest) }
    }

    @Test("folder layouts: a date folder of the right form naming no real day (2024-02-30) is said to be no date, not to not fit the layout")
    func layoutDateThatIsNoDay() throws {
        let scratch = Scratch()
        for folder in ["P1/2024-02-30", "P1/2024-02-28", "P1/misc"] {
            try FileManager.default.createDirectory(atPath: scratch.path + "/tree/" + folder, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.path + "/tree/" + folder + "/a.jpg"))
        }
        let (rows, problems) = try MigrationManifest.fromLayout(root: scratch.path + "/tree", pattern: "{patient_id}/{study_date:yyyy-MM-dd}/{*}")
        #expect(rows.map(\.path) == ["P1/2024-02-28/a.jpg"])
        let byPath = Dictionary(uniqueKeysWithValues: problems.map { ($0.path ?? "", $0.message) })
        #expect(byPath["P1/2024-02-30/a.jpg"]?.contains("study_date \"2024-02-30\"") == true)
        #expect(byPath["P1/2024-02-30/a.jpg"]?.contains("is not a date") == true)
        #expect(byPath["P1/misc/a.jpg"]?.contains("does not fit the layout") == true)
    }

    @Test("one series has one modality: image rows of one series key with another modality are refused; without a series key, each modality is a series of its own")
    func oneSeriesOneModality() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        var bmp = Data("BM".utf8) + Data(repeating: 0, count: 52)
        bmp.replaceSubrange(2..<6, with: [58, 0, 0, 0])
        bmp.replaceSubrange(10..<14, with: [54, 0, 0, 0])
        bmp.replaceSubrange(14..<18, with: [40, 0, 0, 0])
        bmp.replaceSubrange(18..<22, with: [1, 0, 0, 0])
        bmp.replaceSubrange(22..<26, with: [1, 0, 0, 0])
        bmp.replaceSubrange(26..<28, with: [1, 0])
        bmp.replaceSubrange(28..<30, with: [24, 0])
        for k in 1...5 {
            var file = bmp + Data([UInt8(k), 0, 0, 0])
            file[2] = UInt8(file.count)
            try file.write(to: URL(fileURLWithPath: scratch.path + "/\(k).bmp"))
        }
        func row(_ k: Int, modality: String?, series: String?) -> MigrationRow {
            MigrationRow(line: k + 1, path: "\(k).bmp", absolutePath: scratch.path + "/\(k).bmp", patientID: "P1", studyKey: "K1",
                         modality: modality, seriesKey: series)
        }
        let rows = [row(1, modality: "CT", series: nil), row(2, modality: "MR", series: nil),
                    row(3, modality: "XC", series: "S"), row(4, modality: "OT", series: "S"), row(5, modality: nil, series: "S")]
        let job = MigrationJob(store: store, job: "t")
        let preflight = try job.preflight(MigrationInput(rows: rows))
        #expect(try goodLines(preflight) == [2, 3, 4, 6])
        #expect(preflight.problems.first?.message.contains("modality \"OT\" differs from \"XC\" of series key S on line 4") == true)
        #expect(try job.run(preflight).stored == 4)
        var modalities: [String: Set<String>] = [:]
        for instance in try store.instances() {
            let ds = try DICOMFile(contentsOf: instance.path).dataset
            modalities[instance.seriesInstanceUID, default: []].insert(ds.firstString(.modality) ?? "")
        }
        #expect(modalities.count == 3 && modalities.values.allSatisfy { $0.count == 1 })
        #expect(Set(modalities.values.flatMap { $0 }) == ["CT", "MR", "XC"])
    }

    @Test("pre-flight: a series key that cannot be a Series Description (LO: too long, a backslash) is refused before any work, not failed by the run")
    func seriesKeyIsCheckedByThePreflight() throws {
        let scratch = Scratch()
        let manifest = scratch.path + "/m.csv"
        try Data("path,patient_id,series_key\na.jpg,P1,\(String(repeating: "S", count: 70))\nb.jpg,P1,\"x\\y\"\nc.jpg,P1,Photos\n".utf8)
            .write(to: URL(fileURLWithPath: manifest))
        let (rows, problems) = try MigrationManifest.read(manifest)
        #expect(rows.map(\.line) == [4])
        #expect(problems.map(\.line) == [2, 3])
        #expect(problems.allSatisfy { $0.message.hasPrefix("series_key") })
    }

    /// The lines of the rows a pre-flight let through, as the run gets them.
    private func goodLines(_ preflight: MigrationPreflight) throws -> [Int] {
        var lines: [Int] = []
        try preflight.forEachGoodRow { lines.append($0.line) }
        return lines
    }
}
