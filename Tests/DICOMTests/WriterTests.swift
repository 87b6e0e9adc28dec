// The writer: file meta group length, padding per VR, implicit VR on
// request, defined and undefined lengths, encapsulated fragments, what it
// refuses, and atomic writes.
import Foundation
import Testing
@testable import DICOM
import struct DICOM.Tag

private let patientName = Tag(0x0010, 0x0010)
private let patientID = Tag(0x0010, 0x0020)
private let pixelData = Tag(0x7FE0, 0x0010)

/// A minimal image data set built through the API.
private func apiDataset() throws -> Dataset {
    var ds = Dataset()
    try ds.setString(Fixture.ctImageStorage, vr: .UI, for: Tag(0x0008, 0x0016))
    try ds.setString(Fixture.instanceUID, vr: .UI, for: Tag(0x0008, 0x0018))
    try ds.setString("Doe^Jane", vr: .PN, for: patientName)
    try ds.setString("12345", vr: .LO, for: patientID)
    ds.setIntegers([4], vr: .US, for: Tag(0x0028, 0x0010))
    return ds
}

/// Where the (0002,0000) value says the meta ends, and where it really ends.
private func metaExtent(_ data: Data) throws -> (declared: Int, actual: Int) {
    let bytes = [UInt8](data)
    #expect(Array(bytes[132..<140]) == [0x02, 0x00, 0x00, 0x00, 0x55, 0x4C, 0x04, 0x00])
    let declared = Int(bytes[140]) | Int(bytes[141]) << 8 | Int(bytes[142]) << 16 | Int(bytes[143]) << 24
    var offset = 144
    while offset + 8 <= bytes.count, bytes[offset] == 0x02, bytes[offset + 1] == 0x00 {
        let vr = String(decoding: bytes[(offset + 4)..<(offset + 6)], as: UTF8.self)
        if VR(rawValue: vr)?.hasLongLength == true {
            let length = Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8 | Int(bytes[offset + 10]) << 16 | Int(bytes[offset + 11]) << 24
            offset += 12 + length
        } else {
            offset += 8 + (Int(bytes[offset + 6]) | Int(bytes[offset + 7]) << 8)
        }
    }
    return (declared, offset - 144)
}

@Suite("Writer")
struct WriterTests {
    // MARK: File meta information

    @Test("The meta group length counts the meta elements after it")
    func groupLength() throws {
        let file = DICOMFile(dataset: try apiDataset(), transferSyntax: .explicitVRLittleEndian)
        let data = try DICOMWriter.encode(file)
        let extent = try metaExtent(data)
        #expect(extent.declared == extent.actual)

        // A wrong group length in the input is corrected, everything else kept.
        var read = try DICOMFile(data: data)
        read.meta.set(DataElement(tag: Tag(0x0002, 0x0000), vr: .UL, bytes: Data([0xFF, 0, 0, 0])))
        read.meta.set(DataElement(tag: Tag(0x0002, 0x0016), vr: .AE, bytes: Data("SOURCE_AE ".utf8)))
        let rewritten = try DICOMWriter.encode(read)
        let again = try metaExtent(rewritten)
        #expect(again.declared == again.actual)
        #expect(again.actual == extent.actual + 18)
        #expect(try DICOMFile(data: rewritten).meta.rawText(Tag(0x0002, 0x0016)) == "SOURCE_AE")
    }

    @Test("Meta information is completed from the data set; the preamble is kept")
    func completedMeta() throws {
        var file = DICOMFile(dataset: try apiDataset(), transferSyntax: .explicitVRLittleEndian)
        file.preamble = Data((0..<128).map { UInt8($0) })
        let data = try DICOMWriter.encode(file)
        #expect(data.prefix(128) == file.preamble)
        #expect(data[128..<132] == Data("DICM".utf8))
        let read = try DICOMFile(data: data)
        #expect(read.meta[Tag(0x0002, 0x0001)]?.valueBytes == [0x00, 0x01])
        #expect(read.meta.rawText(Tag(0x0002, 0x0002)) == Fixture.ctImageStorage)
        #expect(read.meta.rawText(Tag(0x0002, 0x0003)) == Fixture.instanceUID)
        #expect(read.meta.rawText(Tag(0x0002, 0x0010)) == TransferSyntax.explicitVRLittleEndian.uid)
        #expect(read.meta.rawText(Tag(0x0002, 0x0012)) == UID.implementationClassUID)
        #expect(read.meta.rawText(Tag(0x0002, 0x0013)) == UID.implementationVersionName)
        #expect(read.warnings.isEmpty)

        // No preamble: 128 zero bytes.
        file.preamble = nil
        #expect(try DICOMWriter.encode(file).prefix(128) == Data(count: 128))

        // Without SOP Class/Instance UIDs no valid meta can be written.
        var anonymous = Dataset()
        try anonymous.setString("Doe^Jane", vr: .PN, for: patientName)
        #expect(throws: DICOMError.self) { try DICOMWriter.encode(DICOMFile(dataset: anonymous, transferSyntax: .explicitVRLittleEndian)) }
        do {
            _ = try DICOMWriter.encode(DICOMFile(dataset: anonymous, transferSyntax: .explicitVRLittleEndian))
        } catch {
            #expect(error.kind == .invalidValue)
            #expect(error.tag == Tag(0x0002, 0x0002))
        }
    }

