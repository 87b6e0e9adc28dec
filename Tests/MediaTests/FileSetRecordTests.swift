import DICOM
import Foundation
@testable import Media
import Testing

/// How the DICOMDIR records group and describe the instances of a file-set.
@Suite struct FileSetRecordTests {
    /// Writes `instances` (DiscBuilder fixtures) as a file-set; returns the
    /// temporary root (to remove), the result and the DICOMDIR read back.
    func write(_ instances: [DiscInstance], profile: MediaProfile = .stdGenCD, invent: Bool = false)
        throws -> (root: String, result: FileSetResult, directory: DICOMDirectory) {
        let root = NSTemporaryDirectory() + "fsr-" + UUID().uuidString
        try DiscBuilder.write(instances, to: root + "/src", dicomdir: nil)
        let files = instances.map { FileSetSource(path: root + "/src/" + $0.path) }
        let result = try FileSetWriter(profile: profile, fileSetID: "T", invent: invent).write(files, to: root + "/out")
        let directory = DICOMDirectory(file: try DICOMFile(contentsOf: root + "/out/DICOMDIR"), path: "DICOMDIR")
        return (root, result, directory)
    }

    func records(_ directory: DICOMDirectory, _ level: DirectoryRecord.Level) -> [DirectoryRecord] {
        directory.records.filter { $0.level == level }
    }

    @Test("one SERIES record per Series Instance UID, though its instances disagree on the Series Number")
    func oneSeriesRecordPerSeriesUID() throws {
        var instances = DiscBuilder.standardDisc()   // series 1 (1 instance), series 2 (2 instances)
        instances[0].seriesNumber = 2                 // the scout's series says 2,
        instances[1].seriesNumber = 1                 // the axial series' instances say 1 and 3: around it
        instances[2].seriesNumber = 3
        let (root, result, directory) = try write(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let series = records(directory, .series)
        #expect(series.count == 2)
        #expect(Set(series.compactMap(\.seriesInstanceUID)).count == 2)
        #expect(Set(result.entries.map { $0.fileID.dropLast() }).count == 2)
    }

    /// Two people: `a` (P0001 of HOSP_A), `b` (the same ID of HOSP_B) in a study of their own.
    func twoIssuers() -> [DiscInstance] {
        var instances = DiscBuilder.standardDisc()
        for i in instances.indices { instances[i].issuer = "HOSP_A" }
        var other = instances[0]
        other.issuer = "HOSP_B"
        other.patientName = "ITO^YUKI"
        other.birthDate = "19900909"
        other.studyUID = "1.2.826.0.1.3680043.10.9.2"
        other.seriesUID = "1.2.826.0.1.3680043.10.9.2.1"
        other.sopUID = "1.2.826.0.1.3680043.10.9.2.1.1"
        other.fileID = ["DICOM", "OTHER", "IMG00001"]
        return instances + [other]
    }

    @Test("one Patient ID under two issuers is two patients: two PATIENT records, each with its issuer")
    func patientsAreKeyedByIDAndIssuer() throws {
        let (root, _, directory) = try write(twoIssuers())
        defer { try? FileManager.default.removeItem(atPath: root) }
        let patients = records(directory, .patient)
        #expect(patients.count == 2)
        #expect(Set(patients.compactMap { $0.attributes.firstString(.issuerOfPatientID) }) == ["HOSP_A", "HOSP_B"])
        #expect(patients.allSatisfy { $0.patientID == "P0001" })
    }

    @Test("the plan counts the patients the one-patient check refuses: issuers, birth dates, no-ID names")
    func planCountsDistinctPeople() throws {
        let root = NSTemporaryDirectory() + "fsr-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        func patients(_ instances: [DiscInstance]) throws -> [FileSetPlan.Patient] {
            let folder = root + "/" + UUID().uuidString
            try DiscBuilder.write(instances, to: folder, dicomdir: nil)
            return try FileSetWriter(profile: .stdGenCD, fileSetID: "T").plan(instances.map { FileSetSource(path: folder + "/" + $0.path) }).patients
        }
        #expect(try patients(twoIssuers()).map(\.identity.issuer) == ["HOSP_A", "HOSP_B"])
        // One ID, one issuer, name variants: one patient; two birth dates: two.
        var variants = DiscBuilder.standardDisc()
        variants[1].patientName = "Doe^Jane=ドウ^ジェーン"
        variants[1].characterSet = "ISO_IR 192"
        #expect(try patients(variants).count == 1)
        variants[2].birthDate = "19800101"
        #expect(try patients(variants).count == 2)
        // No Patient ID: told apart by name (case and groups ignored) and sex.
        var noID = DiscBuilder.standardDisc()
        for i in noID.indices { noID[i].patientID = "" }
        noID[1].patientName = "doe^jane"
        #expect(try patients(noID).count == 1)
        noID[2].patientName = "SATO^HANAKO"
        noID[2].birthDate = ""
        #expect(try patients(noID).map(\.identity.name) == ["DOE^JANE", "SATO^HANAKO"])
    }

