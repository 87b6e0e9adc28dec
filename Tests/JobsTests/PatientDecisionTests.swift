import DICOM
import Foundation
import Jobs
import Media
import Reconcile
import Store
import Testing

private let taro = RegisteredPatient(patientID: "12345", issuer: "CLINIC", alphabetic: "Yamada^Taro", ideographic: "山田^太郎",
                                     phonetic: "ヤマダ^タロウ", birthDate: "19700401", sex: "M")

/// Takes the decided proposals into the plan.
func apply(_ proposals: [PatientProposal], to plan: inout ImportPlan) {
    for (index, proposal) in proposals.enumerated() {
        if case .decided(let decision, let how, _) = proposal {
            plan.decisions[index] = decision
            plan.decidedBy[index] = how
        }
    }
}

/// Proposes for a disc with the default options (remembered decisions first).
func proposal(_ source: String, _ store: InstanceStore, _ configure: (inout IdentityOptions) -> Void = { _ in })
    throws -> PatientProposal {
    let job = ImportJob(source: source, store: store)
    var options = IdentityOptions()
    configure(&options)
    return try #require(try job.propose(job.scan(), options: options).first)
}

/// Imports a disc as `--patient-id LOCAL --issuer CLINIC` would, remembering the decision.
@discardableResult
func importExplicitly(_ source: String, as local: String, into store: InstanceStore) throws -> ImportSummary {
    let job = ImportJob(source: source, store: store)
    var plan = job.scan()
    var options = IdentityOptions()
    options.localPatientID = local
    options.issuer = "CLINIC"
    apply(try job.propose(plan, options: options), to: &plan)
    return try job.run(plan)
}

@Suite("Patient decisions")
struct PatientDecisionTests {
    /// The sample disc (H-000123, Yamada^Tarou=山田^太郎=やまだ^たろう, 19700401, M) against a registry.
    private func propose(_ registry: [RegisteredPatient], _ configure: (inout IdentityOptions) -> Void,
                         store: InstanceStore) throws -> (ImportJob, ImportPlan, [PatientProposal]) {
        try store.register(registry, source: "test")
        let job = ImportJob(source: Disc.sample, store: store)
        let plan = job.scan()
        var options = IdentityOptions()
        configure(&options)
        return (job, plan, try job.propose(plan, options: options))
    }

