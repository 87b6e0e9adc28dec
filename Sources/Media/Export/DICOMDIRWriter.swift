import DICOM
import Foundation

/// The directory records of a file-set in sequence order (depth first:
/// PATIENT, its first STUDY, its first SERIES, its instances, …) with the
/// links between them, and which leaf record references which file.
struct DirectoryTree {
    var records: [Dataset] = []
    /// Per record: the next record of the same entity and the first record
    /// of the entity below (indices into `records`).
    var links: [(next: Int?, lower: Int?)] = []
    /// The files to write: File ID and index into the planned instances.
    var files: [(fileID: [String], planned: Int)] = []
    /// File index → its leaf record.
    var leafRecord: [Int] = []
    var inventions: [InventedKey] = []

    /// Each record's parent record, for the records below another.
    func parents() -> [Int: Int] {
        var parents: [Int: Int] = [:]
        for (index, link) in links.enumerated() {
            var child = link.lower
            while let current = child, parents[current] == nil {
                parents[current] = index
                child = links[current].next
            }
        }
        return parents
    }

    mutating func setReference(fileIndex: Int, entry: FileSetEntry) {
        let index = leafRecord[fileIndex]
        var record = records[index]
        record.set(DataElement(tag: .referencedFileID, vr: .CS, bytes: DICOMDIRWriter.text(entry.fileID.joined(separator: "\\"), vr: .CS)))
        record.set(DataElement(tag: .referencedSOPClassUIDInFile, vr: .UI, bytes: DICOMDIRWriter.text(entry.sopClassUID, vr: .UI)))
        record.set(DataElement(tag: .referencedSOPInstanceUIDInFile, vr: .UI, bytes: DICOMDIRWriter.text(entry.sopInstanceUID, vr: .UI)))
        record.set(DataElement(tag: .referencedTransferSyntaxUIDInFile, vr: .UI, bytes: DICOMDIRWriter.text(entry.transferSyntaxUID, vr: .UI)))
        records[index] = record
    }
}