    @Test("patients without a Patient ID get one invented each (--invent), not one for all")
    func patientsWithoutIDGetDistinctInventedIDs() throws {
        var instances = DiscBuilder.standardDisc()
        for i in instances.indices { instances[i].patientID = "" }
        instances[2].patientName = "SATO^HANAKO"
        instances[2].birthDate = "19800505"
        let (root, result, directory) = try write(instances, invent: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let patients = records(directory, .patient)
        #expect(patients.count == 2)
        #expect(Set(patients.compactMap(\.patientID)).count == 2)
        #expect(result.inventions.filter { $0.keyword == "PatientID" }.count == 2)
    }

    @Test("big endian is refused without pointing at a profile (none allows it); a meta UID unlike the data set's is refused early, by name")
    func bigEndianAndMetaUIDMismatchAreRefusedClearly() throws {
        let root = NSTemporaryDirectory() + "fsr-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let instance = DiscBuilder.standardDisc()[0]
        let dataset = try DiscBuilder.dataset(instance)
        // discport writes no big endian: a Part 10 header naming it, then
        // the UIDs as explicit VR big endian elements, by hand.
        var header = Dataset()
        try header.setString(instance.sopClassUID, vr: .UI, for: .mediaStorageSOPClassUID)
        try header.setString(instance.sopUID, vr: .UI, for: .mediaStorageSOPInstanceUID)
        var bigEndian = try DICOMWriter.encode(DICOMFile(meta: header, dataset: Dataset(), transferSyntax: .explicitVRLittleEndian))
        let le = Data("1.2.840.10008.1.2.1\0".utf8), be = Data("1.2.840.10008.1.2.2\0".utf8)
        bigEndian.replaceSubrange(try #require(bigEndian.range(of: le)), with: be)
        for (tag, value) in [(DICOM.Tag.sopClassUID, instance.sopClassUID), (.sopInstanceUID, instance.sopUID),
                             (.studyInstanceUID, instance.studyUID), (.seriesInstanceUID, instance.seriesUID)] {
            let bytes = Data(value.utf8) + (value.utf8.count % 2 == 1 ? Data([0]) : Data())
            bigEndian += Data([UInt8(tag.group >> 8), UInt8(tag.group & 0xFF), UInt8(tag.element >> 8), UInt8(tag.element & 0xFF)])
            bigEndian += Data("UI".utf8) + Data([UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)]) + bytes
        }
        try DiscBuilder.put(bigEndian, at: root + "/be.dcm")
        var meta = Dataset()
        try meta.setString("1.2.826.0.1.3680043.10.9.99", vr: .UI, for: .mediaStorageSOPInstanceUID)
        try DiscBuilder.put(try DICOMWriter.encode(DICOMFile(meta: meta, dataset: dataset, transferSyntax: .explicitVRLittleEndian)),
                            at: root + "/uid.dcm")
        let writer = FileSetWriter(profile: .stdGenDVDJPEG, fileSetID: "T")
        #expect {
            try writer.plan([FileSetSource(path: root + "/be.dcm")])
        } throws: { error in
            let text = "\(error)"
            return text.contains("be.dcm") && text.contains("allowed by no media profile") && !text.contains("--media")
        }
        #expect {
            try writer.plan([FileSetSource(path: root + "/uid.dcm")])
        } throws: { error in
            "\(error)".contains("uid.dcm: its file meta names SOP Instance UID 1.2.826.0.1.3680043.10.9.99, its data set \(instance.sopUID)")
        }
    }

    @Test("a record's keys from instances of different character sets are all in the one set it declares")
    func recordTextIsInItsDeclaredCharacterSet() throws {
        var instances = DiscBuilder.standardDisc()
        // The scout (first) is in UTF-8, with the issuer but no name nor
        // Study Description; the axials are in ISO 2022 IR 87 with all three.
        for i in 0...2 {
            instances[i].characterSet = i == 0 ? "ISO_IR 192" : "\\ISO 2022 IR 87"
            instances[i].issuer = "山田病院"
            instances[i].patientName = i == 0 ? "" : "Yamada^Taro=山田^太郎"
            instances[i].studyDescription = i == 0 ? "" : "胸部ＣＴ"
        }
        let (root, _, directory) = try write(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func text(_ record: DirectoryRecord, _ tag: DICOM.Tag) throws -> String {
            let declared = SpecificCharacterSet(lenientTerms: record.attributes.strings(.specificCharacterSet))
            let element = try #require(record.attributes[tag])
            return declared.decodeLossy(element.bytes ?? Data(), vr: element.vr).text.trimmingCharacters(in: .whitespaces)
        }
        // STUDY: date (ASCII) from the scout, description from an axial: the axial's set.
        let study = try #require(records(directory, .study).first)
        #expect(try text(study, .studyDescription) == "胸部ＣＴ")
        // PATIENT: issuer from the scout (UTF-8), name from an axial (IR 87): both in ISO_IR 192.
        let patient = try #require(records(directory, .patient).first)
        #expect(patient.attributes.strings(.specificCharacterSet) == ["ISO_IR 192"])
        #expect(try text(patient, .issuerOfPatientID) == "山田病院")
        #expect(try text(patient, .patientName) == "Yamada^Taro=山田^太郎")
    }
}
