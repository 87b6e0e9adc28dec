// The Part 10 reader on fixtures built byte by byte (CoreTestSupport.Bytes):
// every encoding, raw data sets, sequences, encapsulated pixel data, CP-246,
// header mode, and the errors and warnings of broken input.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import DICOM
import struct DICOM.Tag

private let patientName = Tag(0x0010, 0x0010)
private let patientID = Tag(0x0010, 0x0020)
private let rows = Tag(0x0028, 0x0010)
private let columns = Tag(0x0028, 0x0011)
private let pixelData = Tag(0x7FE0, 0x0010)
private let privateCreator = Tag(0x0009, 0x0010)
private let privateElement = Tag(0x0009, 0x1001)
private let textValue = Tag(0x0040, 0xA160)
private let codeValue = Tag(0x0008, 0x0100)
private let referencedSOPInstanceUID = Tag(0x0008, 0x1155)
private let contentSequence = Tag(0x0040, 0xA730)
private let requestAttributesSequence = Tag(0x0040, 0x0275)
private let referencedImageSequence = Tag(0x0008, 0x1140)
private let referencedSOPSequence = Tag(0x0008, 0x1199)

/// The fixture of the encoding tests: a small header, a few binary VRs,
/// 4×4 16-bit pixels.
private func imageBody(_ encoding: FixtureEncoding) -> (bytes: [UInt8], pixelDataAt: Int, pixels: [UInt16]) {
    var b = Fixture.smallHeader(encoding, middle: { b in
        // Binary VRs whose byte order matters.
        b.fl(Tag(0x0018, 0x0013), -1024.25)
        b.sl(Tag(0x0018, 0x6020), -70000)
        b.fd(Tag(0x0018, 0x9087), 1.5)
        b.ss(Tag(0x0018, 0x9219), -2)
        b.at(Tag(0x0028, 0x0009), Tag(0x0018, 0x1063))
    })
    b.string(textValue, .UT, "long-length text")
    let pixels = (0..<16).map { UInt16($0 * 257) }
    let at = b.count
    b.ow(pixelData, pixels)
    return (b.bytes, at, pixels)
}