/// Builds the records from the planned instances (sorted by patient,
/// study, series, instance): every Type 1 and 2 key of PS3.3 Annex F and
/// the profile's extra keys, values taken from the instances (the first
/// that has one), a Specific Character Set where a record holds text that
/// is not ASCII, missing Type 1 keys invented only when allowed.
struct DirectoryTreeBuilder {
    let profile: MediaProfile
    let invent: Bool
    private var missing: [String] = []
    private var tree = DirectoryTree()
    private let today: (date: String, time: String) = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd HHmmss"
        let parts = formatter.string(from: Date()).split(separator: " ")
        return (String(parts[0]), String(parts[1]))
    }()

    init(profile: MediaProfile, invent: Bool) {
        self.profile = profile
        self.invent = invent
    }

    mutating func build(_ planned: [FileSetWriter.Planned]) throws(FileSetError) -> DirectoryTree {
        // Group consecutive instances: patient (``PatientIdentity``) > study > series.
        var patientStart = 0
        var lastPatientRecord: Int?
        var patientNumber = 0
        while patientStart < planned.count {
            var patientEnd = patientStart
            while patientEnd < planned.count, planned[patientEnd].patient == planned[patientStart].patient { patientEnd += 1 }
            patientNumber += 1
            let patientRange = patientStart..<patientEnd
            let patientRecord = addRecord("PATIENT", from: planned, patientRange, counter: patientNumber)
            if let lastPatientRecord { tree.links[lastPatientRecord].next = patientRecord }
            lastPatientRecord = patientRecord

            var studyStart = patientStart
            var lastStudyRecord: Int?
            var studyNumber = 0
            while studyStart < patientEnd {
                var studyEnd = studyStart
                while studyEnd < patientEnd, planned[studyEnd].studyUID == planned[studyStart].studyUID { studyEnd += 1 }
                studyNumber += 1
                let studyRecord = addRecord("STUDY", from: planned, studyStart..<studyEnd, counter: studyNumber)
                link(parent: patientRecord, previous: lastStudyRecord, child: studyRecord)
                lastStudyRecord = studyRecord

                var seriesStart = studyStart
                var lastSeriesRecord: Int?
                var seriesNumber = 0
                while seriesStart < studyEnd {
                    var seriesEnd = seriesStart
                    while seriesEnd < studyEnd, planned[seriesEnd].seriesUID == planned[seriesStart].seriesUID { seriesEnd += 1 }
                    seriesNumber += 1
                    let seriesRecord = addRecord("SERIES", from: planned, seriesStart..<seriesEnd, counter: seriesNumber)
                    link(parent: studyRecord, previous: lastSeriesRecord, child: seriesRecord)
                    lastSeriesRecord = seriesRecord

                    var lastLeaf: Int?
                    for (n, index) in (seriesStart..<seriesEnd).enumerated() {
                        let leaf = addRecord(planned[index].recordType, from: planned, index..<(index + 1), counter: n + 1)
                        link(parent: seriesRecord, previous: lastLeaf, child: leaf)
                        lastLeaf = leaf
                        let fileID = ["DICOM", String(format: "PAT%05d", patientNumber), String(format: "STU%05d", studyNumber),
                                      String(format: "SER%05d", seriesNumber), String(format: "IMG%05d", n + 1)]
                        tree.files.append((fileID, index))
                        tree.leafRecord.append(leaf)
                    }
                    if seriesEnd - seriesStart > 99_999 || seriesNumber > 99_999 || studyNumber > 99_999 || patientNumber > 99_999 {
                        throw FileSetError("more than 99,999 entries at one level: File IDs of 8 characters cannot name them")
                    }
                    seriesStart = seriesEnd
                }
                studyStart = studyEnd
            }
            patientStart = patientEnd
        }
        if !missing.isEmpty {
            throw FileSetError("\(missing.count) Type 1 directory key(s) are missing from the instances (--invent makes them up, recorded):", files: missing)
        }
        return tree
    }

    private mutating func link(parent: Int, previous: Int?, child: Int) {
        if let previous { tree.links[previous].next = child } else { tree.links[parent].lower = child }
    }

    /// Adds a record of `type` with keys from the instances in `range`.
    private mutating func addRecord(_ type: String, from planned: [FileSetWriter.Planned], _ range: Range<Int>, counter: Int) -> Int {
        var record = Dataset()
        record.set(DataElement(tag: .offsetOfTheNextDirectoryRecord, vr: .UL, bytes: Data(count: 4)))
        record.setIntegers([0xFFFF], vr: .US, for: .recordInUseFlag)
        record.set(DataElement(tag: .offsetOfReferencedLowerLevelDirectoryEntity, vr: .UL, bytes: Data(count: 4)))
        record.set(DataElement(tag: .directoryRecordType, vr: .CS, bytes: DICOMDIRWriter.text(type, vr: .CS)))
        // Per key taken: the Specific Character Set of its instance.
        var characterSets: [Tag: [String]] = [:]
        for key in DirectoryRecordKeys.keys(for: type, extended: profile.needsExtendedKeys) {
            var found: DataElement?
            for index in range {
                if let element = planned[index].keys[key.tag], !element.isEmpty {
                    found = element
                    characterSets[key.tag] = planned[index].keys.strings(.specificCharacterSet)
                    break
                }
            }
            if let found {
                record.set(found)
                continue
            }
            switch key.type {
            case .conditional:
                continue
            case .present:
                record.set(DataElement(tag: key.tag, vr: DataDictionary.vr(for: key.tag) ?? .LO, bytes: Data()))
            case .required:
                let first = planned[range.lowerBound]
                if invent, let value = invented(key.keyword, planned, range, counter: counter) {
                    let vr = DataDictionary.vr(for: key.tag) ?? .LO
                    record.set(DataElement(tag: key.tag, vr: vr, bytes: DICOMDIRWriter.text(value, vr: vr)))
                    tree.inventions.append(InventedKey(recordType: type, sopInstanceUID: first.sopInstanceUID, keyword: key.keyword, value: value))
                } else {
                    missing.append("\(first.source.path): \(type) record needs \(key.keyword) \(key.tag)"
                                   + (invent ? "; it cannot be made up" : ""))
                }
            }
        }
        DirectoryTreeBuilder.giveOneCharacterSet(&record, characterSets)
        tree.records.append(record)
        tree.links.append((nil, nil))
        return tree.records.count - 1
    }

    /// Gives a record whose text goes beyond ASCII the one Specific
    /// Character Set all its values are in: its keys come from different
    /// instances (each key from the first that has it), so when those
    /// instances' sets differ, every such value is decoded with its own
    /// instance's set and encoded again in ISO_IR 192 (UTF-8), which holds
    /// them all; when they agree, that set.
    static func giveOneCharacterSet(_ record: inout Dataset, _ characterSets: [Tag: [String]]) {
        guard DICOMDIRWriter.needsCharacterSet(record) else { return }
        let texts = record.elements.filter { element in
            guard element.vr.usesSpecificCharacterSet, characterSets[element.tag] != nil, case .bytes(let data) = element.value else { return false }
            return data.contains { $0 >= 0x80 || $0 == 0x1B }
        }
        let sets = Set(texts.map { characterSets[$0.tag]! })
        if sets.count == 1, let terms = sets.first {
            if !terms.isEmpty {
                record.set(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: DICOMDIRWriter.text(terms.joined(separator: "\\"), vr: .CS)))
            }
            return
        }
        let utf8 = SpecificCharacterSet(lenientTerms: ["ISO_IR 192"])
        for element in texts {
            guard case .bytes(let data) = element.value else { continue }
            let text = SpecificCharacterSet(lenientTerms: characterSets[element.tag]!).decodeLossy(data, vr: element.vr).text
            guard var bytes = try? utf8.encode(text, vr: element.vr) else { continue }
            if bytes.count % 2 == 1 { bytes.append(element.vr.paddingByte) }
            record.set(DataElement(tag: element.tag, vr: element.vr, bytes: Data(bytes)))
        }
        record.set(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: DICOMDIRWriter.text("ISO_IR 192", vr: .CS)))
    }

    /// A made-up value for a missing Type 1 key; nil when none can be made
    /// up (sequences).
    private func invented(_ keyword: String, _ planned: [FileSetWriter.Planned], _ range: Range<Int>, counter: Int) -> String? {
        func firstValue(_ tags: [Tag]) -> String? {
            for index in range {
                for tag in tags {
                    if let value = planned[index].keys.firstString(tag) { return value }
                }
            }
            return nil
        }
        switch keyword {
        case "PatientID": return String(format: "DISCPORT%05d", counter)
        case "StudyDate": return firstValue([.seriesDate, .acquisitionDate, .contentDate, .instanceCreationDate]) ?? today.date
        case "StudyTime": return firstValue([.seriesTime, .acquisitionTime, .contentTime, .instanceCreationTime]) ?? "000000"
        case "StudyID", "SeriesNumber", "InstanceNumber": return String(counter)
        case "Modality": return "OT"
        case "ContentDate", "PresentationCreationDate", "InstanceCreationDate":
            return firstValue([.contentDate, .instanceCreationDate, .studyDate]) ?? today.date
        case "ContentTime", "PresentationCreationTime":
            return firstValue([.contentTime, .instanceCreationTime, .studyTime]) ?? today.time
        case "ContentLabel": return "UNLABELED"
        case "CompletionFlag": return "PARTIAL"
        case "VerificationFlag": return "UNVERIFIED"
        case "StructureSetLabel", "RTPlanLabel": return "UNNAMED"
        case "DoseSummationType": return "PLAN"
        case "MIMETypeOfEncapsulatedDocument": return "application/octet-stream"
        default: return nil
        }
    }
}

