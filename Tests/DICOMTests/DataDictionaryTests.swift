import Testing
@testable import DICOM

@Suite("Data dictionary")
struct DataDictionaryTests {
    /// Parsers take VRs from a table of their own (`vrChoice`), built apart
    /// from the full entries: it must agree with them on every entry, masks
    /// included, and on the fallbacks.
    @Test func vrTableAgreesWithEntries() {
        for entry in DataDictionary.allEntries {
            // A mask's free digits: try zero and the highest even group.
            var tags = [entry.tag]
            if entry.isRepeatingGroup, entry.tag.group & 0xFF00 == 0x5000 || entry.tag.group & 0xFF00 == 0x6000 {
                tags.append(Tag(entry.tag.group | 0x1E, entry.tag.element))
            }
            for tag in tags {
                let full = DataDictionary.entry(for: tag)
                let choice = DataDictionary.vrChoice(for: tag)
                #expect(choice?.vr == full?.vr, "\(tag) \(entry.keyword)")
                let alternates = full?.alternateVRs ?? []
                let expected: VR? = alternates.contains(.SS) ? .SS : alternates.contains(.OW) ? .OW : alternates.first
                #expect(choice?.alternative == expected, "\(tag) \(entry.keyword)")
                #expect(DataDictionary.vr(for: tag) == full?.vr)
            }
        }
        for tag in [Tag(0x0009, 0x0010), Tag(0x0011, 0x0000), Tag(0x0009, 0x1001), Tag(0x0101, 0x0001), Tag(0x6003, 0x3000)] {
            #expect(DataDictionary.vrChoice(for: tag)?.vr == DataDictionary.entry(for: tag)?.vr, "\(tag)")
        }
    }

    @Test func patientName() throws {
        let entry = try #require(DataDictionary.entry(for: Tag(0x0010, 0x0010)))
        #expect(entry.tag == Tag(0x0010, 0x0010))
        #expect(entry.vr == .PN)
        #expect(entry.vrText == "PN")
        #expect(entry.alternateVRs.isEmpty)
        #expect(!entry.hasAmbiguousVR)
        #expect(entry.vm == "1")
        #expect(entry.keyword == "PatientName")
        #expect(entry.name == "Patient's Name")
        #expect(!entry.isRetired)
        #expect(!entry.isRepeatingGroup)
        #expect(entry.tagPattern == "00100010")
        #expect(DataDictionary.vr(for: .patientName) == .PN)
    }

    @Test func ambiguousVRs() throws {
        let pixelData = try #require(DataDictionary.entry(for: Tag(0x7FE0, 0x0010)))
        #expect(pixelData.keyword == "PixelData")
        #expect(pixelData.vrText == "OB or OW")
        #expect(pixelData.vr == .OB)
        #expect(pixelData.alternateVRs == [.OW])
        #expect(pixelData.allowedVRs == [.OB, .OW])

        let smallest = try #require(DataDictionary.entry(for: Tag(0x0028, 0x0106)))
        #expect(smallest.keyword == "SmallestImagePixelValue")
        #expect(smallest.vrText == "US or SS")
        #expect(smallest.vr == .US)
        #expect(smallest.alternateVRs == [.SS])

        let gray = try #require(DataDictionary.entry(for: Tag(0x0028, 0x1200)))
        #expect(gray.vrText == "US or SS or OW")
        #expect(gray.allowedVRs == [.US, .SS, .OW])
        #expect(gray.isRetired)
    }

    @Test func itemsAndDelimitersHaveNoVR() throws {
        for tag in [Tag.item, .itemDelimitationItem, .sequenceDelimitationItem] {
            let entry = try #require(DataDictionary.entry(for: tag))
            #expect(entry.vrText.isEmpty)
            #expect(entry.vr == .UN)
            #expect(entry.allowedVRs.isEmpty)
        }
        #expect(DataDictionary.entry(for: .item)?.keyword == "Item")
    }

