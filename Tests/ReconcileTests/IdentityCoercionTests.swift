import DICOM
import Foundation
import Reconcile
import Testing

/// A small CT header with a Latin-1 name, read back as a file in header mode.
private func latin1File(patientID: String = "F-1", accession: String = "ACC-9",
                        sop: String = "1.2.3.4.5", study: String = "1.2.3.4", characterSet: String = "ISO_IR 100") throws -> (DICOMFile, Int) {
    func element(_ tag: DICOM.Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
        var padded = bytes
        if padded.count % 2 == 1 { padded.append(vr == .UI ? 0 : 0x20) }
        return DataElement(tag: tag, vr: vr, bytes: Data(padded))
    }
    let name: [UInt8] = Array("M".utf8) + [0xFC] + Array("ller^J".utf8) + [0xFC] + Array("rgen".utf8)   // Müller^Jürgen
    let dataset = Dataset([
        element(.specificCharacterSet, .CS, Array(characterSet.utf8)),
        element(.sopClassUID, .UI, Array("1.2.840.10008.5.1.4.1.1.7".utf8)),
        element(.sopInstanceUID, .UI, Array(sop.utf8)),
        element(.accessionNumber, .SH, Array(accession.utf8)),
        element(.patientName, .PN, name),
        element(.patientID, .LO, Array(patientID.utf8)),
        element(.issuerOfPatientID, .LO, Array("OTHER".utf8)),
        element(.patientBirthDate, .DA, Array("19600101".utf8)),
        element(.patientSex, .CS, Array("M".utf8)),
        element(.studyInstanceUID, .UI, Array(study.utf8)),
        element(.seriesInstanceUID, .UI, Array("1.2.3.4.1".utf8)),
        DataElement(tag: .pixelData, vr: .OW, bytes: Data(repeating: 7, count: 64)),
    ])
    let data = try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: .explicitVRLittleEndian))
    return (try DICOMFile(data: data, options: .header), data.count)
}

@Suite("Identity coercion")
struct IdentityCoercionTests {
    @Test("DT of a date is UTC with microseconds")
    func dateTime() {
        #expect(IdentityCoercion.dateTime(Date(timeIntervalSince1970: 0)) == "19700101000000.000000+0000")
    }

    @Test("a registry entry's half-width katakana are written full-width (IHE-J), its alphabetic group as it is")
    func registryKanaFullWidth() {
        let entry = RegisteredPatient(patientID: "0006", issuer: "CLINIC", alphabetic: "Kato^Miki", ideographic: "加藤^美紀",
                                      phonetic: "ｶﾄｳ^ﾐｷ", birthDate: "19850317", sex: "F")
        #expect(LocalIdentity(entry).patientName == "Kato^Miki=加藤^美紀=カトウ^ミキ")
    }