    @Test("--auto files the disc under the one registered patient matching birth date and name (romaji long vowel, kana), with the registry's demographics")
    func automaticUnique() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let other = RegisteredPatient(patientID: "999", alphabetic: "Yamada^Hanako", birthDate: "19700401", sex: "F")
        var (job, plan, proposals) = try propose([taro, other], { $0.automatic = true }, store: store)
        guard case .decided(.assign(let identity), .automatic, let note) = try #require(proposals.first) else {
            Issue.record("not decided automatically: \(proposals)")
            return
        }
        #expect(identity.patientID == "12345")
        #expect(identity.patientName == "Yamada^Taro=山田^太郎=ヤマダ^タロウ")
        #expect(note?.contains("birth date") == true)
        apply(proposals, to: &plan)
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 5)
        try store.flush()
        let stored = try DICOMFile(contentsOf: try #require(try store.instances().first).path)
        #expect(stored.dataset.string(.patientName) == "Yamada^Taro=山田^太郎=ヤマダ^タロウ")
        let was = try #require(stored.dataset.items(.originalAttributesSequence).last?.items(.modifiedAttributesSequence).first)
        #expect(was.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう", "the disc's name, exactly")
        #expect(was.firstString(.patientID) == "H-000123")
        // Remembered: the next disc from that hospital maps by itself, shown.
        let again = try job.propose(job.scan(), options: IdentityOptions())
        guard case .decided(.assign(let next), .remembered, let shown) = try #require(again.first) else {
            Issue.record("not remembered: \(again)")
            return
        }
        #expect(next.patientID == "12345")
        #expect(shown?.contains("remembered") == true)
    }

    @Test("--auto never guesses: two exact candidates, or a sex mismatch, leave the patient undecided and nothing imported")
    func automaticRefuses() throws {
        let scratch = Scratch()
        let twin = RegisteredPatient(patientID: "67890", alphabetic: "YAMADA^TAROU", birthDate: "19700401", sex: "M")
        let store = try openStore(scratch.sub("a"))
        let (_, _, ambiguous) = try propose([taro, twin], { $0.automatic = true }, store: store)
        guard case .undecided(let candidates, let why) = try #require(ambiguous.first) else {
            Issue.record("decided: \(ambiguous)")
            return
        }
        #expect(Set(candidates.map(\.candidate.patientID)) == ["12345", "67890"])
        #expect(why.contains("not choosing"))

        var female = taro
        female.sex = "F"
        let store2 = try openStore(scratch.sub("b"))
        let (job, plan, mismatch) = try propose([female], { $0.automatic = true }, store: store2)
        guard case .undecided(_, let reason) = try #require(mismatch.first) else {
            Issue.record("decided: \(mismatch)")
            return
        }
        #expect(reason.contains("sex"))
        // Undecided stays skipped: a run imports nothing for it.
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 0)
        #expect(try store2.instances().isEmpty)
    }

    @Test("--patient-id takes the registry's demographics; --keep-demographics only the ID; a mapping file row is a decision")
    func explicitAndMapping() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let (_, _, explicit) = try propose([taro], { $0.localPatientID = "12345"; $0.issuer = "CLINIC" }, store: store)
        guard case .decided(.assign(let identity), .explicit, _) = try #require(explicit.first) else {
            Issue.record("\(explicit)")
            return
        }
        #expect(identity.birthDate == "19700401")
        #expect(identity.patientName == "Yamada^Taro=山田^太郎=ヤマダ^タロウ")
        let (_, _, idOnly) = try propose([], { $0.localPatientID = "12345"; $0.issuer = "CLINIC"; $0.demographics = false }, store: store)
        guard case .decided(.assign(let bare), _, _) = try #require(idOnly.first) else { return }
        #expect(bare.patientName == nil)

        let rows = try IdentityMapping.parseCSV(Data("foreign_id,foreign_issuer,local_id,local_issuer\nH-000123,TOKYO-CENTRAL,12345,CLINIC\n".utf8))
        let (_, _, mapped) = try propose([], { $0.mappings = rows }, store: store)
        guard case .decided(.assign(let fromFile), .mappingFile, _) = try #require(mapped.first) else {
            Issue.record("\(mapped)")
            return
        }
        #expect(fromFile.patientID == "12345")
        let other = try IdentityMapping.parseCSV(Data("foreign_id,local_id\nSOMEONE-ELSE,1\n".utf8))
        let (_, _, unlisted) = try propose([], { $0.mappings = other }, store: store)
        guard case .decided(.skip, _, _) = try #require(unlisted.first) else {
            Issue.record("\(unlisted)")
            return
        }
        #expect(throws: DecisionError.self) {
            _ = try propose([], { $0.localPatientIDByForeignID = ["NOT-ON-DISC": "1"] }, store: store)
        }
    }

    /// A one-instance disc (a folder) of a patient with these identifying values.
    static func disc(_ folder: String, id: String, issuer: String? = nil, name: String, birthDate: String, sex: String,
                     study: String, file: String = "IM1") throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var elements = [
            Disc.element(0x0008, 0x0016, .UI, "1.2.840.10008.5.1.4.1.1.7"),
            Disc.element(0x0008, 0x0018, .UI, study + ".1.1"),
            Disc.element(0x0008, 0x0060, .CS, "OT"),
            Disc.element(0x0010, 0x0010, .PN, name),
            Disc.element(0x0010, 0x0020, .LO, id),
        ]
        if let issuer { elements.append(Disc.element(0x0010, 0x0021, .LO, issuer)) }
        elements += [
            Disc.element(0x0010, 0x0030, .DA, birthDate),
            Disc.element(0x0010, 0x0040, .CS, sex),
            Disc.element(0x0020, 0x000D, .UI, study),
            Disc.element(0x0020, 0x000E, .UI, study + ".1"),
            DataElement(tag: .pixelData, vr: .OW, bytes: Data(repeating: 7, count: 64)),
        ]
        try DICOMWriter.encode(DICOMFile(dataset: Dataset(elements), transferSyntax: .explicitVRLittleEndian))
            .write(to: URL(fileURLWithPath: folder + "/" + file))
        return folder
    }

    @Test("a remembered decision is applied only to the person it was taken for: the same foreign ID without issuer on another hospital's disc (other name, birth date, sex) is left undecided, saying why")
    func rememberedOnlyForTheSamePerson() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let suzuki = try Self.disc(scratch.sub("visit1"), id: "00012345", name: "SUZUKI^ICHIRO", birthDate: "19580704", sex: "M", study: "1.2.3.1")
        try importExplicitly(suzuki, as: "L1", into: store)
        #expect(try store.mappings().first?.foreignBirthDate == "19580704", "who the decision was taken for is kept")

        // Another hospital's patient with the same number: never filed under L1.
        let watanabe = try Self.disc(scratch.sub("other"), id: "00012345", name: "WATANABE^MIKI", birthDate: "20010909", sex: "F", study: "1.2.3.2")
        guard case .undecided(_, let why) = try proposal(watanabe, store) else {
            Issue.record("a remembered decision was applied to another person")
            return
        }
        #expect(why.contains("00012345 (→ L1) is not applied"))
        #expect(why.contains("birth date 2001-09-09 ≠ 1958-07-04"))
        // With --as-is it is kept as it is, still saying why.
        guard case .decided(.keepSourceIdentity, _, let note) = try proposal(watanabe, store, { $0.keepAsIs = true }) else {
            Issue.record("not kept as is")
            return
        }
        #expect(note?.contains("not applied") == true)

        // The same person's next visit follows the decision.
        let visit2 = try Self.disc(scratch.sub("visit2"), id: "00012345", name: "SUZUKI^ICHIRO", birthDate: "19580704", sex: "M", study: "1.2.3.3")
        guard case .decided(.assign(let identity), .remembered, _) = try proposal(visit2, store) else {
            Issue.record("the same person's next disc is not mapped by the remembered decision")
            return
        }
        #expect(identity.patientID == "L1")
        // Without issuer, agreeing on sex alone is not enough: birth date and name must agree.
        let noBirthDate = try Self.disc(scratch.sub("nobirth"), id: "00012345", name: "SUZUKI^ICHIRO", birthDate: "", sex: "M", study: "1.2.3.4")
        guard case .undecided = try proposal(noBirthDate, store) else {
            Issue.record("an ID without issuer was mapped without birth date agreement")
            return
        }

        // With an issuer, missing values are no evidence against; a different birth date is.
        let issued = try Self.disc(scratch.sub("issued"), id: "777", issuer: "HOSP_A", name: "TANAKA^HANA", birthDate: "19900101", sex: "F", study: "1.2.3.5")
        try importExplicitly(issued, as: "L7", into: store)
        let issuedAgain = try Self.disc(scratch.sub("issued2"), id: "777", issuer: "HOSP_A", name: "", birthDate: "19900101", sex: "F", study: "1.2.3.6")
        guard case .decided(.assign(let seven), .remembered, _) = try proposal(issuedAgain, store) else {
            Issue.record("same issuer and ID, nothing against: not applied")
            return
        }
        #expect(seven.patientID == "L7")
        let issuedOther = try Self.disc(scratch.sub("issued3"), id: "777", issuer: "HOSP_A", name: "TANAKA^HANA", birthDate: "19900102", sex: "F", study: "1.2.3.7")
        guard case .undecided = try proposal(issuedOther, store) else {
            Issue.record("same issuer and ID but another birth date: applied")
            return
        }

        // A decision remembered without demographics (an older discport) and
        // no patient in the store to compare with: not applied to an ID without issuer.
        try store.remember(IdentityMapping(foreignIssuer: nil, foreignID: "00099", localID: "L9", localIssuer: nil, how: "explicit"))
        let old = try Self.disc(scratch.sub("old"), id: "00099", name: "SATO^JIRO", birthDate: "19700101", sex: "M", study: "1.2.3.8")
        guard case .undecided = try proposal(old, store) else {
            Issue.record("a bare foreign ID mapped with nothing to check it against")
            return
        }
    }

    @Test("registry CSV: UTF-8 with BOM and Shift_JIS read the same; a bad row refuses the whole file")
    func registryCSV() throws {
        let text = "patient_id,issuer,alphabetic,ideographic,phonetic,birth_date,sex,extra\r\n12345,CLINIC,Yamada^Tarou,山田^太郎,やまだ^たろう,19700401,M,x\r\n\"67 890\",,\"Sato^Ichiro\",佐藤^一郎,,19800229,f,\r\n"
        let utf8 = try RegistryCSV.parse(Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8))
        let sjis = try RegistryCSV.parse(try #require(text.data(using: .shiftJIS)))
        #expect(utf8.encoding == .utf8)
        #expect(sjis.encoding == .shiftJIS)
        #expect(utf8.patients == sjis.patients)
        #expect(utf8.patients.map(\.patientID) == ["12345", "67 890"])
        #expect(utf8.patients[1].sex == "F")
        #expect(utf8.patients[0].ideographic == "山田^太郎")
        #expect(throws: RegistryCSV.FileError.self) {
            _ = try RegistryCSV.parse(Data("patient_id,issuer,alphabetic,ideographic,phonetic,birth_date,sex\n1,,A^B,,,19810229,M\n2,,A=B,,,,X\n".utf8))
        }
        do {
            _ = try RegistryCSV.parse(Data("patient_id,issuer,alphabetic,ideographic,phonetic,birth_date,sex\n1,,A^B,,,19810229,M\n2,,A=B,,,,X\n".utf8))
        } catch {
            #expect(error.rows.map(\.line) == [2, 3, 3])
        }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.parse(Data("patient_id,name\n1,x\n".utf8)) }
    }

    /// Proposes with `configure`, takes the decisions, and returns the job,
    /// plan and warnings of a disc.
    private func warnings(_ source: String, _ store: InstanceStore, _ configure: (inout IdentityOptions) -> Void) throws
        -> (ImportJob, ImportPlan, [IdentityWarning]) {
        let job = ImportJob(source: source, store: store)
        var plan = job.scan()
        var options = IdentityOptions()
        configure(&options)
        apply(try job.propose(plan, options: options), to: &plan)
        return (job, plan, try job.identityWarnings(plan))
    }

    @Test("an explicit local patient whose registry demographics contradict the disc's is applied as given, with a warning naming both and what differs, in the summary and the audit log")
    func explicitConflictWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try store.register([taro], source: "test")
        let kato = try Self.disc(scratch.sub("kato"), id: "11-5120", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.9.1")
        let (job, plan, found) = try warnings(kato, store) { $0.localPatientID = "12345" }
        let warning = try #require(found.first)
        #expect(found.count == 1)
        #expect(warning.code == .localPatientDiffers)
        #expect(warning.patients == [0])
        #expect(warning.localPatientID == "12345")
        #expect(warning.message.hasPrefix("11-5120 KATO^HANAKO 1952-03-04 F → 12345 Yamada^Taro=山田^太郎=ヤマダ^タロウ 1970-04-01 M: name, birth date and sex differ"),
                "\(warning.message)")
        #expect(warning.reasons == ["name alphabetic KATO^HANAKO ≠ Yamada^Taro", "birth date 1952-03-04 ≠ 1970-04-01", "sex F ≠ M"])

        // The decision stays authoritative: imported under 12345, warned in the summary and audited.
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 1)
        #expect(summary.warnings == found)
        try store.flush()
        #expect(try store.instances().first?.patientID == "12345")
        let audit = try store.auditLog(importID: summary.importID).filter { $0.action == "reconciliation" && $0.detail?.contains("local-patient-differs") == true }
        #expect(audit.count == 1)
        #expect(audit.first?.detail?.contains("1952-03-04 ≠ 1970-04-01") == true)

        // --keep-demographics: the registry entry is still who 12345 is.
        let (_, _, idOnly) = try warnings(kato, store) { $0.localPatientID = "12345"; $0.demographics = false }
        #expect(idOnly.map(\.code) == [.localPatientDiffers])
        // A mapping file row is warned the same way.
        let rows = try IdentityMapping.parseCSV(Data("foreign_id,local_id\n11-5120,12345\n".utf8))
        let (_, _, mapped) = try warnings(kato, store) { $0.mappings = rows }
        #expect(mapped.map(\.message) == found.map(\.message))

        // Not in the registry, but in the store: held against the stored patient.
        let suzuki = try Self.disc(scratch.sub("suzuki"), id: "00077", name: "SUZUKI^ICHIRO", birthDate: "19580704", sex: "M", study: "1.2.9.2")
        try importExplicitly(suzuki, as: "L1", into: store)
        try store.flush()
        let watanabe = try Self.disc(scratch.sub("watanabe"), id: "00088", name: "WATANABE^MIKI", birthDate: "20010909", sex: "F", study: "1.2.9.3")
        let (_, _, stored) = try warnings(watanabe, store) { $0.localPatientID = "L1"; $0.issuer = "CLINIC" }
        #expect(stored.count == 1)
        #expect(stored.first?.message.contains("→ L1 SUZUKI^ICHIRO 1958-07-04 M: name, birth date and sex differ") == true, "\(stored)")
        // Nothing known about the local patient: nothing to say.
        let (_, _, unknown) = try warnings(watanabe, store) { $0.localPatientID = "L-NEW" }
        #expect(unknown.isEmpty)
    }

    @Test("no warning when the disc's demographics agree with the local patient's: case, long vowels, word breaks, kanji only, kana only, half-width kana")
    func agreeingDemographicsNotWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try store.register([taro], source: "test")
        let names = ["YAMADA^TARO", "Yamada^Tarou", "Yamada Taro", "山田^太郎", "=山田^太郎", "山田 太郎", "==ヤマダ^タロウ", "ﾔﾏﾀﾞ^ﾀﾛｳ",
                     "Yamada^Taro=山田^太郎=やまだ^たろう"]
        for (number, name) in names.enumerated() {
            let disc = try Self.disc(scratch.sub("disc\(number)"), id: "X-\(number)", name: name, birthDate: "19700401", sex: "M",
                                     study: "1.2.8.\(number + 1)")
            let (_, plan, found) = try warnings(disc, store) { $0.localPatientID = "12345" }
            guard case .assign = plan.decisions[0] else {
                Issue.record("\(name): not assigned")
                continue
            }
            #expect(found.isEmpty, "\(name): \(found.map(\.message))")
        }
        // The Sample disc (Yamada^Tarou=山田^太郎=やまだ^たろう, no issue) chosen on the terminal neither.
        let job = ImportJob(source: Disc.sample, store: store)
        var plan = job.scan()
        plan.decisions[0] = .assign(LocalIdentity(taro))
        plan.decidedBy[0] = .interactive
        #expect(try job.identityWarnings(plan).isEmpty)
        // A birth date one digit off is a different birth date here, as for a remembered decision.
        let typo = try Self.disc(scratch.sub("typo"), id: "X-T", name: "YAMADA^TARO", birthDate: "19700402", sex: "M", study: "1.2.8.99")
        let (_, _, found) = try warnings(typo, store) { $0.localPatientID = "12345" }
        #expect(found.first?.message.contains("birth date differs (birth date 1970-04-02 ≠ 1970-04-01 (one digit differs))") == true,
                "\(found.map(\.message))")
    }

    @Test("two patients of one disc filed under one local patient are warned about, unless they are shown to be one person")
    func twoPatientsToOneWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let folder = scratch.sub("two")
        _ = try Self.disc(folder, id: "11-2233", name: "SASAKI^JUN", birthDate: "19700707", sex: "M", study: "1.2.7.1", file: "IM1")
        let two = try Self.disc(folder, id: "11-5120", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.7.2", file: "IM2")
        // L5 is known nowhere: only the merge is said.
        let (job, plan, found) = try warnings(two, store) { $0.localPatientIDByForeignID = ["11-2233": "L5", "11-5120": "L5"] }
        let merge = try #require(found.first)
        #expect(found.count == 1)
        #expect(merge.code == .patientsMerged)
        #expect(merge.patients.count == 2)
        #expect(merge.localPatientID == "L5")
        #expect(merge.message.contains("two patients of this medium ("), "\(merge.message)")
        #expect(merge.message.contains("11-2233 SASAKI^JUN 1970-07-07 M"))
        #expect(merge.message.contains("11-5120 KATO^HANAKO 1952-03-04 F"))
        #expect(merge.message.contains(") go to one local patient L5: name, birth date and sex differ"))
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 2, "applied as decided")
        #expect(summary.warnings.map(\.code) == [.patientsMerged])
        // To different local patients: nothing to say.
        let (_, _, apart) = try warnings(two, store) { $0.localPatientIDByForeignID = ["11-2233": "L6", "11-5120": "L7"] }
        #expect(apart.isEmpty)

        // Both to a registered patient neither of them is: each warned, and the merge.
        try store.register([taro], source: "test")
        let rows = try IdentityMapping.parseCSV(Data("foreign_id,local_id\n11-2233,12345\n11-5120,12345\n".utf8))
        let (_, _, registered) = try warnings(two, store) { $0.mappings = rows }
        #expect(registered.map(\.code) == [.localPatientDiffers, .localPatientDiffers, .patientsMerged])

        // The same person under two hospitals' IDs (what reconciliation is for): no warning.
        let same = scratch.sub("same")
        _ = try Self.disc(same, id: "A-1", issuer: "HOSP_A", name: "Yamada^Taro=山田^太郎", birthDate: "19700401", sex: "M", study: "1.2.7.3", file: "IM1")
        _ = try Self.disc(same, id: "B-9", issuer: "HOSP_B", name: "YAMADA^TARO", birthDate: "19700401", sex: "M", study: "1.2.7.4", file: "IM2")
        let (_, samePlan, one) = try warnings(same, store) { $0.localPatientIDByForeignID = ["A-1": "12345", "B-9": "12345"] }
        #expect(samePlan.report.patients.count == 2)
        #expect(one.isEmpty, "\(one.map(\.message))")
        // Two IDs, nothing to compare them by: not shown to be one person.
        let bare = scratch.sub("bare")
        _ = try Self.disc(bare, id: "C-1", name: "", birthDate: "", sex: "", study: "1.2.7.5", file: "IM1")
        _ = try Self.disc(bare, id: "C-2", name: "", birthDate: "", sex: "", study: "1.2.7.6", file: "IM2")
        let (_, _, unproven) = try warnings(bare, store) { $0.localPatientIDByForeignID = ["C-1": "L8", "C-2": "L8"] }
        #expect(unproven.map(\.code) == [.patientsMerged])
        #expect(unproven.first?.message.contains("nothing shows they are one person") == true)
    }

    @Test("a patient kept as it is whose Patient ID (both without issuer) the registry has for someone else is refused: left out with a kept-id-in-use warning naming both, exit 1, audited, nothing stored; another issuer is another patient")
    func keptIDInUseByRegistryRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try store.register([RegisteredPatient(patientID: "11-5120", alphabetic: "SUZUKI^ICHIRO", birthDate: "19580704", sex: "M")],
                           source: "test")
        let kato = try Self.disc(scratch.sub("kato"), id: "11-5120", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.6.1")
        let (job, plan, found) = try warnings(kato, store) { $0.keepAsIs = true }
        #expect(plan.decisions == [.keepSourceIdentity])
        let warning = try #require(found.first)
        #expect(found.count == 1)
        #expect(warning.code == .keptIDInUse)
        #expect(warning.refused)
        #expect(warning.patients == [0])
        #expect(warning.localPatientID == "11-5120")
        #expect(warning.localIssuer == nil)
        #expect(warning.message.hasPrefix("11-5120 KATO^HANAKO 1952-03-04 F is to be kept as it is, but 11-5120 is the registry's patient SUZUKI^ICHIRO 1958-07-04 M: name, birth date and sex differ"),
                "\(warning.message)")
        #expect(warning.message.contains("left out, not imported; give it a local Patient ID instead (--patient-id 11-5120=LOCAL"))
        #expect(warning.reasons == ["name alphabetic KATO^HANAKO ≠ SUZUKI^ICHIRO", "birth date 1952-03-04 ≠ 1958-07-04", "sex F ≠ M"])
        #expect(plan.leavingOut(found).decisions == [.skip])

        // The job leaves the patient out by itself, says so and audits it.
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 0)
        #expect(summary.counts.skipped == 1)
        #expect(summary.patients.first?.decision == "refused")
        #expect(summary.patients.first?.patientID == nil)
        #expect(summary.warnings == found)
        #expect(summary.exitStatus == 1)
        try store.flush()
        #expect(try store.instances().isEmpty)
        #expect(try store.patients().isEmpty)
        let audit = try store.auditLog(importID: summary.importID).filter { $0.action == "reconciliation" && $0.detail?.contains("kept-id-in-use") == true }
        #expect(audit.count == 1)
        #expect(audit.first?.detail?.contains("left out") == true)

        // The same number from another issuer is another patient to the store: kept.
        let issued = try Self.disc(scratch.sub("issued"), id: "11-5120", issuer: "HOSP_A", name: "KATO^HANAKO", birthDate: "19520304",
                                   sex: "F", study: "1.2.6.2")
        let (issuedJob, issuedPlan, none) = try warnings(issued, store) { $0.keepAsIs = true }
        #expect(none.isEmpty, "\(none.map(\.message))")
        let kept = try issuedJob.run(issuedPlan)
        #expect(kept.counts.stored == 1)
        #expect(kept.exitStatus == 0)
    }

    @Test("a patient kept as it is whose Patient ID and issuer the store files someone else under is refused rather than merged into their patient, however kept (--as-is or '=' on the terminal); the store's patient stays alone")
    func keptIDInUseInStoreRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let suzuki = try Self.disc(scratch.sub("suzuki"), id: "00077", issuer: "HOSP_A", name: "SUZUKI^ICHIRO", birthDate: "19580704",
                                   sex: "M", study: "1.2.5.1")
        let (firstJob, firstPlan, first) = try warnings(suzuki, store) { $0.keepAsIs = true }
        #expect(first.isEmpty)
        #expect(try firstJob.run(firstPlan).counts.stored == 1)
        try store.flush()

        let watanabe = try Self.disc(scratch.sub("watanabe"), id: "00077", issuer: "HOSP_A", name: "WATANABE^MIKI", birthDate: "20010909",
                                     sex: "F", study: "1.2.5.2")
        let job = ImportJob(source: watanabe, store: store)
        var plan = job.scan()
        plan.decisions[0] = .keepSourceIdentity   // '=' on the terminal
        let found = try job.identityWarnings(plan)
        #expect(found.map(\.code) == [.keptIDInUse])
        #expect(found.first?.refused == true)
        #expect(found.first?.localIssuer == "HOSP_A")
        #expect(found.first?.message.hasPrefix("00077 WATANABE^MIKI 2001-09-09 F is to be kept as it is, but 00077 (issuer HOSP_A) is the store's patient SUZUKI^ICHIRO 1958-07-04 M: name, birth date and sex differ") == true,
                "\(found.map(\.message))")
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 0)
        #expect(summary.exitStatus == 1)
        #expect(summary.warnings == found)
        try store.flush()
        let patients = try store.patients()
        #expect(patients.count == 1)
        #expect(patients.first?.patientName == "SUZUKI^ICHIRO")
        #expect(patients.first?.instanceCount == 1, "nothing filed under SUZUKI's patient")
        #expect(try store.studies().map(\.studyInstanceUID) == ["1.2.5.1"])
        // A dry run leaves it out the same way.
        let dry = try job.run(plan, dryRun: true)
        #expect(dry.counts.wouldStore == 0)
        #expect(dry.exitStatus == 1)
        // Given a local Patient ID, the patient is imported.
        let (assignedJob, assignedPlan, assigned) = try warnings(watanabe, store) { $0.localPatientID = "L-88" }
        #expect(assigned.isEmpty)
        #expect(try assignedJob.run(assignedPlan).counts.stored == 1)
    }

    @Test("no kept-id-in-use warning when the registry's or the store's patient under the kept Patient ID is the same person (agreeing demographics, written differently): kept and filed with them")
    func keptIDOfTheSamePersonNotWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try store.register([RegisteredPatient(patientID: "11-5120", alphabetic: "Suzuki^Ichiro", ideographic: "鈴木^一郎",
                                              birthDate: "19580704", sex: "M")], source: "test")
        for (number, name) in ["SUZUKI^ICHIRO", "Suzuki^Ichirou", "鈴木 一郎", "=鈴木^一郎"].enumerated() {
            let disc = try Self.disc(scratch.sub("disc\(number)"), id: "11-5120", name: name, birthDate: "19580704", sex: "M",
                                     study: "1.2.4.\(number + 1)")
            let (job, plan, found) = try warnings(disc, store) { $0.keepAsIs = true }
            #expect(found.isEmpty, "\(name): \(found.map(\.message))")
            let summary = try job.run(plan)
            #expect(summary.counts.stored == 1, "\(name)")
            #expect(summary.exitStatus == 0, "\(name)")
            try store.flush()
        }
        // Registry and store agree: one patient with the four studies.
        #expect(try store.patients().map(\.studyCount) == [4])
        // Nothing against it (no demographics on the disc): nothing said.
        let bare = try Self.disc(scratch.sub("bare"), id: "11-5120", name: "", birthDate: "", sex: "", study: "1.2.4.9")
        let (_, _, none) = try warnings(bare, store) { $0.keepAsIs = true }
        #expect(none.isEmpty)
    }

    @Test("two patients of one disc kept as they are with one Patient ID and issuer (told apart by name) would be one store patient: the later one is refused unless shown to be the same person; an ID without issuer needs birth date and name to agree")
    func keptTwiceUnderOneIDRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let folder = scratch.sub("two")
        _ = try Self.disc(folder, id: "11-5120", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.3.1", file: "IM1")
        let two = try Self.disc(folder, id: "11-5120", name: "SATO^MIKA", birthDate: "19800115", sex: "F", study: "1.2.3.2", file: "IM2")
        let (job, plan, found) = try warnings(two, store) { $0.keepAsIs = true }
        #expect(plan.decisions == [.keepSourceIdentity, .keepSourceIdentity])
        #expect(plan.report.patients.map(\.name) == ["KATO^HANAKO", "SATO^MIKA"])
        let warning = try #require(found.first)
        #expect(found.count == 1, "\(found.map(\.message))")
        #expect(warning.code == .keptIDInUse)
        #expect(warning.refused)
        #expect(warning.patients == [1], "only the later one is left out")
        #expect(warning.localPatientID == "11-5120")
        #expect(warning.localIssuer == nil)
        #expect(warning.message.hasPrefix("11-5120 SATO^MIKA 1980-01-15 F is to be kept as it is, but 11-5120 is kept too for another patient of this medium, 11-5120 KATO^HANAKO 1952-03-04 F: name and birth date differ"),
                "\(warning.message)")
        #expect(warning.message.contains("left out, not imported; give them local Patient IDs instead"))
        #expect(plan.leavingOut(found).decisions == [.keepSourceIdentity, .skip])

        let summary = try job.run(plan)
        #expect(summary.counts.stored == 1)
        #expect(summary.patients.map(\.decision) == ["as-is", "refused"])
        #expect(summary.warnings == found)
        #expect(summary.exitStatus == 1)
        try store.flush()
        let patients = try store.patients()
        #expect(patients.map(\.patientName) == ["KATO^HANAKO"])
        #expect(patients.first?.instanceCount == 1, "nothing of SATO filed under KATO's patient")
        let audit = try store.auditLog(importID: summary.importID).filter { $0.action == "reconciliation" && $0.detail?.contains("kept-id-in-use") == true }
        #expect(audit.count == 1)

        // The same with an issuer: still two people under one store patient.
        let issued = scratch.sub("issued")
        _ = try Self.disc(issued, id: "7-7", issuer: "HOSP_A", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.3.3", file: "IM1")
        _ = try Self.disc(issued, id: "7-7", issuer: "HOSP_A", name: "SATO^MIKA", birthDate: "19800115", sex: "F", study: "1.2.3.4", file: "IM2")
        let (_, _, withIssuer) = try warnings(issued, store) { $0.keepAsIs = true }
        #expect(withIssuer.map(\.code) == [.keptIDInUse])
        #expect(withIssuer.first?.patients == [1])
        #expect(withIssuer.first?.localIssuer == "HOSP_A")

        // Nothing to compare (one of them without demographics): an ID without
        // issuer is no evidence (the rule of remembered decisions), so refused …
        let bare = scratch.sub("bare")
        _ = try Self.disc(bare, id: "9-1", name: "", birthDate: "", sex: "", study: "1.2.3.5", file: "IM1")
        _ = try Self.disc(bare, id: "9-1", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.3.6", file: "IM2")
        let (_, barePlan, unproven) = try warnings(bare, store) { $0.keepAsIs = true }
        #expect(barePlan.report.patients.count == 2)
        #expect(unproven.map(\.code) == [.keptIDInUse])
        #expect(unproven.first?.message.contains("the Patient ID has no issuer") == true, "\(unproven.map(\.message))")
        // … while one issuer's same ID with nothing against it is one person.
        let bareIssued = scratch.sub("bare-issued")
        _ = try Self.disc(bareIssued, id: "9-2", issuer: "HOSP_A", name: "", birthDate: "", sex: "", study: "1.2.3.7", file: "IM1")
        _ = try Self.disc(bareIssued, id: "9-2", issuer: "HOSP_A", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.3.8", file: "IM2")
        let (_, _, vouched) = try warnings(bareIssued, store) { $0.keepAsIs = true }
        #expect(vouched.isEmpty, "\(vouched.map(\.message))")
    }

    @Test("a patient kept as it is and another assigned the kept one's Patient ID and issuer go to one store patient: warned (patients-merged) and applied as decided; another issuer is another patient")
    func keptAndAssignedToOneIDWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let folder = scratch.sub("two")
        _ = try Self.disc(folder, id: "11-5120", name: "KATO^HANAKO", birthDate: "19520304", sex: "F", study: "1.2.2.1", file: "IM1")
        let two = try Self.disc(folder, id: "11-2233", name: "SASAKI^JUN", birthDate: "19700707", sex: "M", study: "1.2.2.2", file: "IM2")
        let (job, plan, found) = try warnings(two, store) { $0.keepAsIs = true; $0.localPatientIDByForeignID = ["11-2233": "11-5120"] }
        #expect(plan.decisions[0] == .keepSourceIdentity)
        guard case .assign = plan.decisions[1] else {
            Issue.record("SASAKI not assigned: \(plan.decisions)")
            return
        }
        let merge = try #require(found.first)
        #expect(found.count == 1, "\(found.map(\.message))")
        #expect(merge.code == .patientsMerged)
        #expect(!merge.refused)
        #expect(merge.patients == [0, 1])
        #expect(merge.localPatientID == "11-5120")
        #expect(merge.message.contains("two patients of this medium (11-5120 KATO^HANAKO 1952-03-04 F (kept as it is), 11-2233 SASAKI^JUN 1970-07-07 M) go to one local patient 11-5120: name, birth date and sex differ"),
                "\(merge.message)")
        // Assigned under another issuer: another store patient, nothing to say (the store still empty).
        let (_, _, apart) = try warnings(two, store) {
            $0.keepAsIs = true; $0.localPatientIDByForeignID = ["11-2233": "11-5120"]; $0.issuer = "CLINIC"
        }
        #expect(apart.isEmpty, "\(apart.map(\.message))")
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 2, "applied as decided")
        #expect(summary.warnings.map(\.code) == [.patientsMerged])
        #expect(summary.exitStatus == 0)
    }

    @Test("the same person twice on one disc under one Patient ID (names written differently, told apart by the scan), kept as they are: one store patient, no warning")
    func samePersonKeptTwiceNotWarned() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let folder = scratch.sub("same")
        _ = try Self.disc(folder, id: "H-1", name: "YAMADA^TARO", birthDate: "19700401", sex: "M", study: "1.2.1.1", file: "IM1")
        let same = try Self.disc(folder, id: "H-1", name: "Yamada^Taro=山田^太郎", birthDate: "19700401", sex: "M", study: "1.2.1.2", file: "IM2")
        let (job, plan, found) = try warnings(same, store) { $0.keepAsIs = true }
        #expect(plan.report.patients.count == 2)
        #expect(found.isEmpty, "\(found.map(\.message))")
        let summary = try job.run(plan)
        #expect(summary.counts.stored == 2)
        #expect(summary.exitStatus == 0)
        try store.flush()
        #expect(try store.patients().map(\.studyCount) == [2])
        // One kept, the other chosen on the terminal for the kept ID: the same person, no warning either.
        var mixed = plan
        mixed.decisions[1] = .assign(LocalIdentity(patientID: "H-1"))
        mixed.decidedBy[1] = .interactive
        #expect(try job.identityWarnings(mixed).isEmpty)
    }
}