    @Test func repeatingGroups() throws {
        let overlay = try #require(DataDictionary.entry(for: Tag(0x6002, 0x3000)))
        #expect(overlay.keyword == "OverlayData")
        #expect(overlay.vrText == "OB or OW")
        #expect(overlay.tag == Tag(0x6002, 0x3000))
        #expect(overlay.tagPattern == "60xx3000")
        #expect(overlay.isRepeatingGroup)

        #expect(DataDictionary.entry(for: Tag(0x6000, 0x0010))?.keyword == "OverlayRows")
        #expect(DataDictionary.entry(for: Tag(0x601E, 0x0011))?.keyword == "OverlayColumns")
        #expect(DataDictionary.entry(for: Tag(0x5004, 0x3000))?.keyword == "CurveData")
        #expect(DataDictionary.entry(for: Tag(0x0020, 0x3105))?.keyword == "SourceImageIDs")
        #expect(DataDictionary.entry(for: Tag(0x0028, 0x0410))?.keyword == "RowsForNthOrderCoefficients")
        #expect(DataDictionary.entry(for: Tag(0x1000, 0x0123))?.keyword == "HuffmanTableTriplet")
        #expect(DataDictionary.entry(for: Tag(0x1010, 0x1234))?.keyword == "ZonalMap")
        // 7Fxx masks match, but the exact (7FE0,0010) entry wins.
        #expect(DataDictionary.entry(for: Tag(0x7F02, 0x0010))?.keyword == "VariablePixelData")
        #expect(DataDictionary.entry(for: Tag(0x7FE0, 0x0010))?.keyword == "PixelData")
        // (0028,0400) is an exact entry inside the 002804x0 mask.
        #expect(DataDictionary.entry(for: Tag(0x0028, 0x0400))?.keyword == "TransformLabel")
    }

    @Test func masksDoNotMatchPrivateGroups() throws {
        // (6001,0010) is a private creator, not Overlay Rows.
        let creator = try #require(DataDictionary.entry(for: Tag(0x6001, 0x0010)))
        #expect(creator.keyword == "PrivateCreator")
        #expect(DataDictionary.entry(for: Tag(0x6001, 0x3000)) == nil)
    }

    @Test func privateCreator() throws {
        let entry = try #require(DataDictionary.entry(for: Tag(0x0009, 0x0010)))
        #expect(entry.vr == .LO)
        #expect(entry.name == "Private Creator")
        #expect(entry.tag == Tag(0x0009, 0x0010))
        #expect(DataDictionary.entry(for: Tag(0x0029, 0x00FF))?.vr == .LO)
        #expect(DataDictionary.vr(for: Tag(0x0029, 0x00FF)) == .LO)
        // Private data elements themselves are unknown to PS3.6.
        #expect(DataDictionary.entry(for: Tag(0x0009, 0x1001)) == nil)
        #expect(DataDictionary.entry(for: Tag(0x0009, 0x0100)) == nil)
        #expect(DataDictionary.vr(for: Tag(0x0009, 0x1001)) == nil)
    }

    @Test func groupLength() throws {
        let entry = try #require(DataDictionary.entry(for: Tag(0x0008, 0x0000)))
        #expect(entry.vr == .UL)
        #expect(entry.name == "Group Length")
        #expect(entry.tag == Tag(0x0008, 0x0000))
        #expect(DataDictionary.entry(for: Tag(0x0009, 0x0000))?.vr == .UL)
        #expect(DataDictionary.entry(for: Tag(0x1010, 0x0000))?.name == "Group Length")
        #expect(DataDictionary.entry(for: Tag(0x0002, 0x0000))?.keyword == "FileMetaInformationGroupLength")
        #expect(DataDictionary.entry(for: Tag(0x0000, 0x0000))?.keyword == "CommandGroupLength")
    }

    @Test func unknownTags() {
        #expect(DataDictionary.entry(for: Tag(0x0010, 0x9999)) == nil)
        #expect(DataDictionary.entry(for: Tag(0xFFFF, 0xFFFF)) == nil)
        #expect(DataDictionary.tag(forKeyword: "NoSuchKeyword") == nil)
        #expect(DataDictionary.tag(forKeyword: "") == nil)
    }