/// Encodes a DICOMDIR: Part 10 header (Media Storage Directory Storage),
/// Explicit VR Little Endian, File-set ID, the root offsets, consistency
/// flag 0000H and the records, every offset counted from the first byte
/// of the file (PS3.3 F.3.2.2). The result is read back with the scan
/// engine's DICOMDIR reader; offsets that do not form the tree are an
/// internal error, never a written file.
public enum DICOMDIRWriter {
    static func text(_ value: String, vr: VR) -> Data {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        return Data(bytes)
    }

    static func ul(_ value: Int) -> Data {
        var data = Data(count: 4)
        data[0] = UInt8(value & 0xFF); data[1] = UInt8((value >> 8) & 0xFF)
        data[2] = UInt8((value >> 16) & 0xFF); data[3] = UInt8((value >> 24) & 0xFF)
        return data
    }

    /// A record holds text outside ISO-IR 6 (bytes ≥ 80H or ESC) in a
    /// value its Specific Character Set governs.
    static func needsCharacterSet(_ dataset: Dataset) -> Bool {
        for element in dataset.elements {
            switch element.value {
            case .bytes(let data):
                if element.vr.usesSpecificCharacterSet, data.contains(where: { $0 >= 0x80 || $0 == 0x1B }) { return true }
            case .sequence(let items):
                if items.contains(where: needsCharacterSet) { return true }
            case .fragments:
                break
            }
        }
        return false
    }