private func littleEndianBytes(_ words: [UInt16]) -> [UInt8] {
    words.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

@Suite("Reader")
struct ReaderTests {
    // MARK: Encodings

    @Test("Part 10 files in implicit LE, explicit LE and explicit BE", arguments: [FixtureEncoding.implicitLE, .explicitLE, .explicitBE])
    func part10Encodings(_ encoding: FixtureEncoding) throws {
        let body = imageBody(encoding)
        let data = Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: body.bytes)
        let file = try DICOMFile(data: data)
        let start = Fixture.datasetStart(transferSyntax: encoding.transferSyntaxUID)

        #expect(file.transferSyntax.uid == encoding.transferSyntaxUID)
        #expect(file.hasFileMeta)
        #expect(file.preamble?.count == 128)
        #expect(file.datasetOffset == start)
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        #expect(file.error == nil)
        #expect(file.meta.rawText(Tag(0x0002, 0x0010)) == encoding.transferSyntaxUID)
        #expect(file.dataset.rawText(patientName) == "Doe^Jane")
        #expect(file.dataset.rawText(Tag(0x0008, 0x0018)) == Fixture.instanceUID)
        // Binary values are little endian whatever the file's byte order.
        #expect(file.dataset[rows]?.valueBytes == [4, 0])
        #expect(file.dataset[pixelData]?.valueBytes == littleEndianBytes(body.pixels))
        #expect(file.pixelDataOffset == start + body.pixelDataAt)

        #expect(file.dataset.rawText(textValue) == "long-length text")
        // Implicit VR takes the VR from the dictionary (UN before it existed).
        if encoding.explicit || DataDictionary.entry(for: rows) != nil {
            #expect(file.dataset[rows]?.vr == .US)
            #expect(file.dataset.integer(rows) == 4)
            #expect(file.dataset.string(patientName) == "Doe^Jane")
            #expect(file.dataset.doubles(Tag(0x0018, 0x0013)) == [-1024.25])
            #expect(file.dataset.integers(Tag(0x0018, 0x6020)) == [-70000])
            #expect(file.dataset.doubles(Tag(0x0018, 0x9087)) == [1.5])
            #expect(file.dataset.integers(Tag(0x0018, 0x9219)) == [-2])
            #expect(file.dataset.integers(Tag(0x0028, 0x0009)) == [0x0018_1063])
            #expect(file.dataset[textValue]?.vr == .UT)
            #expect(file.dataset[pixelData]?.vr == .OW)
        }

        // In place, the same bytes and VR as the element (swapped from big
        // endian too); as read and once edited.
        var edited = file.dataset
        edited.set(DataElement(tag: Tag(0x0008, 0x0060), vr: .CS, bytes: Data("MR".utf8)))
        for dataset in [file.dataset, edited] {
            for tag in [rows, patientName, pixelData, Tag(0x0018, 0x6020)] {
                #expect(dataset.withValueBytes(tag) { raw, vr in ([UInt8](raw), vr) }.map { $0.0 } == dataset[tag]?.valueBytes)
                #expect(dataset.withValueBytes(tag) { _, vr in vr } == dataset[tag]?.vr)
            }
            #expect(dataset.withValueBytes(Tag(0x0010, 0x0030)) { _, _ in true } == nil)   // absent
        }
    }

    @Test("Deflated explicit VR little endian is inflated and read")
    func deflated() throws {
        let body = imageBody(.explicitLE)
        let uid = TransferSyntax.deflatedExplicitVRLittleEndian.uid
        let data = Fixture.part10(transferSyntax: uid, body: rawDeflate(body.bytes))
        let file = try DICOMFile(data: data)
        #expect(file.transferSyntax.isDeflated)
        #expect(file.error == nil)
        #expect(file.dataset.string(patientName) == "Doe^Jane")
        #expect(file.dataset.integer(columns) == 4)
        #expect(file.dataset[pixelData]?.valueBytes == littleEndianBytes(body.pixels))
        // Offsets in the inflated stream mean nothing in the file.
        #expect(file.pixelDataOffset == nil)

        // Broken deflate: an error that says so.
        var broken = [UInt8](data)
        let start = Fixture.datasetStart(transferSyntax: uid)
        for i in start..<(start + 16) { broken[i] = 0xFF }
        let error = readError(Data(broken))
        #expect(error?.kind == .badDeflate)
        #expect(error?.offset == start)
        let lenient = try DICOMFile(data: Data(broken), options: ReadOptions(lenient: true))
        #expect(lenient.error?.kind == .badDeflate)
        #expect(lenient.hasFileMeta)
    }

    @Test("Header mode reads a deflated file longer than the first probe")
    func deflatedHeaderLongerThanProbe() throws {
        // Random bytes do not compress: the deflated stream outgrows 16 KB.
        var generator = SeededGenerator(seed: 7)
        var b = Fixture.smallHeader(.explicitLE, group9: { b in
            b.element(Tag(0x0009, 0x0010), .LO, Array("ACME".utf8))
            b.element(Tag(0x0009, 0x1001), .OB, (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        })
        b.ow(pixelData, [UInt16](repeating: 7, count: 1024))
        let uid = TransferSyntax.deflatedExplicitVRLittleEndian.uid
        let data = Fixture.part10(transferSyntax: uid, body: rawDeflate(b.bytes))
        #expect(data.count > 2 * DICOMFile.headerProbeSize)
        let file = try DICOMFile(size: data.count, path: nil, options: .header) { count throws(DICOMError) in
            data.prefix(count)
        }
        #expect(file.error == nil)
        #expect(file.dataset[Tag(0x0009, 0x1001)]?.valueBytes.count == 40_000)
        #expect(file.dataset[pixelData] == nil)
    }

    // MARK: Raw data sets and odd file meta

    @Test("Raw data sets without preamble or meta: the encoding is detected from the content",
          arguments: [FixtureEncoding.implicitLE, .explicitLE, .explicitBE])
    func rawDataset(_ encoding: FixtureEncoding) throws {
        let body = imageBody(encoding)
        let file = try DICOMFile(data: Data(body.bytes))
        #expect(file.transferSyntax.uid == encoding.transferSyntaxUID)
        #expect(!file.hasFileMeta)
        #expect(file.preamble == nil)
        #expect(file.datasetOffset == 0)
        #expect(file.dataset.rawText(patientName) == "Doe^Jane")
        #expect(file.dataset[rows]?.valueBytes == [4, 0])
        #expect(file.pixelDataOffset == body.pixelDataAt)
    }

    @Test("\"DICM\" without preamble, and meta without \"DICM\", read with a warning")
    func missingPreamble() throws {
        let body = imageBody(.explicitLE).bytes
        let meta = Fixture.meta(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID)

        let dicmOnly = try DICOMFile(data: Data(Array("DICM".utf8) + meta + body))
        #expect(dicmOnly.hasFileMeta && dicmOnly.preamble == nil)
        #expect(dicmOnly.datasetOffset == 4 + meta.count)
        #expect(dicmOnly.dataset.string(patientName) == "Doe^Jane")
        #expect(dicmOnly.warnings.contains { $0.kind == .malformed && $0.offset == 0 })

        let metaOnly = try DICOMFile(data: Data(meta + body))
        #expect(metaOnly.hasFileMeta && metaOnly.preamble == nil)
        #expect(metaOnly.datasetOffset == meta.count)
        #expect(metaOnly.dataset.string(patientName) == "Doe^Jane")
        #expect(!metaOnly.warnings.isEmpty)
    }

    @Test("Meta without (0002,0010): the encoding is detected, with a warning",
          arguments: [FixtureEncoding.implicitLE, .explicitLE, .explicitBE])
    func metaWithoutTransferSyntax(_ encoding: FixtureEncoding) throws {
        let body = imageBody(encoding)
        let file = try DICOMFile(data: Fixture.part10(transferSyntax: nil, body: body.bytes))
        #expect(file.transferSyntax.uid == encoding.transferSyntaxUID)
        #expect(file.hasFileMeta)
        #expect(file.meta[Tag(0x0002, 0x0010)] == nil)
        #expect(file.dataset.rawText(patientName) == "Doe^Jane")
        #expect(file.dataset[pixelData]?.valueBytes == littleEndianBytes(body.pixels))
        let start = Fixture.datasetStart(transferSyntax: nil)
        #expect(file.warnings.contains { $0.kind == .malformed && $0.offset == start && $0.message.contains("(0002,0010)") })
    }

    @Test("A declared transfer syntax that contradicts the content yields to the content")
    func declaredSyntaxContradictsContent() throws {
        let body = imageBody(.implicitLE)
        let file = try DICOMFile(data: Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: body.bytes))
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataset.rawText(patientName) == "Doe^Jane")
        #expect(file.warnings.contains { $0.kind == .malformed })
    }

    @Test("A data set starting with a command-group element (0000,1000) stays little endian",
          arguments: [FixtureEncoding.explicitLE, .implicitLE])
    func commandGroupFirst(_ encoding: FixtureEncoding) throws {
        // Found by FuzzTests: group 0000 reads the same in both byte orders,
        // and an element number above 0FFF made the content look big endian,
        // overriding the declared syntax.
        var b = Bytes(encoding)
        b.string(Tag(0x0000, 0x1000), .UI, "1.2.3.4")
        b.string(Tag(0x0008, 0x0060), .CS, "CT")
        b.string(patientName, .PN, "Doe^Jane")
        for data in [Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: b.bytes), Data(b.bytes)] {
            let file = try DICOMFile(data: data)
            #expect(file.transferSyntax.uid == encoding.transferSyntaxUID)
            #expect(file.dataset.rawText(patientName) == "Doe^Jane")
            #expect(file.warnings.isEmpty, "\(file.warnings)")
        }
        // And a big-endian data set starting with group 0000 is still big endian.
        var be = Bytes(.explicitBE)
        be.string(Tag(0x0000, 0x1000), .UI, "1.2.3.4")
        be.string(patientName, .PN, "Doe^Jane")
        let file = try DICOMFile(data: Data(be.bytes))
        #expect(file.transferSyntax == .explicitVRBigEndian)
        #expect(file.dataset.rawText(patientName) == "Doe^Jane")
    }

    @Test("Repeated and out-of-order elements are kept in tag order, with a warning")
    func repeatedAndOutOfOrder() throws {
        var b = Bytes(.explicitLE)
        b.string(Tag(0x0008, 0x0060), .CS, "CT")
        b.mark(patientID); b.string(patientID, .LO, "LATER")
        b.mark(patientName); b.string(patientName, .PN, "Doe^Jane")
        b.string(Tag(0x0020, 0x0010), .SH, "1")
        b.mark(Tag(0x0020, 0x0010)); b.string(Tag(0x0020, 0x0010), .SH, "2")
        let file = try DICOMFile(data: Data(b.bytes))
        #expect(file.dataset.tags == [Tag(0x0008, 0x0060), patientName, patientID, Tag(0x0020, 0x0010)])
        #expect(file.dataset.rawText(Tag(0x0020, 0x0010)) == "2")
        #expect(file.warnings.map(\.tag) == [patientName, Tag(0x0020, 0x0010)])
        #expect(file.warnings.map(\.offset) == [b.marks[patientName], b.marks[Tag(0x0020, 0x0010)]])
        #expect(file.warnings.allSatisfy { $0.kind == .malformed })
    }

    @Test("Meta only, no data set")
    func metaOnly() throws {
        let file = try DICOMFile(data: Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: []))
        #expect(file.hasFileMeta)
        #expect(file.dataset.isEmpty)
        #expect(file.error == nil)
    }

    // MARK: Sequences

    /// Four levels of nesting, every combination of defined and undefined
    /// sequence and item lengths, an empty sequence and an empty item.
    /// Returns the bytes and the data-set offsets of the items, in the
    /// order they start.
    static func nestedSequences(_ encoding: FixtureEncoding, allUndefined: Bool = false) -> [UInt8] {
        var b = Bytes(encoding)
        b.string(Tag(0x0008, 0x0060), .CS, "SR")
        b.sequence(referencedImageSequence, undefinedLength: false, itemsUndefined: false, [])   // empty, defined length
        b.string(patientName, .PN, "Nest^Ed")
        b.sequence(requestAttributesSequence, undefinedLength: true, itemsUndefined: true, [
            { item in
                item.string(codeValue, .SH, "CODE1")
                item.sequence(contentSequence, undefinedLength: allUndefined, itemsUndefined: allUndefined, [
                    { item in
                        item.string(Tag(0x0040, 0xA040), .CS, "CONTAINER")
                        item.sequence(contentSequence, undefinedLength: true, itemsUndefined: false, [
                            { item in
                                item.sequence(referencedSOPSequence, undefinedLength: allUndefined, itemsUndefined: true, [
                                    { item in item.string(referencedSOPInstanceUID, .UI, "1.2.3.4.5") },
                                    { item in item.string(referencedSOPInstanceUID, .UI, "1.2.3.4.6") },
                                ])
                                item.string(Tag(0x0040, 0xA040), .CS, "TEXT")
                                item.string(textValue, .UT, "deep")
                            },
                        ])
                    },
                ])
            },
            { _ in },   // empty item
        ])
        b.string(Tag(0x0040, 0xA493), .CS, "AFTER")
        return b.bytes
    }

    @Test("Sequences nested four levels, defined and undefined lengths",
          arguments: [FixtureEncoding.explicitLE, .explicitBE, .implicitLE])
    func nestedSequenceStructure(_ encoding: FixtureEncoding) throws {
        // Implicit VR needs the dictionary to know that a defined-length
        // element is a sequence; without it, only undefined lengths say so.
        let dictionaryKnowsSQ = DataDictionary.entry(for: contentSequence)?.vr == .SQ
        let allUndefined = !encoding.explicit && !dictionaryKnowsSQ
        let body = Self.nestedSequences(encoding, allUndefined: allUndefined)
        let data = Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: body)
        let file = try DICOMFile(data: data)
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        let ds = file.dataset
        #expect(ds.rawText(patientName) == "Nest^Ed")
        #expect(ds.rawText(Tag(0x0040, 0xA493)) == "AFTER")
        if encoding.explicit || dictionaryKnowsSQ {
            #expect(ds[referencedImageSequence]?.items?.isEmpty == true)
        }

        let top = try #require(ds[requestAttributesSequence])
        #expect(top.hasUndefinedLength)
        let items = try #require(top.items)
        #expect(items.count == 2)
        #expect(items[0].isUndefinedLengthItem && items[1].isUndefinedLengthItem)
        #expect(items[1].isEmpty)
        #expect(items[0].rawText(codeValue) == "CODE1")

        let level2 = try #require(items[0][contentSequence])
        #expect(level2.hasUndefinedLength == allUndefined)
        let level2Item = try #require(level2.items?.first)
        #expect(level2Item.isUndefinedLengthItem == allUndefined)
        #expect(level2Item.rawText(Tag(0x0040, 0xA040)) == "CONTAINER")

        let level3 = try #require(level2Item[contentSequence])
        #expect(level3.hasUndefinedLength)
        let level3Item = try #require(level3.items?.first)
        #expect(!level3Item.isUndefinedLengthItem)
        #expect(level3Item.rawText(textValue) == "deep")

        let level4 = try #require(level3Item[referencedSOPSequence])
        #expect(level4.hasUndefinedLength == allUndefined)
        let leaves = try #require(level4.items)
        #expect(leaves.map { $0.rawText(referencedSOPInstanceUID) } == ["1.2.3.4.5", "1.2.3.4.6"])
        #expect(leaves.allSatisfy { $0.isUndefinedLengthItem })

        // Item offsets point at the item tags in the file.
        let bytes = [UInt8](data)
        var itemTag = Bytes(encoding)
        itemTag.tag(.item)
        for item in [items[0], items[1], level2Item, level3Item] + leaves {
            let offset = try #require(item.itemOffset)
            #expect(Array(bytes[offset..<(offset + 4)]) == itemTag.bytes)
        }
    }

    @Test("Items of a top-level sequence handed over one by one, nested sequences kept in them",
          arguments: [FixtureEncoding.explicitLE, .explicitBE, .implicitLE])
    func handingItemsOver(_ encoding: FixtureEncoding) throws {
        let dictionaryKnowsSQ = DataDictionary.entry(for: contentSequence)?.vr == .SQ
        let data = Fixture.part10(transferSyntax: encoding.transferSyntaxUID,
                                  body: Self.nestedSequences(encoding, allUndefined: !encoding.explicit && !dictionaryKnowsSQ))
        let whole = try DICOMFile(data: data)
        let kept = try #require(whole.dataset[requestAttributesSequence]?.items)
        var handed: [Dataset] = []
        let file = try DICOMFile(data: data, handingItemsOf: requestAttributesSequence) { handed.append($0) }
        // The same items, at the same offsets, with what they hold.
        #expect(handed.count == 2)
        #expect(handed.map(\.itemOffset) == kept.map(\.itemOffset))
        #expect(handed.map(\.isUndefinedLengthItem) == [true, true])
        #expect(handed[0].rawText(codeValue) == "CODE1")
        #expect(handed[0][contentSequence]?.items?.first?.rawText(Tag(0x0040, 0xA040)) == "CONTAINER")
        #expect(handed[1].isEmpty)
        // The element stays, without items; the rest of the data set is read on.
        let element = try #require(file.dataset[requestAttributesSequence])
        #expect(element.items?.isEmpty == true && element.hasUndefinedLength)
        #expect(file.dataset.rawText(Tag(0x0040, 0xA493)) == "AFTER")
        #expect(file.warnings.isEmpty && file.error == nil)
        // Only the top-level sequence named: a nested one of the same tag is not handed over.
        var nested = 0
        _ = try DICOMFile(data: data, handingItemsOf: contentSequence) { _ in nested += 1 }
        #expect(nested == 0)
    }

    @Test("Items handed over before a fault stay handed over (lenient read)")
    func handingItemsOverUpToAFault() throws {
        var b = Bytes(.explicitLE)
        b.sequence(requestAttributesSequence, undefinedLength: true, itemsUndefined: false, [
            { item in item.string(codeValue, .SH, "ONE") },
            { item in item.string(codeValue, .SH, "TWO") },
        ])
        // Cut inside the second item: its length runs past the end of the file.
        let body = Array(b.bytes.prefix(b.bytes.count - 12))
        let data = Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: body)
        var handed: [String?] = []
        let file = try DICOMFile(data: data, options: ReadOptions(lenient: true), handingItemsOf: requestAttributesSequence) {
            handed.append($0.rawText(codeValue))
        }
        #expect(handed == ["ONE"])
        #expect(file.error?.kind == .lengthOutOfBounds)
        #expect(throws: DICOMError.self) {
            try DICOMFile(data: data, handingItemsOf: requestAttributesSequence) { _ in }
        }
    }

    @Test("Depth beyond maximumDepth is an error, not a stack overflow")
    func tooDeep() throws {
        func nest(_ levels: Int, _ b: inout Bytes) {
            if levels == 0 { b.string(codeValue, .SH, "BOTTOM"); return }
            b.sequence(contentSequence, undefinedLength: true, itemsUndefined: true, [{ nest(levels - 1, &$0) }])
        }
        var shallow = Bytes(.explicitLE)
        shallow.string(Tag(0x0008, 0x0060), .CS, "SR")
        nest(5, &shallow)
        #expect(readError(Data(shallow.bytes), options: ReadOptions(maximumDepth: 5)) == nil)
        #expect(readError(Data(shallow.bytes), options: ReadOptions(maximumDepth: 4))?.kind == .tooDeep)

        var deep = Bytes(.explicitLE)
        deep.string(Tag(0x0008, 0x0060), .CS, "SR")
        nest(10_000, &deep)
        let error = readError(Data(deep.bytes))
        #expect(error?.kind == .tooDeep)
        #expect(error?.tag == contentSequence)
        let lenient = try DICOMFile(data: Data(deep.bytes), options: ReadOptions(lenient: true))
        #expect(lenient.error?.kind == .tooDeep)
    }

    // MARK: Encapsulated pixel data

    @Test("Encapsulated pixel data: offset table and fragments kept byte for byte")
    func encapsulated() throws {
        let offsetTable: [UInt8] = [0, 0, 0, 0, 0x1A, 0, 0, 0]
        let fragments: [[UInt8]] = [
            [0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0x11, count: 12) + [0xFF, 0xD9, 0x00, 0x00],
            [0xFF, 0xD8] + (0..<200).map { UInt8($0 & 0xFF) } + [0xFF, 0xD9],
            [],   // an empty fragment is legal
        ]
        var b = Fixture.smallHeader(.explicitLE)
        let at = b.count
        b.encapsulated(offsetTable: offsetTable, fragments: fragments)
        let uid = TransferSyntax.jpegBaseline.uid
        let data = Fixture.part10(transferSyntax: uid, body: b.bytes)
        let file = try DICOMFile(data: data)
        #expect(file.transferSyntax == .jpegBaseline)
        let element = try #require(file.dataset[pixelData])
        #expect(element.vr == .OB && element.hasUndefinedLength)
        let encapsulated = try #require(element.fragments)
        #expect(encapsulated.offsetTable.byteArray == offsetTable)
        #expect(encapsulated.fragments.map(\.byteArray) == fragments)
        #expect(file.pixelDataOffset == Fixture.datasetStart(transferSyntax: uid) + at)
        #expect(try DICOMWriter.encode(file) == data)

        // Empty offset table, one fragment.
        var c = Fixture.smallHeader(.explicitLE)
        c.encapsulated(offsetTable: [], fragments: [[1, 2, 3, 4]])
        let single = try DICOMFile(data: Data(c.bytes))
        #expect(single.dataset[pixelData]?.fragments == EncapsulatedPixelData(offsetTable: Data(), fragments: [Data([1, 2, 3, 4])]))
    }

    @Test("Undefined-length pixel data in implicit VR is encapsulated, even without a dictionary VR")
    func implicitEncapsulated() throws {
        // Seen in the wild (pydicom's SC_rgb_jpeg.dcm): JPEG declared, data
        // set written implicit VR. The fragments must not be parsed as items.
        var b = Fixture.smallHeader(.implicitLE)
        b.encapsulated(offsetTable: [], fragments: [[0xFF, 0xD8, 0xFF, 0xEE, 0x00, 0x0C, 0xFF, 0xD9]])
        let file = try DICOMFile(data: Fixture.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: b.bytes))
        let element = try #require(file.dataset[pixelData])
        #expect(element.fragments?.fragments.map(\.byteArray) == [[0xFF, 0xD8, 0xFF, 0xEE, 0x00, 0x0C, 0xFF, 0xD9]])
        #expect(element.vr == .OB)
    }

    // MARK: Private tags and CP-246

    @Test("Private tags, and UN of undefined length read as an implicit VR sequence (CP-246)")
    func privateAndUNSequence() throws {
        // (0009,0010) creator, (0009,1001) UN undefined length holding an
        // implicit VR LE sequence, (0009,1002) UN with a defined length,
        // (0011,1001) a private SQ.
        let b = Fixture.smallHeader(.explicitLE, group9: { b in
            b.string(privateCreator, .LO, "ACME 1.0")
            b.sequence(privateElement, vr: .UN, undefinedLength: true, itemsUndefined: true, itemEncoding: .implicitLE, [
                { item in
                    item.string(Tag(0x0009, 0x0010), .LO, "ACME 1.0")
                    item.string(Tag(0x0009, 0x1010), .LO, "inner")
                    item.sequence(Tag(0x0009, 0x1011), undefinedLength: true, itemsUndefined: false, [
                        { item in item.string(patientID, .LO, "NESTED") },
                    ])
                },
            ])
            b.element(Tag(0x0009, 0x1002), .UN, [1, 2, 3, 4])
        }, middle: { b in
            b.string(Tag(0x0011, 0x0010), .LO, "OTHER")
            b.sequence(Tag(0x0011, 0x1001), undefinedLength: false, itemsUndefined: false, [
                { item in item.string(patientName, .PN, "Private^Seq") },
            ])
        })
        let data = Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: b.bytes)
        let file = try DICOMFile(data: data)
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        #expect(file.dataset.rawText(privateCreator) == "ACME 1.0")

        let un = try #require(file.dataset[privateElement])
        #expect(un.vr == .UN && un.hasUndefinedLength)
        let item = try #require(un.items?.first)
        #expect(item.rawText(Tag(0x0009, 0x1010)) == "inner")
        #expect(item[Tag(0x0009, 0x1011)]?.items?.first?.rawText(patientID) == "NESTED")

        #expect(file.dataset[Tag(0x0009, 0x1002)]?.valueBytes == [1, 2, 3, 4])
        #expect(file.dataset[Tag(0x0011, 0x1001)]?.items?.first?.rawText(patientName) == "Private^Seq")
        // And back, byte for byte.
        #expect(try DICOMWriter.encode(file) == data)
    }

    @Test("Implicit VR: a private element of undefined length is a sequence")
    func implicitPrivateSequence() throws {
        let b = Fixture.smallHeader(.implicitLE, group9: { b in
            b.string(privateCreator, .LO, "ACME 1.0")
            b.sequence(privateElement, undefinedLength: true, itemsUndefined: true, [
                { item in item.string(patientID, .LO, "IN-PRIVATE") },
            ])
        })
        let data = Fixture.part10(transferSyntax: FixtureEncoding.implicitLE.transferSyntaxUID, body: b.bytes)
        let file = try DICOMFile(data: data)
        #expect(file.dataset[privateCreator]?.vr == .LO)
        #expect(file.dataset[privateElement]?.items?.first?.rawText(patientID) == "IN-PRIVATE")
        #expect(try DICOMWriter.encode(file) == data)
    }

    // MARK: Header mode

    /// A CT-like file: header, optional long private data, then `pixelBytes`
    /// of pixel data.
    static func bigFile(pixelBytes: Int, privateBytes: Int = 0) -> (data: Data, pixelDataAt: Int) {
        var b = Fixture.smallHeader(.explicitLE, group9: { b in
            if privateBytes > 0 {
                b.string(privateCreator, .LO, "ACME 1.0")
                b.element(privateElement, .OB, [UInt8](repeating: 0x5A, count: privateBytes))
            }
        })
        let at = b.count
        b.element(pixelData, .OW, [UInt8](repeating: 0x42, count: pixelBytes))
        let uid = FixtureEncoding.explicitLE.transferSyntaxUID
        return (Fixture.part10(transferSyntax: uid, body: b.bytes), Fixture.datasetStart(transferSyntax: uid) + at)
    }

    @Test("Header mode stops before pixel data, reports its offset and reads only a prefix")
    func headerMode() throws {
        let (data, pixelDataAt) = Self.bigFile(pixelBytes: 512 * 512 * 2)
        let folder = try TestEnvironment.temporaryFolder("header")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/ct.dcm"
        try data.write(to: URL(fileURLWithPath: path))

        let header = try DICOMFile(contentsOf: path, options: .header)
        #expect(header.dataset[pixelData] == nil)
        #expect(header.pixelDataOffset == pixelDataAt)
        #expect(header.fileSize == data.count)
        #expect(header.dataset.string(patientName) == "Doe^Jane")
        #expect(header.error == nil)

        // The same through a byte source that records what it is asked for.
        var requests: [Int] = []
        let viaPrefix = try DICOMFile(size: data.count, path: path, options: .header) { count throws(DICOMError) in
            requests.append(count)
            return data.prefix(count)
        }
        #expect(requests == [DICOMFile.headerProbeSize])
        #expect(viaPrefix.pixelDataOffset == pixelDataAt)

        // Full mode reads the pixel data and still reports where it starts.
        let full = try DICOMFile(contentsOf: path)
        #expect(full.dataset[pixelData]?.valueBytes.count == 512 * 512 * 2)
        #expect(full.pixelDataOffset == pixelDataAt)
    }

    @Test("A folder, a pipe or a missing file is an error naming it, in header and full mode")
    func notAFile() throws {
        let folder = try TestEnvironment.temporaryFolder("not-a-file")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A small folder (its size seeks to 4096) and a hashed one (2^63 - 1 on ext4).
        let big = folder + "/big"
        try FileManager.default.createDirectory(atPath: big, withIntermediateDirectories: true)
        for i in 0..<300 { FileManager.default.createFile(atPath: big + "/entry-with-a-long-name-\(i)", contents: nil) }
        let fifo = folder + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        var cases = [(folder, "is a directory"), (big, "is a directory"), (fifo, "cannot find its size"),
                     (folder + "/missing", "cannot open")]
        // A tmpfs folder cannot be sought to its end at all (EINVAL).
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isFolder), isFolder.boolValue {
            cases.append(("/dev/shm", "is a directory"))
        }
        for (path, message) in cases {
            for options in [ReadOptions.header, .full] {
                do {
                    _ = try DICOMFile(contentsOf: path, options: options)
                    Issue.record("\(path) was read")
                } catch {
                    #expect(error.kind == .io)
                    #expect(error.path == path)
                    #expect(error.message.hasPrefix(message), "\(path): \(error.message)")
                }
            }
        }
    }

    @Test("Header mode asks for more when the header outgrows the first probe")
    func longHeader() throws {
        let (data, pixelDataAt) = Self.bigFile(pixelBytes: 1 << 20, privateBytes: 40_000)
        var requests: [Int] = []
        let file = try DICOMFile(size: data.count, path: nil, options: .header) { count throws(DICOMError) in
            requests.append(count)
            return data.prefix(count)
        }
        #expect(file.pixelDataOffset == pixelDataAt)
        #expect(file.dataset[privateElement]?.valueBytes.count == 40_000)
        #expect(requests.first == DICOMFile.headerProbeSize)
        #expect(requests.count >= 2)
        #expect(requests.allSatisfy { $0 < data.count / 4 }, "\(requests)")
    }

    @Test("A header longer than the first probe reads on from where it stopped, as one read would",
          arguments: [FixtureEncoding.implicitLE, .explicitLE])
    func resumedHeader(_ encoding: FixtureEncoding) throws {
        // The first probe's end falls, in turn, on every kind of place: an
        // element header, a value, an odd-length element (a warning that
        // must be given once), a sequence item, an item delimiter.
        let start = DICOMFile.headerProbeSize - 4_096 + 3_300
        var cuts = 0
        defer { #expect(cuts > 150) }
        for fill in stride(from: start, through: start + 600, by: 2) {
            var b = Fixture.smallHeader(encoding, group9: { b in
                b.string(privateCreator, .LO, "ACME 1.0")
                b.element(privateElement, .OB, [UInt8](repeating: 0x5A, count: fill))
                b.element(Tag(0x0009, 0x1002), .LO, Array("ODD".utf8))
                b.sequence(Tag(0x0009, 0x1010), vr: .SQ, undefinedLength: true, itemsUndefined: fill % 4 == 0, [
                    { $0.string(codeValue, .SH, "T-A0100") },
                    { $0.string(codeValue, .SH, "T-B0200"); $0.string(Tag(0x0008, 0x0104), .LO, String(repeating: "x", count: 120)) },
                ])
                b.string(Tag(0x0009, 0x1020), .LO, String(repeating: "y", count: 60))
            })
            let at = b.count
            b.element(pixelData, .OW, [UInt8](repeating: 0x42, count: 64 * 1024))
            let data = Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: b.bytes)
            let pixelDataAt = Fixture.datasetStart(transferSyntax: encoding.transferSyntaxUID) + at
            guard pixelDataAt + 4 > DICOMFile.headerProbeSize else { continue }   // fits the first read
            cuts += 1

            var requests: [Int] = []
            let resumed = try DICOMFile(size: data.count, path: nil, options: .header) { count throws(DICOMError) in
                requests.append(count)
                return data.prefix(count)
            }
            let whole = try DICOMFile(data: data, options: .header)
            #expect(requests == [DICOMFile.headerProbeSize, DICOMFile.secondProbeSize], "fill \(fill)")
            #expect(resumed.pixelDataOffset == pixelDataAt)
            #expect(resumed.pixelDataOffset == whole.pixelDataOffset)
            #expect(resumed.dataset.tags == whole.dataset.tags, "fill \(fill)")
            for element in whole.dataset.elements {
                #expect(resumed.dataset[element.tag]?.valueBytes == element.valueBytes, "fill \(fill) \(element.tag)")
            }
            let items = resumed.dataset.items(Tag(0x0009, 0x1010))
            #expect(items.map { $0.rawText(codeValue) } == ["T-A0100", "T-B0200"], "fill \(fill)")
            #expect(resumed.warnings.map(\.description) == whole.warnings.map(\.description), "fill \(fill)")
            #expect(resumed.warnings.count == 1, "fill \(fill): \(resumed.warnings)")
            #expect(resumed.dataset.characterSet == whole.dataset.characterSet)
        }
    }

    @Test("Header mode on a 4 GiB file touches only its first kilobytes")
    func headerOfHugeFile() throws {
        // A sparse file whose pixel data claims 4 GiB − 16 bytes: reading it
        // whole would take seconds and gigabytes.
        var b = Fixture.smallHeader(.explicitLE)
        let at = b.count
        b.header(pixelData, .OW, length: 0xFFFF_FFF0)
        let uid = FixtureEncoding.explicitLE.transferSyntaxUID
        let head = Fixture.part10(transferSyntax: uid, body: b.bytes)
        let folder = try TestEnvironment.temporaryFolder("huge")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/huge.dcm"
        try head.write(to: URL(fileURLWithPath: path))
        #expect(truncate(path, off_t(head.count) + 0xFFFF_FFF0) == 0)

        let clock = ContinuousClock()
        var file: DICOMFile?
        let elapsed = try clock.measure { file = try DICOMFile(contentsOf: path, options: .header) }
        #expect(file?.pixelDataOffset == Fixture.datasetStart(transferSyntax: uid) + at)
        #expect(elapsed < .milliseconds(500), "header read took \(elapsed)")
    }

    @Test("Header mode without pixel data reads the whole data set")
    func headerWithoutPixelData() throws {
        let body = Fixture.smallHeader(.explicitLE).bytes
        let data = Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: body)
        let file = try DICOMFile(size: data.count, path: nil, options: .header) { count throws(DICOMError) in data.prefix(count) }
        #expect(file.pixelDataOffset == nil)
        #expect(file.dataset.count == 10)
        #expect(file.dataset.string(patientID) == "12345")
    }

    // MARK: Errors and warnings

    /// A Part 10 fixture with its file offsets: element starts by tag.
    struct Located {
        var data: [UInt8]
        var offsets: [Tag: Int]
    }

    static func located(_ encoding: FixtureEncoding = .explicitLE, _ build: (inout Bytes) -> Void) -> Located {
        var b = Bytes(encoding)
        build(&b)
        let start = Fixture.datasetStart(transferSyntax: encoding.transferSyntaxUID)
        let data = [UInt8](Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: b.bytes))
        return Located(data: data, offsets: b.marks.mapValues { $0 + start })
    }

    /// Reads `data` strictly, expecting `kind` at `offset` with `tag`, then
    /// leniently, expecting the same fault and the elements before it.
    func expectFault(_ data: [UInt8], kind: DICOMError.Kind, offset: Int, tag: Tag?, keeps: [Tag],
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let error = try #require(readError(Data(data)), "read without error", sourceLocation: sourceLocation)
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        #expect(error.offset == offset, "\(error)", sourceLocation: sourceLocation)
        #expect(error.tag == tag, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains("offset \(offset)"), sourceLocation: sourceLocation)

        let lenient = try DICOMFile(data: Data(data), options: ReadOptions(lenient: true))
        #expect(lenient.error == error, sourceLocation: sourceLocation)
        #expect(lenient.hasFileMeta, sourceLocation: sourceLocation)
        for tag in keeps {
            #expect(lenient.dataset[tag] != nil, "lenient read lost \(tag)", sourceLocation: sourceLocation)
        }
    }

    @Test("A file cut inside a value: length past the end, at the element's offset and tag")
    func truncatedValue() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(patientName); b.string(patientName, .PN, "Doe^Jane^Middle^Long")
        }
        let cut = Array(f.data.dropLast(6))
        try expectFault(cut, kind: .lengthOutOfBounds, offset: f.offsets[patientName]!, tag: patientName, keeps: [Tag(0x0008, 0x0060)])
        #expect(readError(Data(cut))?.message.contains("past the end of the file") == true)
    }

    @Test("A file cut inside an element header: truncated, at the element's offset", arguments: 1...7)
    func truncatedHeader(_ kept: Int) throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(patientName); b.string(patientName, .PN, "Doe^Jane")
        }
        let at = f.offsets[patientName]!
        let cut = Array(f.data[0..<(at + kept)])
        try expectFault(cut, kind: .truncated, offset: at, tag: kept >= 4 ? patientName : nil, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("A long-length header cut after its VR: truncated, with the tag")
    func truncatedLongHeader() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(textValue); b.string(textValue, .UT, "text")
        }
        let at = f.offsets[textValue]!
        try expectFault(Array(f.data[0..<(at + 10)]), kind: .truncated, offset: at, tag: textValue, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("A length past the end of its item names the element")
    func lengthPastItem() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            // The item says 12 bytes; its element (8 + 8) needs 16.
            b.mark(referencedImageSequence)
            b.header(referencedImageSequence, .SQ, length: 20)
            b.tag(.item); b.u32(12)
            b.mark(referencedSOPInstanceUID)
            b.string(referencedSOPInstanceUID, .UI, "1.2.3.45")
            b.string(patientName, .PN, "After^Seq")
        }
        try expectFault(f.data, kind: .lengthOutOfBounds, offset: f.offsets[referencedSOPInstanceUID]!,
                        tag: referencedSOPInstanceUID, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("An item longer than its sequence names the sequence")
    func itemPastSequence() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(referencedImageSequence)
            b.header(referencedImageSequence, .SQ, length: 16)
            b.mark(.item)
            b.tag(.item); b.u32(16)
            b.string(referencedSOPInstanceUID, .UI, "1.2.3.45")
        }
        try expectFault(f.data, kind: .lengthOutOfBounds, offset: f.offsets[.item]!, tag: referencedImageSequence, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("A bad VR names the offset and tag")
    func badVR() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(patientName); b.tag(patientName); b.bytes += Array("ZZ".utf8); b.u16(4); b.bytes += Array("Doe ".utf8)
            b.string(patientID, .LO, "1")
        }
        try expectFault(f.data, kind: .invalidVR, offset: f.offsets[patientName]!, tag: patientName, keeps: [Tag(0x0008, 0x0060)])
        #expect(readError(Data(f.data))?.message.contains("\"ZZ\"") == true)
    }

    @Test("An undefined-length sequence without its delimiters is truncated")
    func unterminatedSequence() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(referencedImageSequence)
            b.header(referencedImageSequence, .SQ, length: 0xFFFF_FFFF)
            b.tag(.item); b.u32(0xFFFF_FFFF)
            b.string(referencedSOPInstanceUID, .UI, "1.2.3.45")
        }
        let error = try #require(readError(Data(f.data)))
        #expect(error.kind == .truncated)
        #expect(error.offset == f.data.count)
        let lenient = try DICOMFile(data: Data(f.data), options: ReadOptions(lenient: true))
        #expect(lenient.error == error)
        #expect(lenient.dataset[Tag(0x0008, 0x0060)] != nil)
    }

    @Test("Something other than an item in a sequence is malformed")
    func notAnItem() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.header(referencedImageSequence, .SQ, length: 0xFFFF_FFFF)
            b.mark(patientName)
            b.string(patientName, .PN, "Not^Item")
        }
        try expectFault(f.data, kind: .malformed, offset: f.offsets[patientName]!, tag: referencedImageSequence, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("Encapsulated pixel data cut inside a fragment")
    func truncatedFragment() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.header(pixelData, .OB, length: 0xFFFF_FFFF)
            b.tag(.item); b.u32(0)
            b.mark(.item)
            b.tag(.item); b.u32(64); b.bytes += [UInt8](repeating: 1, count: 10)
        }
        try expectFault(f.data, kind: .lengthOutOfBounds, offset: f.offsets[.item]!, tag: pixelData, keeps: [Tag(0x0008, 0x0060)])
    }

    @Test("Not DICOM at all", arguments: [
        [UInt8](), [0x00], Array("DIC".utf8), Array("%PDF-1.4\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".utf8),
        [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01],
    ])
    func notDICOM(_ bytes: [UInt8]) throws {
        let error = try #require(readError(Data(bytes)))
        #expect(error.kind == .notDICOM || error.kind == .truncated, "\(error)")
        #expect(error.offset != nil)
    }

    @Test("Odd value lengths are read, with a warning naming offset and tag")
    func oddLength() throws {
        let f = Self.located { b in
            b.string(Tag(0x0008, 0x0060), .CS, "CT")
            b.mark(patientName); b.element(patientName, .PN, Array("Doe^Janet".utf8))
            b.string(patientID, .LO, "12")
        }
        let file = try DICOMFile(data: Data(f.data))
        #expect(file.error == nil)
        #expect(file.dataset[patientName]?.valueBytes == Array("Doe^Janet".utf8))
        #expect(file.dataset.string(patientID) == "12")
        let warning = try #require(file.warnings.first)
        #expect(file.warnings.count == 1)
        #expect(warning.kind == .oddLength)
        #expect(warning.offset == f.offsets[patientName])
        #expect(warning.tag == patientName)
    }

    @Test("Stray delimiters at the top level are skipped with a warning")
    func strayDelimiters() throws {
        var b = Fixture.smallHeader(.explicitLE)
        b.tag(.itemDelimitationItem); b.u32(0)
        b.element(Tag(0x0040, 0xA493), .CS, Array("AFTER ".utf8))
        b.tag(.sequenceDelimitationItem); b.u32(0)
        let file = try DICOMFile(data: Data(b.bytes))
        #expect(file.dataset.rawText(Tag(0x0040, 0xA493)) == "AFTER")
        #expect(file.warnings.filter { $0.kind == .malformed }.count == 2)
    }

    @Test("Values keep their place in a larger buffer: slices are read from startIndex")
    func slicedInput() throws {
        // The reader is handed a slice that does not start at index 0.
        let body = imageBody(.explicitLE)
        let whole = Data([0xAA, 0xBB, 0xCC]) + Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: body.bytes)
        let slice = whole[3...]
        let file = try DICOMFile(data: slice)
        #expect(file.dataset.string(patientName) == "Doe^Jane")
        #expect(file.dataset[pixelData]?.valueBytes == littleEndianBytes(body.pixels))
        #expect(try DICOMWriter.encode(file) == Data(slice))
    }
}