    @Test("a Japanese local name moves a Latin-1 file to UTF-8; the old values stay verbatim under their own set")
    func characterSetUpgrade() throws {
        let (file, size) = try latin1File()
        let local = LocalIdentity(patientID: "12345", issuerOfPatientID: "CLINIC",
                                  patientName: "Yamada^Tarou=山田^太郎=やまだ^たろう", birthDate: "19700401", sex: "M")
        let coercion = IdentityCoercion(identity: local, modificationDateTime: "20261201000000")
        let coerced = try #require(try coercion.apply(to: file, fileSize: size))
        let ds = coerced.dataset
        #expect(ds.firstString(.specificCharacterSet) == "ISO_IR 192")
        #expect(ds.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
        #expect(ds.firstString(.patientBirthDate) == "19700401")
        #expect(ds.firstString(.instanceOriginStatus) == "IMPORTED")
        #expect(ds.firstString(.accessionNumber) == "ACC-9", "kept by default")
        let item = try #require(ds.items(.originalAttributesSequence).last)
        let was = try #require(item.items(.modifiedAttributesSequence).first)
        #expect(was.firstString(.specificCharacterSet) == "ISO_IR 100")
        #expect(was.string(.patientName) == "Müller^Jürgen", "decoded with the item's own (old) set")
        #expect(was[.patientName]?.bytes == file.dataset[.patientName]?.bytes, "verbatim bytes")
        #expect(was.firstString(.patientBirthDate) == "19600101")
        #expect(was[.patientSex] == nil, "unchanged values are not listed")
        #expect(was[.instanceOriginStatus]?.bytes?.isEmpty == true, "an element that was absent is recorded empty")
        #expect(coerced.changes.contains { $0.keyword == "SpecificCharacterSet" && $0.newValue == "ISO_IR 192" })
        // The written header parses back to the same data set, and the pixel
        // data starts right where the header ends.
        let reread = try DICOMFile(data: coerced.header, options: .header)
        #expect(reread.dataset.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
        #expect(reread.dataset.items(.originalAttributesSequence).last?.items(.modifiedAttributesSequence).first?
            .string(.patientName) == "Müller^Jürgen")
        #expect(coerced.replacedLength == file.pixelDataOffset)
    }

    @Test("accession numbers are cleared by policy and recorded; invalid UIDs are repaired the same way every time")
    func accessionAndUIDs() throws {
        let (file, size) = try latin1File(sop: "1.2.03.4", study: "1.2.3.4 ")
        let coercion = IdentityCoercion(identity: LocalIdentity(patientID: "L-1"), modificationDateTime: "20261201000000",
                                        accession: .clear)
        let coerced = try #require(try coercion.apply(to: file, fileSize: size))
        #expect(coerced.dataset.firstString(.accessionNumber) == nil)
        #expect(coerced.dataset[.accessionNumber] != nil, "Type 2: present, empty")
        let was = try #require(coerced.dataset.items(.originalAttributesSequence).last?.items(.modifiedAttributesSequence).first)
        #expect(was.firstString(.accessionNumber) == "ACC-9")
        let newSOP = try #require(coerced.dataset.firstString(.sopInstanceUID))
        #expect(UID.isValid(newSOP))
        #expect(newSOP == IdentityCoercion.repairedUID(for: "1.2.03.4"))
        #expect(was.firstString(.sopInstanceUID) == "1.2.03.4")
        let reread = try DICOMFile(data: coerced.header, options: .header)
        #expect(reread.meta.firstString(.mediaStorageSOPInstanceUID) == newSOP)
        #expect(coerced.dataset.firstString(.studyInstanceUID) == "1.2.3.4", "a trailing space is padding, not invalid")
        #expect(IdentityCoercion.repairedUID(for: "x") == IdentityCoercion.repairedUID(for: "x"))
        #expect(IdentityCoercion.repairedUID(for: "x") != IdentityCoercion.repairedUID(for: "y"))
    }

    @Test("existing Original Attributes items are kept; a second coercion appends")
    func secondCoercionAppends() throws {
        let (file, size) = try latin1File()
        let first = try #require(try IdentityCoercion(identity: LocalIdentity(patientID: "A"), modificationDateTime: "20260101000000")
            .apply(to: file, fileSize: size))
        var again = try DICOMFile(data: first.header + Data(repeating: 0, count: 0), options: .header)
        again.pixelDataOffset = nil
        let second = try #require(try IdentityCoercion(identity: LocalIdentity(patientID: "B"), modificationDateTime: "20260102000000")
            .apply(to: again, fileSize: first.header.count))
        let history = second.dataset.items(.originalAttributesSequence)
        #expect(history.count == 2)
        #expect(history[0].items(.modifiedAttributesSequence).first?.firstString(.patientID) == "F-1")
        #expect(history[1].items(.modifiedAttributesSequence).first?.firstString(.patientID) == "A")
        #expect(second.dataset.items(.otherPatientIDsSequence).compactMap { $0.firstString(.patientID) } == ["F-1", "A"])
        // The sequence it changed is recorded whole, as it was.
        let wasOthers = history[1].items(.modifiedAttributesSequence).first?.items(.otherPatientIDsSequence)
        #expect(wasOthers?.compactMap { $0.firstString(.patientID) } == ["F-1"])
        #expect(history[0].items(.modifiedAttributesSequence).first?[.otherPatientIDsSequence] == nil, "there was none")
        #expect(history.map { $0.firstString(Tag(0x0400, 0x0565)) } == ["COERCE", "COERCE"])
    }

    @Test("new non-ASCII text under a misspelled term: the term is written as PS3.3 spells it, the old spelling recorded")
    func misspelledTermCorrected() throws {
        let (file, size) = try latin1File(characterSet: "ISO_IR100")
        let coercion = IdentityCoercion(identity: LocalIdentity(patientID: "L1", patientName: "Groß^Jürgen"), modificationDateTime: "20261201000000")
        let coerced = try #require(try coercion.apply(to: file, fileSize: size))
        let reread = try DICOMFile(data: coerced.header, options: .header)
        #expect(reread.dataset.strings(.specificCharacterSet) == ["ISO_IR 100"])
        #expect(reread.dataset.string(.patientName) == "Groß^Jürgen")
        let was = try #require(reread.dataset.items(.originalAttributesSequence).last?.items(.modifiedAttributesSequence).first)
        #expect(was.strings(.specificCharacterSet) == ["ISO_IR100"])
        #expect(coerced.changes.contains { $0.keyword == "SpecificCharacterSet" && $0.newValue == "ISO_IR 100" })
        // ASCII only: the spelling is left alone.
        let ascii = try #require(try IdentityCoercion(identity: LocalIdentity(patientID: "L1"), modificationDateTime: "20261201000000")
            .apply(to: file, fileSize: size))
        #expect(ascii.dataset.strings(.specificCharacterSet) == ["ISO_IR100"])
    }

    @Test("a correction says CORRECT and does not make the mistaken local ID another ID of the patient")
    func correction() throws {
        let (file, size) = try latin1File()
        let mistaken = try #require(try IdentityCoercion(identity: LocalIdentity(patientID: "L1", issuerOfPatientID: "CLINIC"),
                                                         modificationDateTime: "20260101000000").apply(to: file, fileSize: size))
        let stored = try DICOMFile(data: mistaken.header, options: .header)
        let fix = IdentityCoercion(identity: LocalIdentity(patientID: "L3", issuerOfPatientID: "CLINIC"),
                                   modificationDateTime: "20260102000000", purpose: .correct)
        let corrected = try #require(try fix.apply(to: stored, fileSize: mistaken.header.count))
        #expect(corrected.dataset.firstString(.patientID) == "L3")
        #expect(corrected.dataset.items(.otherPatientIDsSequence).compactMap { $0.firstString(.patientID) } == ["F-1"],
                "the foreign ID stays; L1 is somebody else")
        let item = try #require(corrected.dataset.items(.originalAttributesSequence).last)
        #expect(item.firstString(Tag(0x0400, 0x0565)) == "CORRECT")
        #expect(item.items(.modifiedAttributesSequence).first?.firstString(.patientID) == "L1", "kept as the value replaced")
        // An instance imported as it was carries a foreign ID: a correction keeps it.
        let asIs = try #require(try fix.apply(to: file, fileSize: size))
        #expect(asIs.dataset.items(.otherPatientIDsSequence).compactMap { $0.firstString(.patientID) } == ["F-1"])
    }

    @Test("a move to UTF-8 keeps the bytes of text the old set cannot decode, and of private values of unknown VR, and names them")
    func undecodableTextKept() throws {
        func element(_ tag: DICOM.Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
            var padded = bytes
            if padded.count % 2 == 1 { padded.append(vr == .UI ? 0 : 0x20) }
            return DataElement(tag: tag, vr: vr, bytes: Data(padded))
        }
        let shiftJIS: [UInt8] = [0x8B, 0xB9, 0x95, 0x94, 0x43, 0x54]                     // 胸部CT, undeclared
        let jis: [UInt8] = [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28, 0x42]   // 山田 in ISO 2022 IR 87
        let privateTag = DICOM.Tag(0x0029, 0x1001)
        let dataset = Dataset([
            element(.sopClassUID, .UI, Array("1.2.840.10008.5.1.4.1.1.7".utf8)),
            element(.sopInstanceUID, .UI, Array("1.2.3.4.5".utf8)),
            element(.studyDescription, .LO, shiftJIS),
            element(.institutionName, .LO, Array("General Hospital".utf8)),
            element(.patientName, .PN, Array("DOE^JOHN".utf8)),
            element(.patientID, .LO, Array("F-1".utf8)),
            element(DICOM.Tag(0x0029, 0x0010), .LO, Array("ACME".utf8)),
            element(privateTag, .UN, jis),
            DataElement(tag: .pixelData, vr: .OW, bytes: Data(repeating: 7, count: 64)),
        ])
        let data = try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: .explicitVRLittleEndian))
        let file = try DICOMFile(data: data, options: .header)
        let coercion = IdentityCoercion(identity: LocalIdentity(patientID: "12345", patientName: "Yamada^Tarou=山田^太郎"),
                                        modificationDateTime: "20261201000000")
        let coerced = try #require(try coercion.apply(to: file, fileSize: data.count))
        let ds = coerced.dataset
        #expect(ds.firstString(.specificCharacterSet) == "ISO_IR 192")
        #expect(ds[.studyDescription]?.bytes == file.dataset[.studyDescription]?.bytes, "not replaced by U+FFFD")
        #expect(ds[privateTag]?.bytes == file.dataset[privateTag]?.bytes)
        #expect(ds.string(.institutionName) == "General Hospital")
        let named = coerced.changes.filter { $0.note?.hasPrefix("bytes kept as they were") == true }.map(\.tag)
        #expect(named == [privateTag, .studyDescription] || named == [.studyDescription, privateTag])
        #expect(coerced.changes.first { $0.tag == .studyDescription }?.description.contains("not valid in ISO_IR 6") == true)
    }
}