    static func encode(records: [Dataset], links: [(next: Int?, lower: Int?)], fileSetID: String) throws -> Data {
        let explicit = TransferSyntax.explicitVRLittleEndian
        var meta = Dataset()
        meta.set(DataElement(tag: .mediaStorageSOPClassUID, vr: .UI, bytes: text(DICOMDirectory.sopClassUID, vr: .UI)))
        meta.set(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, bytes: text(UID.generate(), vr: .UI)))
        var head = Dataset()
        head.set(DataElement(tag: .fileSetID, vr: .CS, bytes: text(fileSetID, vr: .CS)))
        head.set(DataElement(tag: .offsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, vr: .UL, bytes: ul(0)))
        head.set(DataElement(tag: .offsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity, vr: .UL, bytes: ul(0)))
        head.setIntegers([0], vr: .US, for: .fileSetConsistencyFlag)
        var file = DICOMFile(meta: meta, dataset: head, transferSyntax: explicit)
        let completedMeta = try DICOMWriter.completedMeta(for: file)
        file.meta = completedMeta
        // Item tag of the first record: preamble, DICM, meta, the elements
        // before the sequence, the sequence's tag, VR, reserved and length.
        var offset = 128 + 4 + (try DICOMWriter.encode(completedMeta, transferSyntax: explicit)).count
            + (try DICOMWriter.encode(head, transferSyntax: explicit)).count + 12
        var offsets: [Int] = []
        offsets.reserveCapacity(records.count)
        for record in records {
            offsets.append(offset)
            offset += 8 + (try DICOMWriter.encode(record, transferSyntax: explicit)).count
        }
        guard offset <= Int(UInt32.max) else { throw FileSetError("the DICOMDIR would exceed 4 GiB") }
        var linked = records
        for index in linked.indices {
            linked[index].set(DataElement(tag: .offsetOfTheNextDirectoryRecord, vr: .UL, bytes: ul(links[index].next.map { offsets[$0] } ?? 0)))
            linked[index].set(DataElement(tag: .offsetOfReferencedLowerLevelDirectoryEntity, vr: .UL, bytes: ul(links[index].lower.map { offsets[$0] } ?? 0)))
        }
        // The root directory entity: the first record no link points at
        // (the first patient), then the others along its next-record chain
        // — so the last root record (0004,1202) is the end of that chain,
        // not the first patient again when there are several.
        var pointedAt = Set<Int>()
        for link in links { if let n = link.next { pointedAt.insert(n) }; if let l = link.lower { pointedAt.insert(l) } }
        if let first = records.indices.first(where: { !pointedAt.contains($0) }) {
            var last = first
            var seen: Set<Int> = [first]
            while let next = links[last].next, seen.insert(next).inserted { last = next }
            file.dataset.set(DataElement(tag: .offsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, vr: .UL, bytes: ul(offsets[first])))
            file.dataset.set(DataElement(tag: .offsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity, vr: .UL, bytes: ul(offsets[last])))
        }
        file.dataset.setSequence(linked, for: .directoryRecordSequence, undefinedLength: false)
        let data = try DICOMWriter.encode(file)

        // Read back: the offsets must describe the tree exactly.
        let parsed = try DICOMFile(data: data)
        let directory = DICOMDirectory(file: parsed, path: "DICOMDIR")
        guard directory.treeSource == .offsets, directory.records.count == records.count,
              directory.records.map(\.offset) == offsets else {
            throw FileSetError("internal error: the DICOMDIR written does not read back with its offsets (\(directory.treeSource.rawValue))")
        }
        return data
    }
}