    @Test func keywords() throws {
        #expect(DataDictionary.tag(forKeyword: "PatientName") == Tag(0x0010, 0x0010))
        #expect(DataDictionary.tag(forKeyword: "SOPInstanceUID") == Tag(0x0008, 0x0018))
        #expect(DataDictionary.tag(forKeyword: "PixelData") == Tag(0x7FE0, 0x0010))
        #expect(DataDictionary.tag(forKeyword: "OverlayData") == Tag(0x6000, 0x3000))
        #expect(DataDictionary.entry(forKeyword: "Rows")?.vr == .US)
        #expect(DataDictionary.entry(forKeyword: "Item")?.tag == .item)
    }

    @Test func generatedTagConstants() {
        #expect(Tag.patientName == Tag(0x0010, 0x0010))
        #expect(Tag.patientID == Tag(0x0010, 0x0020))
        #expect(Tag.sopInstanceUID == Tag(0x0008, 0x0018))
        #expect(Tag.sopClassUID == Tag(0x0008, 0x0016))
        #expect(Tag.transferSyntaxUID == Tag(0x0002, 0x0010))
        #expect(Tag.uid == Tag(0x0040, 0xA124))
        #expect(Tag.rtPlanLabel == Tag(0x300A, 0x0002))
        #expect(Tag.xRayTubeCurrent == Tag(0x0018, 0x1151))
        #expect(Tag.pixelData == Tag(0x7FE0, 0x0010))
        #expect(Tag.dBdt == Tag(0x0018, 0x1318))
        #expect(Tag.commandLengthToEnd == Tag(0x0000, 0x0001))   // retired, still there
    }

    @Test func everyKeywordRoundTrips() {
        let entries = DataDictionary.allEntries
        #expect(entries.count > 4000)
        #expect(entries.count == 5179)
        #expect(entries.filter(\.isRepeatingGroup).count == 88)
        #expect(entries == entries.sorted { $0.tag < $1.tag })
        for entry in entries where !entry.keyword.isEmpty {
            #expect(DataDictionary.tag(forKeyword: entry.keyword) == entry.tag)
            if !entry.isRepeatingGroup {
                #expect(DataDictionary.entry(for: entry.tag) == entry)
            }
            if !entry.vrText.isEmpty {
                // Every VR in the text parsed.
                #expect(entry.allowedVRs.map(\.rawValue).joined(separator: " or ") == entry.vrText)
            }
        }
    }
}

@Suite("UID registry")
struct UIDRegistryTests {
    @Test func transferSyntaxes() throws {
        let jpeg = try #require(UIDRegistry.info(for: "1.2.840.10008.1.2.4.50"))
        #expect(jpeg.name == "JPEG Baseline (Process 1)")
        #expect(jpeg.type == "Transfer Syntax")
        #expect(jpeg.keyword == "JPEGBaseline8Bit")
        #expect(!jpeg.isRetired)
        #expect(UIDRegistry.name(for: "1.2.840.10008.1.2") == "Implicit VR Little Endian")
        #expect(UIDRegistry.info(for: "1.2.840.10008.1.2.2")?.isRetired == true)
        #expect(UIDRegistry.info(forKeyword: "ExplicitVRLittleEndian")?.uid == "1.2.840.10008.1.2.1")
    }

    @Test func sopClasses() throws {
        let sc = try #require(UIDRegistry.info(for: "1.2.840.10008.5.1.4.1.1.7"))
        #expect(sc.name == "Secondary Capture Image Storage")
        #expect(sc.name.contains("Secondary Capture"))
        #expect(sc.type == "SOP Class")
        #expect(UIDRegistry.name(for: "1.2.840.10008.1.1") == "Verification SOP Class")
    }

    @Test func unknownAndUnnamed() {
        #expect(UIDRegistry.info(for: "1.2.3.4") == nil)
        #expect(UIDRegistry.name(for: "1.2.3.4") == nil)
        #expect(UIDRegistry.name(for: "") == nil)
        // Listed by PS3.6 as retired, without a name.
        #expect(UIDRegistry.info(for: "1.2.840.10008.5.1.4.1.1.40")?.isRetired == true)
        #expect(UIDRegistry.name(for: "1.2.840.10008.5.1.4.1.1.40") == nil)
    }

    @Test func all() {
        #expect(UIDRegistry.all.count == 482)
        #expect(Set(UIDRegistry.all.map(\.uid)).count == UIDRegistry.all.count)
    }
}
