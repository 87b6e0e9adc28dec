// Builds small patient discs at test time with discport's own writer: DICOM
// files (Part 10 or raw data sets, native or encapsulated pixel data) and a
// DICOMDIR that can be made wrong on purpose (offsets shifted, zeroed or
// looping; inactive, PRIVATE records; keys left out; implicit VR). The real
// DICOMDIR writer comes later; this one is for fixtures only.
import DICOM
import Foundation
import Testing

/// One instance of a fixture disc: its identity, its place, its encoding.
struct DiscInstance {
    var patientID = "P0001"
    /// (0010,0021) Issuer of Patient ID, when given.
    var issuer: String? = nil
    var patientName = "DOE^JANE"
    var birthDate = "19700101"
    var sex = "F"
    /// (0008,0005) of the file and of its PATIENT/STUDY/SERIES records.
    var characterSet: String? = nil
    var studyUID = "1.2.826.0.1.3680043.10.9.1"
    var studyDate = "20240115"
    var studyTime = "093000"
    var studyDescription = "CT CHEST"
    var accession = "ACC001"
    var studyID = "1"
    var seriesUID = "1.2.826.0.1.3680043.10.9.1.1"
    var seriesNumber = 1
    var modality = "CT"
    var seriesDescription = "Axial"
    var sopClassUID = "1.2.840.10008.5.1.4.1.1.2"
    var sopUID = "1.2.826.0.1.3680043.10.9.1.1.1"
    var instanceNumber = 1
    /// Referenced File ID in the DICOMDIR.
    var fileID = ["DICOM", "IMG00001"]
    /// Where the file is written, when not at the File ID (lower case, `;1`).
    var diskPath: String? = nil
    var encoding = Encoding.part10
    /// Encapsulated (JPEG Baseline) pixel data instead of native.
    var encapsulated = false
    /// A Part 10 header declaring this syntax around the data set, which
    /// stays encoded as `encoding` and `encapsulated` say (what broken
    /// writers do: a JPEG file whose data set is implicit VR).
    var declaredSyntax: TransferSyntax? = nil
    /// Not written: the DICOMDIR references a file that is not there.
    var writeFile = true
    /// Listed in the DICOMDIR.
    var inDICOMDIR = true
    /// The record says this SOP Instance UID instead of the file's.
    var recordSOPUID: String? = nil
    /// Patient's Name bytes written as they are (for undecodable text).
    var rawPatientName: Data? = nil

    enum Encoding { case part10, rawImplicit, rawExplicit }

    var path: String { diskPath ?? fileID.joined(separator: "/") }

    var transferSyntax: TransferSyntax {
        switch encoding {
        case .rawImplicit: return .implicitVRLittleEndian
        case .part10, .rawExplicit: return encapsulated ? .jpegBaseline : .explicitVRLittleEndian
        }
    }
}

/// How the DICOMDIR is written.
struct DICOMDIROptions {
    /// Where, relative to the disc root.
    var path = "DICOMDIR"
    enum Offsets { case correct, shifted(Int), zero, loop }
    var offsets = Offsets.correct
    var implicitVR = false
    /// SOP Instance UIDs whose IMAGE records are marked inactive (0000H).
    var inactive: Set<String> = []
    /// A PRIVATE record (with a lower-level IMAGE child) after the patients.
    var privateRecord = false
    /// STUDY records without Study Instance UID.
    var omitStudyUID = false
}

enum DiscBuilder {
    static let imageRows = 8

    /// Three instances of one patient: series 1 (one scout), series 2 (two axials).
    static func standardDisc() -> [DiscInstance] {
        var scout = DiscInstance()
        scout.seriesDescription = "Scout"
        var axial1 = DiscInstance()
        axial1.seriesUID = "1.2.826.0.1.3680043.10.9.1.2"
        axial1.seriesNumber = 2
        axial1.sopUID = "1.2.826.0.1.3680043.10.9.1.2.1"
        axial1.fileID = ["DICOM", "SER2", "IMG00001"]
        var axial2 = axial1
        axial2.sopUID = "1.2.826.0.1.3680043.10.9.1.2.2"
        axial2.instanceNumber = 2
        axial2.fileID = ["DICOM", "SER2", "IMG00002"]
        return [scout, axial1, axial2]
    }