    @Test("File meta elements in the data set are refused: a reader would take them for meta")
    func groupTwoInDataset() throws {
        // Found by FuzzTests: a damaged meta tag ends the meta early; the
        // rest of group 0002 lands in the data set, and writing it back
        // produced a file whose meta absorbed it.
        var ds = try apiDataset()
        ds.set(DataElement(tag: Tag(0x0002, 0x0013), vr: .SH, bytes: Data("STRAY ".utf8)))
        do {
            _ = try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian))
            Issue.record("a group 0002 element was written in the data set")
        } catch {
            #expect(error.kind == .invalidValue)
            #expect(error.tag == Tag(0x0002, 0x0013))
        }
    }

    // MARK: Values

    /// PS3.5 §6.2: text VRs pad with a space, UI and binary VRs with NUL.
    static let expectedPadding: [VR: UInt8] = [
        .AE: 0x20, .AS: 0x20, .CS: 0x20, .DA: 0x20, .DS: 0x20, .DT: 0x20, .IS: 0x20, .LO: 0x20, .LT: 0x20,
        .PN: 0x20, .SH: 0x20, .ST: 0x20, .TM: 0x20, .UC: 0x20, .UR: 0x20, .UT: 0x20,
        .UI: 0x00, .OB: 0x00, .OD: 0x00, .OF: 0x00, .OL: 0x00, .OV: 0x00, .OW: 0x00, .UN: 0x00,
        .AT: 0x00, .FD: 0x00, .FL: 0x00, .SL: 0x00, .SS: 0x00, .SV: 0x00, .UL: 0x00, .US: 0x00, .UV: 0x00,
    ]

    @Test("Odd values are padded to even length with their VR's padding byte",
          arguments: VR.allCases.filter { $0 != .SQ })
    func padding(_ vr: VR) throws {
        let expected = try #require(Self.expectedPadding[vr])
        #expect(vr.paddingByte == expected)
        let element = DataElement(tag: Tag(0x0009, 0x1001), vr: vr, bytes: Data([0x31, 0x32, 0x33]))
        let dataset = Dataset([element])

        let explicit = [UInt8](try DICOMWriter.encode(dataset, transferSyntax: .explicitVRLittleEndian))
        var header = Bytes(.explicitLE)
        header.header(element.tag, vr, length: 4)
        #expect(explicit == header.bytes + [0x31, 0x32, 0x33, expected])

        let implicit = [UInt8](try DICOMWriter.encode(dataset, transferSyntax: .implicitVRLittleEndian))
        #expect(implicit == [0x09, 0x00, 0x01, 0x10, 4, 0, 0, 0, 0x31, 0x32, 0x33, expected])
    }

    @Test("Explicit VR: a value too long for a 16-bit length is refused, naming the tag")
    func shortLengthOverflow() throws {
        let element = DataElement(tag: Tag(0x0008, 0x0080), vr: .LO, bytes: Data(count: 70_000))
        do {
            _ = try DICOMWriter.encode(Dataset([element]), transferSyntax: .explicitVRLittleEndian)
            Issue.record("a 70000-byte LO was written in explicit VR")
        } catch {
            #expect(error.kind == .invalidValue)
            #expect(error.tag == Tag(0x0008, 0x0080))
        }
        // Implicit VR has 32-bit lengths throughout.
        #expect(try DICOMWriter.encode(Dataset([element]), transferSyntax: .implicitVRLittleEndian).count == 8 + 70_000)
    }

    @Test("Big endian and deflated syntaxes are refused", arguments: [TransferSyntax.explicitVRBigEndian, .deflatedExplicitVRLittleEndian])
    func refusedSyntaxes(_ syntax: TransferSyntax) throws {
        #expect(!DICOMWriter.canWrite(syntax))
        let dataset = try apiDataset()
        do {
            _ = try DICOMWriter.encode(dataset, transferSyntax: syntax)
            Issue.record("wrote \(syntax.uid)")
        } catch {
            #expect(error.kind == .unsupportedTransferSyntax)
        }
        do {
            _ = try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: syntax))
            Issue.record("wrote a Part 10 file in \(syntax.uid)")
        } catch {
            #expect(error.kind == .unsupportedTransferSyntax)
        }
    }

    // MARK: Encodings and lengths

    @Test("Implicit VR little endian on request")
    func implicitOnRequest() throws {
        let dataset = try apiDataset()
        var expected = Bytes(.implicitLE)
        expected.string(Tag(0x0008, 0x0016), .UI, Fixture.ctImageStorage)
        expected.string(Tag(0x0008, 0x0018), .UI, Fixture.instanceUID)
        expected.string(patientName, .PN, "Doe^Jane")
        expected.string(patientID, .LO, "12345")
        expected.us(Tag(0x0028, 0x0010), 4)
        #expect([UInt8](try DICOMWriter.encode(dataset, transferSyntax: .implicitVRLittleEndian)) == expected.bytes)

        let data = try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: .implicitVRLittleEndian))
        let read = try DICOMFile(data: data)
        #expect(read.transferSyntax == .implicitVRLittleEndian)
        #expect(read.meta.rawText(Tag(0x0002, 0x0010)) == "1.2.840.10008.1.2")
        #expect(read.warnings.isEmpty)
        #expect(data.suffix(expected.count) == Data(expected.bytes))
        #expect(read.dataset.string(patientName) == "Doe^Jane")
    }

    @Test("Defined and undefined lengths of sequences and items are kept",
          arguments: [FixtureEncoding.explicitLE, .implicitLE])
    func lengthsPreserved(_ encoding: FixtureEncoding) throws {
        let body = ReaderTests.nestedSequences(encoding)
        let file = try DICOMFile(data: Data(body))
        let syntax: TransferSyntax = encoding.explicit ? .explicitVRLittleEndian : .implicitVRLittleEndian
        #expect([UInt8](try DICOMWriter.encode(file.dataset, transferSyntax: syntax)) == body)
    }

    @Test("Explicit big endian input re-encodes as the same structure in little endian")
    func bigEndianToLittleEndian() throws {
        let file = try DICOMFile(data: Data(ReaderTests.nestedSequences(.explicitBE)))
        #expect(file.transferSyntax == .explicitVRBigEndian)
        let little = ReaderTests.nestedSequences(.explicitLE)
        #expect([UInt8](try DICOMWriter.encode(file.dataset, transferSyntax: .explicitVRLittleEndian)) == little)
    }

    @Test("Sequences built through the API get correct defined lengths")
    func apiSequences() throws {
        var leaf = Dataset()
        try leaf.setString("1.2.3", vr: .UI, for: Tag(0x0008, 0x1155))
        var middle = Dataset()
        middle.setSequence([leaf, Dataset()], for: Tag(0x0008, 0x1199), undefinedLength: false)
        var top = Dataset()
        try top.setString("X", vr: .CS, for: Tag(0x0008, 0x0060))
        top.setSequence([middle], for: Tag(0x0040, 0xA730), undefinedLength: false)
        top.setSequence([leaf], for: Tag(0x0040, 0xA731), undefinedLength: true)

        var expected = Bytes(.explicitLE)
        expected.string(Tag(0x0008, 0x0060), .CS, "X")
        expected.sequence(Tag(0x0040, 0xA730), undefinedLength: false, itemsUndefined: false, [
            { item in
                item.sequence(Tag(0x0008, 0x1199), undefinedLength: false, itemsUndefined: false, [
                    { $0.string(Tag(0x0008, 0x1155), .UI, "1.2.3") },
                    { _ in },
                ])
            },
        ])
        expected.sequence(Tag(0x0040, 0xA731), undefinedLength: true, itemsUndefined: false, [
            { $0.string(Tag(0x0008, 0x1155), .UI, "1.2.3") },
        ])
        #expect([UInt8](try DICOMWriter.encode(top, transferSyntax: .explicitVRLittleEndian)) == expected.bytes)
    }

    @Test("Encapsulated pixel data is written item by item; odd fragments are refused")
    func encapsulatedFragments() throws {
        var ds = try apiDataset()
        let fragments = [Data([0xFF, 0xD8, 0x01, 0x02]), Data(repeating: 7, count: 300)]
        ds.set(DataElement(tag: pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(offsetTable: Data([0, 0, 0, 0]), fragments: fragments)), hasUndefinedLength: true))
        let data = [UInt8](try DICOMWriter.encode(ds, transferSyntax: .jpegBaseline))
        var expected = Bytes(.explicitLE)
        expected.encapsulated(offsetTable: [0, 0, 0, 0], fragments: fragments.map { [UInt8]($0) })
        #expect(Array(data.suffix(expected.count)) == expected.bytes)

        ds.set(DataElement(tag: pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [Data([1, 2, 3])])), hasUndefinedLength: true))
        do {
            _ = try DICOMWriter.encode(ds, transferSyntax: .jpegBaseline)
            Issue.record("an odd-length fragment was written")
        } catch {
            #expect(error.kind == .invalidValue)
            #expect(error.tag == pixelData)
        }
    }

    // MARK: Atomic writes

    static func entries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test("Atomic write: the target appears whole, no temporary file is left")
    func atomicWrite() throws {
        let folder = try TestEnvironment.temporaryFolder("atomic")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/out.dcm"
        let file = DICOMFile(dataset: try apiDataset(), transferSyntax: .explicitVRLittleEndian)
        try file.write(to: path)
        #expect(Self.entries(folder) == ["out.dcm"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == DICOMWriter.encode(file))

        // Overwrite.
        var changed = file
        try changed.dataset.setString("Roe^Richard", vr: .PN, for: patientName)
        try changed.write(to: path)
        #expect(Self.entries(folder) == ["out.dcm"])
        #expect(try DICOMFile(contentsOf: path).dataset.string(patientName) == "Roe^Richard")

        // The target is a folder: rename fails, the temporary file goes.
        try FileManager.default.createDirectory(atPath: folder + "/taken", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: folder + "/taken/x", contents: Data())
        #expect(throws: DICOMError.self) { try file.write(to: folder + "/taken") }
        #expect(Self.entries(folder) == ["out.dcm", "taken"])

        // A missing folder: an I/O error naming the path, nothing created.
        do {
            try file.write(to: folder + "/missing/out.dcm")
            Issue.record("wrote into a missing folder")
        } catch {
            #expect(error.kind == .io)
            #expect(error.path?.hasPrefix(folder + "/missing/") == true)
        }
        #expect(Self.entries(folder) == ["out.dcm", "taken"])

        // A file that cannot be encoded leaves the old one untouched.
        var bad = file
        bad.dataset.set(DataElement(tag: Tag(0x0008, 0x0080), vr: .LO, bytes: Data(count: 70_000)))
        #expect(throws: DICOMError.self) { try bad.write(to: path) }
        #expect(try DICOMFile(contentsOf: path).dataset.string(patientName) == "Roe^Richard")
        #expect(Self.entries(folder) == ["out.dcm", "taken"])
    }
}

@Suite("Atomic files")
struct AtomicFileTests {
    /// A finished file or folder takes its final name (what an export does
    /// with a verified image or file-set); a missing one is an error naming it.
    @Test func renameDurablyMovesFilesAndFolders() throws {
        let root = NSTemporaryDirectory() + "atomic-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/.staging/DICOM", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("image".utf8).write(to: URL(fileURLWithPath: root + "/.staging/DICOM/IMG1"))
        try Data("iso".utf8).write(to: URL(fileURLWithPath: root + "/.out.iso.part"))

        try AtomicFile.renameDurably(root + "/.staging", to: root + "/OUT")
        try AtomicFile.renameDurably(root + "/.out.iso.part", to: root + "/out.iso")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/OUT/DICOM/IMG1")) == Data("image".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/out.iso")) == Data("iso".utf8))
        #expect(!FileManager.default.fileExists(atPath: root + "/.staging"))
        #expect(!FileManager.default.fileExists(atPath: root + "/.out.iso.part"))

        let error = #expect(throws: DICOMError.self) { try AtomicFile.renameDurably(root + "/missing", to: root + "/x") }
        #expect(error?.path == root + "/missing")
    }
}