@Suite("Reassign")
struct ReassignTests {
    @Test("a study moves to another local patient: every file rewritten with the previous identity kept, pixels untouched, audited; a second run has nothing to do")
    func reassign() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        _ = try importAll(Disc.sample, into: store, decision: .assign(LocalIdentity(patientID: "WRONG-1")))
        try store.flush()
        let before = try Dictionary(uniqueKeysWithValues: store.instances().map { ($0.sopInstanceUID, try pixelTail($0.path)) })
        let study = try #require(try store.studies().first).studyInstanceUID
        try store.register([RegisteredPatient(patientID: "RIGHT-2", alphabetic: "Yamada^Tarou", birthDate: "19700401", sex: "M")], source: "t")

        let (identity, _) = try PatientResolver(store: store).localIdentity(patientID: "RIGHT-2", issuer: nil)
        let summary = try ReassignJob(store: store).run(study: study, to: identity)
        #expect(summary.rewritten == 5)
        #expect(summary.failures.isEmpty)
        #expect(try store.patients().map(\.patientID) == ["RIGHT-2"])
        #expect(try store.check().isClean)
        for instance in try store.instances() {
            #expect(try pixelTail(instance.path) == before[instance.sopInstanceUID])
            let file = try DICOMFile(contentsOf: instance.path)
            #expect(file.dataset.firstString(.patientID) == "RIGHT-2")
            let history = file.dataset.items(.originalAttributesSequence)
            #expect(history.count == 2)
            #expect(history.last?.items(.modifiedAttributesSequence).first?.firstString(.patientID) == "WRONG-1")
            #expect(try store.auditLog(sopInstanceUID: instance.sopInstanceUID).contains { $0.kind == .reassignment })
        }
        let again = try ReassignJob(store: store).run(study: study, to: identity)
        #expect(again.rewritten == 0)
        #expect(again.alreadyDone == 5)
        // Re-importing the original disc for the corrected patient finds
        // everything stored; for the old one, stored under another patient.
        let reimport = try importAll(Disc.sample, into: store, decision: .assign(LocalIdentity(patientID: "RIGHT-2")))
        #expect(reimport.counts.duplicates == 5)
        let wrong = try importAll(Disc.sample, into: store, decision: .assign(LocalIdentity(patientID: "WRONG-1")))
        #expect(wrong.counts.conflicts == 5)
        #expect(wrong.conflicts.allSatisfy { $0.message?.contains("already stored under Patient ID \"RIGHT-2\"") == true })
    }

    @Test("the decision remembered for the study's foreign identity moves with it: the patient's next disc goes to the corrected patient, audited")
    func reassignMovesRememberedDecision() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        try importExplicitly(Disc.sample, as: "L1", into: store)
        // Another foreign patient remembered for L1 is not this study's: it stays.
        try store.remember(IdentityMapping(foreignIssuer: "ELSEWHERE", foreignID: "X-1", localID: "L1", localIssuer: "CLINIC",
                                           how: "explicit", foreignName: "Yamada^Tarou", foreignBirthDate: "19700401", foreignSex: "M"))
        let study = try #require(try store.studies().first).studyInstanceUID
        let summary = try ReassignJob(store: store).run(study: study, to: LocalIdentity(patientID: "L3", issuerOfPatientID: "CLINIC"))
        #expect(summary.movedDecisions.map(\.foreignID) == ["H-000123"])
        let byForeign = Dictionary(uniqueKeysWithValues: try store.mappings().map { ($0.foreignID, $0) })
        #expect(byForeign["H-000123"]?.localID == "L3")
        #expect(byForeign["H-000123"]?.localIssuer == "CLINIC")
        #expect(byForeign["H-000123"]?.how == "reassign")
        #expect(byForeign["X-1"]?.localID == "L1")
        #expect(try store.auditLog().contains { $0.kind == .reconciliation && $0.detail?.contains("\"previousLocalID\":\"L1\"") == true
            && $0.detail?.contains(study) == true })
        guard case .decided(.assign(let next), .remembered, _) = try proposal(Disc.sample, store) else {
            Issue.record("the patient's next disc is not mapped")
            return
        }
        #expect(next.patientID == "L3")
    }

    @Test("a local Patient ID or issuer LO cannot hold (a backslash) is refused by import, reassign and migrate before anything is written")
    func invalidLocalIdentifiersRefused() throws {
        let scratch = Scratch()
        let store = try openStore(scratch.sub("home"))
        let job = ImportJob(source: Disc.sample, store: store)
        for configure in [{ (o: inout IdentityOptions) in o.localPatientID = "A\\B" },
                          { (o: inout IdentityOptions) in o.localPatientID = "L1"; o.issuer = "C\\D" }] {
            var options = IdentityOptions()
            configure(&options)
            #expect(throws: DecisionError.self) { _ = try job.propose(job.scan(), options: options) }
        }
        _ = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        let study = try #require(try store.studies().first).studyInstanceUID
        #expect(throws: StoreError.self) {
            _ = try ReassignJob(store: store).run(study: study, to: LocalIdentity(patientID: "A\\B"))
        }
        #expect(try store.studies().first?.patientID == "H-000123")

        try FileManager.default.copyItem(atPath: Disc.sample + "/DICOM/PAT00001/STU00001/SER00002/IMG00001", toPath: scratch.path + "/c.dcm")
        let rows = [MigrationRow(line: 2, path: "c.dcm", absolutePath: scratch.path + "/c.dcm", patientID: "OLD\\1")]
        let preflight = try MigrationJob(store: store, job: "t").preflight(MigrationInput(rows: rows))
        #expect(preflight.good == 0)
        #expect(preflight.problems.first?.message.contains("backslash") == true)
    }
}