    static func dataset(_ instance: DiscInstance) throws -> Dataset {
        var ds = Dataset()
        if let charset = instance.characterSet { try ds.setString(charset, vr: .CS, for: .specificCharacterSet) }
        try ds.setString(instance.sopClassUID, vr: .UI, for: .sopClassUID)
        try ds.setString(instance.sopUID, vr: .UI, for: .sopInstanceUID)
        try ds.setString(instance.studyDate, vr: .DA, for: .studyDate)
        try ds.setString(instance.studyTime, vr: .TM, for: .studyTime)
        try ds.setString(instance.accession, vr: .SH, for: .accessionNumber)
        try ds.setString(instance.modality, vr: .CS, for: .modality)
        try ds.setString(instance.studyDescription, vr: .LO, for: .studyDescription)
        try ds.setString(instance.seriesDescription, vr: .LO, for: .seriesDescription)
        try ds.setString(instance.patientName, vr: .PN, for: .patientName)
        if let raw = instance.rawPatientName { ds.set(DataElement(tag: .patientName, vr: .PN, bytes: raw)) }
        try ds.setString(instance.patientID, vr: .LO, for: .patientID)
        if let issuer = instance.issuer { try ds.setString(issuer, vr: .LO, for: .issuerOfPatientID) }
        try ds.setString(instance.birthDate, vr: .DA, for: .patientBirthDate)
        try ds.setString(instance.sex, vr: .CS, for: .patientSex)
        try ds.setString(instance.studyUID, vr: .UI, for: .studyInstanceUID)
        try ds.setString(instance.seriesUID, vr: .UI, for: .seriesInstanceUID)
        try ds.setString(instance.studyID, vr: .SH, for: .studyID)
        try ds.setString(String(instance.seriesNumber), vr: .IS, for: .seriesNumber)
        try ds.setString(String(instance.instanceNumber), vr: .IS, for: .instanceNumber)
        ds.setIntegers([1], vr: .US, for: Tag(0x0028, 0x0002))
        try ds.setString("MONOCHROME2", vr: .CS, for: Tag(0x0028, 0x0004))
        ds.setIntegers([imageRows], vr: .US, for: Tag(0x0028, 0x0010))
        ds.setIntegers([imageRows], vr: .US, for: Tag(0x0028, 0x0011))
        ds.setIntegers([8], vr: .US, for: Tag(0x0028, 0x0100))
        ds.setIntegers([8], vr: .US, for: Tag(0x0028, 0x0101))
        ds.setIntegers([7], vr: .US, for: Tag(0x0028, 0x0102))
        ds.setIntegers([0], vr: .US, for: Tag(0x0028, 0x0103))
        let pixels = Data((0..<(imageRows * imageRows)).map { UInt8(truncatingIfNeeded: $0 * 3) })
        if instance.encapsulated {
            let fragment = Data([0xFF, 0xD8, 0xFF, 0xE0]) + pixels + Data([0xFF, 0xD9])
            ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [fragment])), hasUndefinedLength: true))
        } else {
            ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: pixels))
        }
        return ds
    }

    static func fileBytes(_ instance: DiscInstance) throws -> Data {
        let ds = try dataset(instance)
        if let declared = instance.declaredSyntax {
            let labelled = try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: declared))
            let offset = try DICOMFile(data: labelled, options: .header).datasetOffset
            return labelled.prefix(offset) + (try DICOMWriter.encode(ds, transferSyntax: instance.transferSyntax))
        }
        switch instance.encoding {
        case .part10:
            return try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: instance.transferSyntax))
        case .rawImplicit, .rawExplicit:
            return try DICOMWriter.encode(ds, transferSyntax: instance.transferSyntax)
        }
    }

    /// Writes the instances' files (and a DICOMDIR unless `dicomdir` is nil) below `root`.
    static func write(_ instances: [DiscInstance], to root: String, dicomdir: DICOMDIROptions? = DICOMDIROptions()) throws {
        for instance in instances where instance.writeFile {
            try put(fileBytes(instance), at: root + "/" + instance.path)
        }
        if let dicomdir {
            try put(directoryBytes(instances.filter(\.inDICOMDIR), options: dicomdir), at: root + "/" + dicomdir.path)
        }
    }

    static func put(_ data: Data, at path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    // MARK: DICOMDIR

    /// A record tree node: the record and its children.
    final class Node {
        var record: Dataset
        var children: [Node] = []
        init(_ record: Dataset) { self.record = record }
    }

    static func record(_ type: String) throws -> Dataset {
        var r = Dataset()
        r.setIntegers([0], vr: .UL, for: .offsetOfTheNextDirectoryRecord)
        r.setIntegers([0xFFFF], vr: .US, for: .recordInUseFlag)
        r.setIntegers([0], vr: .UL, for: .offsetOfReferencedLowerLevelDirectoryEntity)
        try r.setString(type, vr: .CS, for: .directoryRecordType)
        return r
    }

    static func directoryBytes(_ instances: [DiscInstance], options: DICOMDIROptions) throws -> Data {
        // PATIENT > STUDY > SERIES > IMAGE, in first-seen order.
        var patients: [Node] = []
        var patientByKey: [String: Node] = [:], studyByKey: [String: Node] = [:], seriesByKey: [String: Node] = [:]
        for instance in instances {
            let pkey = instance.patientID + "|" + instance.patientName
            if patientByKey[pkey] == nil {
                var r = try record("PATIENT")
                if let cs = instance.characterSet { try r.setString(cs, vr: .CS, for: .specificCharacterSet) }
                try r.setString(instance.patientName, vr: .PN, for: .patientName)
                try r.setString(instance.patientID, vr: .LO, for: .patientID)
                let node = Node(r)
                patientByKey[pkey] = node
                patients.append(node)
            }
            let skey = pkey + "|" + instance.studyUID
            if studyByKey[skey] == nil {
                var r = try record("STUDY")
                if let cs = instance.characterSet { try r.setString(cs, vr: .CS, for: .specificCharacterSet) }
                try r.setString(instance.studyDate, vr: .DA, for: .studyDate)
                try r.setString(instance.studyTime, vr: .TM, for: .studyTime)
                try r.setString(instance.studyDescription, vr: .LO, for: .studyDescription)
                if !options.omitStudyUID { try r.setString(instance.studyUID, vr: .UI, for: .studyInstanceUID) }
                try r.setString(instance.studyID, vr: .SH, for: .studyID)
                try r.setString(instance.accession, vr: .SH, for: .accessionNumber)
                let node = Node(r)
                studyByKey[skey] = node
                patientByKey[pkey]!.children.append(node)
            }
            if seriesByKey[instance.seriesUID] == nil {
                var r = try record("SERIES")
                try r.setString(instance.modality, vr: .CS, for: .modality)
                try r.setString(instance.seriesUID, vr: .UI, for: .seriesInstanceUID)
                try r.setString(String(instance.seriesNumber), vr: .IS, for: .seriesNumber)
                let node = Node(r)
                seriesByKey[instance.seriesUID] = node
                studyByKey[skey]!.children.append(node)
            }
            var r = try record("IMAGE")
            if options.inactive.contains(instance.sopUID) { r.setIntegers([0], vr: .US, for: .recordInUseFlag) }
            try r.setStrings(instance.fileID, vr: .CS, for: .referencedFileID)
            try r.setString(instance.sopClassUID, vr: .UI, for: .referencedSOPClassUIDInFile)
            try r.setString(instance.recordSOPUID ?? instance.sopUID, vr: .UI, for: .referencedSOPInstanceUIDInFile)
            try r.setString(instance.transferSyntax.uid, vr: .UI, for: .referencedTransferSyntaxUIDInFile)
            try r.setString(String(instance.instanceNumber), vr: .IS, for: .instanceNumber)
            seriesByKey[instance.seriesUID]!.children.append(Node(r))
        }
        var roots = patients
        if options.privateRecord {
            var r = try record("PRIVATE")
            try r.setString("1.2.826.0.1.3680043.10.9.99", vr: .UI, for: .privateRecordUID)
            let node = Node(r)
            node.children.append(Node(try record("IMAGE")))
            roots.append(node)
        }

        // Flatten depth-first: the order every writer uses.
        var flat: [Node] = []
        func walk(_ nodes: [Node]) { for node in nodes { flat.append(node); walk(node.children) } }
        walk(roots)

        let syntax: TransferSyntax = options.implicitVR ? .implicitVRLittleEndian : .explicitVRLittleEndian
        func encodeWhole(_ root: (first: Int, last: Int)) throws -> Data {
            var ds = Dataset()
            try ds.setString("DISCPORT_TEST", vr: .CS, for: .fileSetID)
            ds.setIntegers([root.first], vr: .UL, for: .offsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity)
            ds.setIntegers([root.last], vr: .UL, for: .offsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity)
            ds.setIntegers([0], vr: .US, for: .fileSetConsistencyFlag)
            ds.setSequence(flat.map(\.record), for: .directoryRecordSequence, undefinedLength: false)
            var meta = Dataset()
            try meta.setString("1.2.840.10008.1.3.10", vr: .UI, for: .mediaStorageSOPClassUID)
            try meta.setString("1.2.826.0.1.3680043.10.9.1000", vr: .UI, for: .mediaStorageSOPInstanceUID)
            return try DICOMWriter.encode(DICOMFile(meta: meta, dataset: ds, transferSyntax: syntax))
        }

        // Item offsets, computed from the encoding (not by reading it back):
        // the sequence value starts after its header, each item is 8 bytes
        // of header plus its encoded content.
        let draft = try encodeWhole((0, 0))
        let header: [UInt8] = options.implicitVR ? [0x04, 0x00, 0x20, 0x12] : [0x04, 0x00, 0x20, 0x12, 0x53, 0x51, 0x00, 0x00]
        let bytes = [UInt8](draft)
        var start = -1
        for i in 132..<(bytes.count - header.count) where Array(bytes[i..<(i + header.count)]) == header { start = i; break }
        #expect(start > 0)
        var offset = start + (options.implicitVR ? 8 : 12)
        var offsets: [ObjectIdentifier: Int] = [:]
        for node in flat {
            offsets[ObjectIdentifier(node)] = offset
            offset += 8 + (try DICOMWriter.encode(node.record, transferSyntax: syntax)).count
        }

        func off(_ node: Node) -> Int {
            switch options.offsets {
            case .correct, .loop: return offsets[ObjectIdentifier(node)]!
            case .shifted(let delta): return offsets[ObjectIdentifier(node)]! + delta
            case .zero: return 0
            }
        }
        func link(_ nodes: [Node]) {
            for (i, node) in nodes.enumerated() {
                node.record.setIntegers([i + 1 < nodes.count ? off(nodes[i + 1]) : 0], vr: .UL, for: .offsetOfTheNextDirectoryRecord)
                node.record.setIntegers([node.children.first.map(off) ?? 0], vr: .UL, for: .offsetOfReferencedLowerLevelDirectoryEntity)
                link(node.children)
            }
        }
        link(roots)
        if case .loop = options.offsets, let lastLeaf = roots.first?.children.first?.children.first?.children.last {
            lastLeaf.record.setIntegers([off(roots[0])], vr: .UL, for: .offsetOfTheNextDirectoryRecord)
        }
        let first = roots.first.map(off) ?? 0
        let last = roots.last.map(off) ?? 0
        let data = try encodeWhole((first, last))
        #expect(data.count == draft.count, "offsets must not change the encoded length")
        return data
    }
}
