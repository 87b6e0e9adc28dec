import Codecs
import DICOM
import Foundation
@testable import Jobs
import Media
import Store
import Testing

/// A small CT instance for the export job's tests: `overrides` set (or,
/// with an empty string, remove) any string attribute.
func exportFixture(sop: String, study: String = "1.2.826.0.1.3680043.10.9.70", series: String = "1.2.826.0.1.3680043.10.9.70.1",
                   overrides: [DICOM.Tag: String] = [:], transferSyntax: TransferSyntax = .explicitVRLittleEndian,
                   pixels: Bool = true) throws -> Data {
    var ds = Dataset()
    var strings: [DICOM.Tag: (VR, String)] = [
        .sopClassUID: (.UI, "1.2.840.10008.5.1.4.1.1.2"), .sopInstanceUID: (.UI, sop), .studyInstanceUID: (.UI, study),
        .seriesInstanceUID: (.UI, series), .patientID: (.LO, "777"), .patientName: (.PN, "KATO^ICHIRO"),
        .patientBirthDate: (.DA, "19400101"), .patientSex: (.CS, "M"), .studyDate: (.DA, "20240115"), .studyTime: (.TM, "093000"),
        .studyID: (.SH, "1"), .accessionNumber: (.SH, "A1"), .modality: (.CS, "CT"), .seriesNumber: (.IS, "1"),
        .instanceNumber: (.IS, "1"), .specificCharacterSet: (.CS, "ISO_IR 100"),
    ]
    for (tag, value) in overrides { strings[tag] = (DataDictionary.vr(for: tag) ?? .LO, value) }
    for (tag, (vr, value)) in strings where !value.isEmpty { try ds.setString(value, vr: vr, for: tag) }
    if !pixels { return try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: transferSyntax)) }
    ds.setIntegers([1], vr: .US, for: .samplesPerPixel)
    try ds.setString("MONOCHROME2", vr: .CS, for: .photometricInterpretation)
    ds.setIntegers([8], vr: .US, for: .rows)
    ds.setIntegers([8], vr: .US, for: .columns)
    ds.setIntegers([8], vr: .US, for: .bitsAllocated)
    ds.setIntegers([8], vr: .US, for: .bitsStored)
    ds.setIntegers([7], vr: .US, for: .highBit)
    ds.setIntegers([0], vr: .US, for: .pixelRepresentation)
    ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: Data((0..<64).map { UInt8($0 * 3) })))
    return try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: transferSyntax))
}

@Suite struct ExportJobTests {
    /// A temporary folder with a store home and a source folder.
    struct Scratch {
        let root = NSTemporaryDirectory() + "export-job-" + UUID().uuidString
        var source: String { root + "/source" }
        func put(_ name: String, _ data: Data) throws {
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: source + "/" + name))
        }
        /// `export --from source --format dir --out root/NAME`.
        func export(_ name: String, media: MediaKind? = nil, language: String = "ja", allowMultiPatient: Bool = false, invent: Bool = false,
                    xdm: Bool = false, capacity: Int64? = nil) throws -> ExportSummary {
            let store = try InstanceStore(home: root + "/home", options: .init(synchronous: false))
            let request = ExportRequest(selection: .all, format: .dir, output: root + "/" + name, media: media, language: language,
                                        allowMultiPatient: allowMultiPatient, invent: invent, xdm: xdm, medium: source,
                                        capacity: capacity, split: capacity != nil)
            return try ExportJob(store: store, request: request).run()
        }
        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test("one Patient ID of two issuers is two patients: refused as such, and two PATIENT records when allowed")
    func twoIssuersOfOneIDAreTwoPatients() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("a.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.70.1.1", overrides: [.issuerOfPatientID: "HOSP_A"]))
        try scratch.put("b.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.71.1.1", study: "1.2.826.0.1.3680043.10.9.71",
                                               series: "1.2.826.0.1.3680043.10.9.71.1",
                                               overrides: [.issuerOfPatientID: "HOSP_B", .patientName: "ITO^YUKI", .patientBirthDate: "19900909"]))
        #expect {
            try scratch.export("refused")
        } throws: { error in
            let text = "\(error)"
            return text.contains("2 patients") && text.contains("777 (issuer HOSP_A") && text.contains("777 (issuer HOSP_B")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/refused"))
        let summary = try scratch.export("allowed", allowMultiPatient: true)
        #expect(summary.patientIDs == ["777", "777"])
        let file = try DICOMFile(contentsOf: scratch.root + "/allowed/DICOMDIR")
        let directory = DICOMDirectory(file: file, path: "DICOMDIR")
        #expect(directory.records.filter { $0.level == .patient }.count == 2)
        // (0004,1202): the second patient, the end of the root chain (PS3.3 F.3.2.1), not the first again.
        let lastRoot = try #require(file.dataset[.offsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity]?.bytes.flatMap { DICOMBinary.integers($0, vr: .UL).first })
        #expect(lastRoot == directory.records.last { $0.level == .patient }?.offset)
    }

    @Test("an instance value a DICOMDIR record would copy but its VR does not allow (StudyDate 2024-01-01, Modality ct) is refused before anything is written, naming the file")
    func recordValuesTheirVRDoesNotAllowAreRefusedFirst() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("bad.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.93.1.1", study: "1.2.826.0.1.3680043.10.9.93",
                                                 series: "1.2.826.0.1.3680043.10.9.93.1",
                                                 overrides: [.studyDate: "2024-01-01", .modality: "ct"]))
        #expect {
            try scratch.export("refused")
        } throws: { error in
            let text = "\(error)"
            return text.contains("would copy values their VR does not allow") && text.contains("StudyDate (0008,0020) DA \"2024-01-01\"")
                && text.contains("Modality (0008,0060) CS \"ct\"") && text.contains("bad.dcm")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/refused"))
    }

    @Test("patients without a Patient ID are told apart by name: refused as two, two invented IDs when allowed")
    func patientsWithoutIDAreNotMerged() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("a.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.72.1.1", overrides: [.patientID: "", .patientName: "YAMADA^TARO"]))
        try scratch.put("b.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.73.1.1", study: "1.2.826.0.1.3680043.10.9.73",
                                               series: "1.2.826.0.1.3680043.10.9.73.1",
                                               overrides: [.patientID: "", .patientName: "SATO^HANAKO", .patientSex: "F"]))
        #expect {
            try scratch.export("refused", invent: true)
        } throws: { error in "\(error)".contains("2 patients") && "\(error)".contains("SATO^HANAKO") }
        let summary = try scratch.export("allowed", allowMultiPatient: true, invent: true)
        #expect(Set(summary.inventions.filter { $0.keyword == "PatientID" }.map(\.value)).count == 2)
    }
}

extension ExportJobTests {
    @Test("a private SOP class is left out of a STD-GEN file-set, named with why; the rest is written")
    func privateSOPClassesAreLeftOutAndNamed() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("ct.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.74.1.1"))
        try scratch.put("csa.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.74.1.2", overrides: [.sopClassUID: "1.3.12.2.1107.5.9.1"]))
        let summary = try scratch.export("out")
        #expect(summary.instances == 1)
        #expect(summary.leftOff.count == 1)
        #expect(summary.leftOff.first?.contains("csa.dcm: SOP class 1.3.12.2.1107.5.9.1") == true)
        #expect(summary.warnings.contains { $0.hasPrefix("left out: ") && $0.contains("csa.dcm") })
        let directory = DICOMDirectory(file: try DICOMFile(contentsOf: scratch.root + "/out/DICOMDIR"), path: "DICOMDIR")
        #expect(directory.records.filter { $0.level == .instance }.count == 1)
    }
}

extension ExportJobTests {
    @Test("a series without a thumbnail (SR, PDF) has no empty img element on its study page")
    func seriesWithoutThumbnailHasNoImg() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("ct.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.75.1.1"))
        try scratch.put("pdf.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.75.2.1", series: "1.2.826.0.1.3680043.10.9.75.2",
                                                overrides: [.sopClassUID: "1.2.840.10008.5.1.4.1.1.104.1", .modality: "DOC", .seriesNumber: "2",
                                                            DICOM.Tag(0x0042, 0x0012): "application/pdf"],
                                                pixels: false))
        _ = try scratch.export("out")
        let page = try String(contentsOfFile: scratch.root + "/out/IHE_PDI/STU00001.HTM", encoding: .utf8)
        #expect(page.components(separatedBy: "<img").count == 2)   // the CT's thumbnail only
        #expect(!page.contains("src=\"\""))
    }
}

extension ExportJobTests {
    /// A JPEG Baseline file whose data set a broken writer put in implicit
    /// VR (pydicom's SC_rgb_jpeg.dcm): meta (0002,0010) JPEG Baseline,
    /// implicit VR little endian content, encapsulated pixel data.
    static func jpegInImplicitVR(sop: String) throws -> (file: Data, jpeg: Data) {
        let jpeg = try LibJPEG.encode((0..<64).map { UInt8($0 * 3) }, width: 8, height: 8, components: 1, quality: 90)
        var ds = try DICOMFile(data: exportFixture(sop: sop)).dataset
        ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [jpeg])), hasUndefinedLength: true))
        let labelled = try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: .jpegBaseline))
        let offset = try DICOMFile(data: labelled, options: .header).datasetOffset
        return (labelled.prefix(offset) + (try DICOMWriter.encode(ds, transferSyntax: .implicitVRLittleEndian)), jpeg)
    }

    @Test("a JPEG file whose data set is implicit VR is decompressed for a CD and kept as JPEG Baseline (explicit VR) on USB; both verify")
    func encapsulatedPixelDataInImplicitVRIsReadAsItsDeclaredSyntax() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        let sop = "1.2.826.0.1.3680043.10.9.76.1.1"
        let (bytes, jpeg) = try Self.jpegInImplicitVR(sop: sop)
        try scratch.put("sc.dcm", bytes)
        func written(_ name: String) throws -> DICOMFile {
            try DICOMFile(contentsOf: scratch.root + "/" + name + "/DICOM/PAT00001/STU00001/SER00001/IMG00001")
        }

        let cd = try scratch.export("cd")
        #expect(cd.profile == "STD-GEN-CD")
        #expect(cd.rewritten[sop]?.contains("JPEG Baseline") == true && cd.rewritten[sop]?.contains("decompressed") == true)
        let native = try written("cd")
        #expect(native.transferSyntax == .explicitVRLittleEndian)
        guard case .bytes(let pixels)? = native.dataset[.pixelData]?.value else {
            Issue.record("the pixel data written for the CD is not native")
            return
        }
        #expect(pixels == (try LibJPEG.decode(jpeg)).samples)
        #expect(native.dataset.firstString(.lossyImageCompression) == "01")
        #expect(MediumVerifier().verify(path: scratch.root + "/cd").report.passed)

        let usb = try scratch.export("usb", media: .usb)
        #expect(usb.rewritten[sop]?.contains("Implicit VR Little Endian under JPEG Baseline") == true)
        let kept = try written("usb")
        #expect(kept.transferSyntax == .jpegBaseline && kept.warnings.isEmpty)
        guard case .fragments(let fragments)? = kept.dataset[.pixelData]?.value else {
            Issue.record("the pixel data written for USB is not encapsulated")
            return
        }
        #expect(fragments.fragments == [jpeg])
        #expect(MediumVerifier().verify(path: scratch.root + "/usb").report.passed)
    }

    @Test("a source whose encapsulated pixel data is labelled with a native syntax is left off by name: nothing to re-master")
    func encapsulatedPixelDataUnderANativeSyntaxIsNamed() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        var ds = try DICOMFile(data: exportFixture(sop: "1.2.826.0.1.3680043.10.9.77.1.1")).dataset
        ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [Data([0xFF, 0xD8, 0xFF, 0xD9])])),
                           hasUndefinedLength: true))
        try scratch.put("bad.dcm", try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian)))
        #expect {
            try scratch.export("out", media: .usb)
        } throws: { error in
            "\(error)".contains("bad.dcm: its Pixel Data is encapsulated") && "\(error)".contains("nothing to re-master")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/out"))
    }
}

extension ExportJobTests {
    @Test("several patients (one Patient ID of two issuers): README.TXT and INDEX.HTM name each, XDM has one subset each, a split volume names its own")
    func everyPatientIsNamedAsThePATIENTRecordsTellThemApart() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("a.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.78.1.1", study: "1.2.826.0.1.3680043.10.9.78",
                                               series: "1.2.826.0.1.3680043.10.9.78.1", overrides: [.issuerOfPatientID: "HOSP_A"]))
        try scratch.put("b.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.79.1.1", study: "1.2.826.0.1.3680043.10.9.79",
                                               series: "1.2.826.0.1.3680043.10.9.79.1",
                                               overrides: [.issuerOfPatientID: "HOSP_B", .patientName: "ITO^YUKI", .patientBirthDate: "19900909",
                                                           .studyDate: "20240201"]))
        _ = try scratch.export("en", language: "en", allowMultiPatient: true, xdm: true)
        let readme = try String(contentsOfFile: scratch.root + "/en/README.TXT", encoding: .utf8)
        #expect(readme.contains("medical images of 2 patients"))
        #expect(readme.contains("Patient     : KATO ICHIRO (ID 777, issuer HOSP_A, born 1940-01-01)"))
        #expect(readme.contains("Patient     : ITO YUKI (ID 777, issuer HOSP_B, born 1990-09-09)"))
        #expect(readme.contains("patient ITO YUKI (ID 777)"))
        let index = try String(contentsOfFile: scratch.root + "/en/INDEX.HTM", encoding: .utf8)
        #expect(index.contains("<title>DICOM medium: KATO ICHIRO, ITO YUKI</title>"))
        #expect(index.contains("<strong>KATO ICHIRO</strong> (ID 777, issuer HOSP_A, born 1940-01-01)"))
        #expect(index.contains("<strong>ITO YUKI</strong> (ID 777, issuer HOSP_B, born 1990-09-09)"))
        #expect(index.contains("<td>ITO YUKI (ID 777)</td><td>2024-02-01</td>"))
        let study2 = try String(contentsOfFile: scratch.root + "/en/IHE_PDI/STU00002.HTM", encoding: .utf8)
        #expect(study2.contains("Patient ITO YUKI (ID 777)"))
        // One submission set per patient, each with its own issuer and instance.
        for (subset, issuer, sop) in [(1, "HOSP_A", "1.2.826.0.1.3680043.10.9.78.1.1"), (2, "HOSP_B", "1.2.826.0.1.3680043.10.9.79.1.1")] {
            let path = scratch.root + "/en/" + XDMWriter.metadataPath(subset: subset)
            let xml = try String(contentsOfFile: path, encoding: .utf8)
            #expect(xml.contains("777^^^" + issuer))
            #expect(xml.contains(sop))
            #expect(xml.components(separatedBy: "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1").count - 1 == 1, "one DocumentEntry")
            #expect(index.contains(XDMWriter.metadataPath(subset: subset)))
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/en/" + XDMWriter.metadataPath(subset: 3)))

        // Japanese templates too.
        _ = try scratch.export("ja", allowMultiPatient: true)
        let readmeJA = try String(contentsOfFile: scratch.root + "/ja/README.TXT", encoding: .utf8)
        #expect(readmeJA.contains("患者様 2 名分"))
        #expect(readmeJA.contains("ITO YUKI (ID 777、発行者 HOSP_B、生年月日 1990-09-09)"))
        #expect(try String(contentsOfFile: scratch.root + "/ja/INDEX.HTM", encoding: .utf8).contains("<strong>ITO YUKI</strong>"))

        // Split one study per volume: each volume names its own patient only.
        let split = try scratch.export("split", language: "en", allowMultiPatient: true, capacity: 2_070_000)
        #expect(split.volumes.count == 2)
        var named: [String] = []
        for volume in 1...2 {
            let text = try String(contentsOfFile: scratch.root + "/split-\(volume)/README.TXT", encoding: .utf8)
            #expect(text.contains("medical images of one patient"))
            named += ["KATO ICHIRO (ID 777, issuer HOSP_A)", "ITO YUKI (ID 777, issuer HOSP_B)"].filter { text.contains("Patient     : " + $0) }
        }
        #expect(named.sorted() == ["ITO YUKI (ID 777, issuer HOSP_B)", "KATO ICHIRO (ID 777, issuer HOSP_A)"])
    }
}

extension ExportJobTests {
    @Test("the disc label names every patient of a medium of several (ID, issuer, birth date), a few and '+N more' when many")
    func theLabelNamesEveryPatientOnTheMedium() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        try scratch.put("a.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.80.1.1", study: "1.2.826.0.1.3680043.10.9.80",
                                               series: "1.2.826.0.1.3680043.10.9.80.1", overrides: [.issuerOfPatientID: "HOSP_A"]))
        try scratch.put("b.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.81.1.1", study: "1.2.826.0.1.3680043.10.9.81",
                                               series: "1.2.826.0.1.3680043.10.9.81.1",
                                               overrides: [.issuerOfPatientID: "HOSP_B", .patientName: "ITO^YUKI", .patientBirthDate: "19900909"]))
        func label(_ name: String) throws -> String { try String(contentsOfFile: scratch.root + "/\(name).label.svg", encoding: .utf8) }
        func times(_ text: String, _ part: String) -> Int { text.components(separatedBy: part).count - 1 }

        // Two patients: both named, on the disc and on the insert.
        _ = try scratch.export("en", language: "en", allowMultiPatient: true)
        let en = try label("en")
        #expect(en.contains(">2 patients</text>") && en.contains(">2 patients on this medium</text>"))
        #expect(times(en, ">KATO ICHIRO  ID 777 (HOSP_A)  Born 1940-01-01</text>") == 2)
        #expect(times(en, ">ITO YUKI  ID 777 (HOSP_B)  Born 1990-09-09</text>") == 2)
        #expect(!en.contains("more"))
        #expect(!en.contains("Patient ID 777   Birth date"), "not the one-patient lines")
        _ = try scratch.export("ja", allowMultiPatient: true)
        let ja = try label("ja")
        #expect(ja.contains(">患者 2 名</text>"))
        #expect(times(ja, ">ITO YUKI  ID 777 (HOSP_B)  生年月日 1990-09-09</text>") == 2)

        // Five: the first two named, then "+3 more"; README.TXT lists all.
        for n in 2...4 {
            try scratch.put("p\(n).dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.8\(n).1.1", study: "1.2.826.0.1.3680043.10.9.8\(n)",
                                                       series: "1.2.826.0.1.3680043.10.9.8\(n).1",
                                                       overrides: [.patientID: "90\(n)", .patientName: "PATIENT^NUMBER\(n)"]))
        }
        _ = try scratch.export("many", language: "en", allowMultiPatient: true)
        let many = try label("many")
        #expect(many.contains(">5 patients</text>"))
        #expect(times(many, "  ID ") == 4, "two patients, on the disc and the insert")
        #expect(many.contains(">+3 more: all in README.TXT</text>"))
        #expect(many.contains(">+3 more patients: every one in README.TXT and INDEX.HTM</text>"))
        #expect(!many.contains("NUMBER4"))
        #expect(try String(contentsOfFile: scratch.root + "/many/README.TXT", encoding: .utf8).contains("PATIENT NUMBER4 (ID 904"))

        // One patient: the label as it always was (but above the hole).
        let single = Scratch()
        defer { single.remove() }
        try single.put("a.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.80.1.1", study: "1.2.826.0.1.3680043.10.9.80",
                                              series: "1.2.826.0.1.3680043.10.9.80.1"))
        _ = try single.export("one", language: "en")
        let one = try String(contentsOfFile: single.root + "/one.label.svg", encoding: .utf8)
        #expect(one.contains("<text y=\"-40\" text-anchor=\"middle\" font-size=\"4.5\">KATO ICHIRO</text>\n"
                             + "    <text y=\"-35\" text-anchor=\"middle\" font-size=\"4.5\"></text>"))
        #expect(one.contains(">ID 777  Born 1940-01-01</text>") && one.contains(">Patient ID 777   Birth date 1940-01-01</text>"))
        #expect(!one.contains("patients") && !one.contains("{{"))

        // A long name is cut to keep its line on the disc.
        let long = String(repeating: "山田", count: 20)
        let cut = ExportJob.labelFit(long, ems: 12)
        #expect(cut.hasSuffix("…") && ExportJob.labelWidth(cut) <= 12 && cut.count == 12)
        #expect(ExportJob.labelFit("KATO ICHIRO", ems: 12) == "KATO ICHIRO")
    }
}

extension ExportJobTests {
    /// The text lines of the disc side of a label: position, anchor, font
    /// size and text.
    struct DiscLine { var x: Double, y: Double, anchor: String, size: Double, text: String }
    static func discLines(_ svg: String, group: String = "disc") -> [DiscLine] {
        guard let start = svg.range(of: "<g id=\"\(group)\""), let end = svg.range(of: "</g>", range: start.upperBound..<svg.endIndex) else { return [] }
        let disc = String(svg[start.upperBound..<end.lowerBound])
        let element = try! NSRegularExpression(pattern: "<text([^>]*)>([^<]*)</text>")
        func attribute(_ attributes: String, _ name: String) -> String? {
            guard let range = attributes.range(of: " \(name)=\"") else { return nil }
            return String(attributes[range.upperBound...].prefix { $0 != "\"" })
        }
        return element.matches(in: disc, range: NSRange(disc.startIndex..., in: disc)).map { match in
            let attributes = String(disc[Range(match.range(at: 1), in: disc)!])
            let text = String(disc[Range(match.range(at: 2), in: disc)!]).replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
                .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
            return DiscLine(x: Double(attribute(attributes, "x") ?? "0")!, y: Double(attribute(attributes, "y")!)!,
                            anchor: attribute(attributes, "text-anchor") ?? "start", size: Double(attribute(attributes, "font-size")!)!, text: text)
        }
    }

    /// Lines crossing the unprintable centre (the band |y| < 20, glyphs
    /// included) or the printable edge (r 58, by ExportJob.labelWidth), or
    /// printed over one another.
    static func misplaced(_ lines: [DiscLine]) -> [String] {
        var boxes: [(left: Double, right: Double, top: Double, bottom: Double)] = []
        var wrong: [String] = []
        for line in lines where !line.text.isEmpty {
            let width = ExportJob.labelWidth(line.text) * line.size
            let left = line.anchor == "middle" ? line.x - width / 2 : line.anchor == "end" ? line.x - width : line.x
            let box = (left: left, right: left + width, top: line.y - ExportJob.labelAscent * line.size,
                       bottom: line.y + ExportJob.labelDescent * line.size)
            if abs(line.y) < ExportJob.discHoleRadius || !(box.bottom <= -ExportJob.discHoleRadius || box.top >= ExportJob.discHoleRadius) {
                wrong.append("in the hole band: \(line.text) (y \(line.y))")
            }
            let far = max(abs(box.left), abs(box.right)), high = max(abs(box.top), abs(box.bottom))
            if (far * far + high * high).squareRoot() > ExportJob.discPrintableRadius {
                wrong.append("beyond the printable edge: \(line.text) (y \(line.y), \(width) mm wide)")
            }
            if boxes.contains(where: { $0.left < box.right && box.left < $0.right && $0.top < box.bottom && box.top < $0.bottom }) {
                wrong.append("over another line: \(line.text)")
            }
            boxes.append(box)
        }
        return wrong
    }

    @Test("the disc label prints nothing across the centre hole (band |y| < 20 mm) nor past the printable edge (r 58 mm), one patient or several, en and ja; one patient's lines as before")
    func theDiscLabelKeepsOffTheHole() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        // One patient, five studies (two columns of study lines).
        for n in 1...5 {
            try scratch.put("s\(n).dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.90.\(n).1.1", study: "1.2.826.0.1.3680043.10.9.90.\(n)",
                                                       series: "1.2.826.0.1.3680043.10.9.90.\(n).1",
                                                       overrides: [.studyDate: "2024011\(n)", .modality: n == 2 ? "MR" : "CT"]))
        }
        for language in ["en", "ja"] {
            _ = try scratch.export("one-\(language)", language: language)
            let svg = try String(contentsOfFile: scratch.root + "/one-\(language).label.svg", encoding: .utf8)
            let lines = Self.discLines(svg)
            #expect(Self.misplaced(lines) == [], "\(language)")
            // The same lines as ever, in the same order: kind, the patient,
            // the studies (now below the hole), institution, creation line.
            let born = language == "en" ? "Born" : "生年月日", created = language == "en" ? "Created " : "作成日 "
            let texts = lines.map(\.text)
            #expect(texts.count == 12, "\(texts)")
            guard texts.count == 12 else { continue }
            #expect(Array(texts[1...4]) == ["KATO ICHIRO", "", "", "ID 777  \(born) 1940-01-01"])
            #expect(Array(texts[5...9]) == ["2024-01-11 CT", "2024-01-12 MR", "2024-01-13 CT", "2024-01-14 CT", "2024-01-15 CT"])
            #expect(texts[0].hasPrefix("DICOM") && texts[11].hasPrefix(created))
            #expect(lines[1].y < -20 && lines[4].y < -20 && lines[5].y > 20 && lines[11].y > 20)
        }

        // Two patients (and a study of many modalities, cut to its column).
        try scratch.put("b.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.91.1.1", study: "1.2.826.0.1.3680043.10.9.91",
                                               series: "1.2.826.0.1.3680043.10.9.91.1",
                                               overrides: [.issuerOfPatientID: "HOSP_B", .patientName: "ITO^YUKI", .patientBirthDate: "19900909",
                                                           .studyDate: "20240120"]))
        for (n, modality) in ["MR", "PR", "SR", "KO", "SEG"].enumerated() {
            try scratch.put("b\(n).dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.91.\(n + 2).1", study: "1.2.826.0.1.3680043.10.9.91",
                                                       series: "1.2.826.0.1.3680043.10.9.91.\(n + 2)",
                                                       overrides: [.issuerOfPatientID: "HOSP_B", .patientName: "ITO^YUKI",
                                                                   .patientBirthDate: "19900909", .studyDate: "20240120", .modality: modality]))
        }
        for language in ["en", "ja"] {
            _ = try scratch.export("two-\(language)", language: language, allowMultiPatient: true)
            let svg = try String(contentsOfFile: scratch.root + "/two-\(language).label.svg", encoding: .utf8)
            let lines = Self.discLines(svg)
            #expect(Self.misplaced(lines) == [], "\(language)")
            #expect(lines.filter { $0.text.contains("  ID 777") }.count == 2)
            #expect(lines.filter { $0.text.hasPrefix("2024-01-") }.count == 6)
            #expect(lines.contains { $0.text.hasPrefix("2024-01-20 CT/") && $0.text.hasSuffix("…") }, "cut to its column")
            #expect(svg.contains(">2024-01-20  CT/KO/MR/PR/SEG/SR  </text>"), "whole on the insert")
        }
        // The insert: a long name, study description and institution are
        // cut to its 108 mm lines.
        try scratch.put("c.dcm", exportFixture(sop: "1.2.826.0.1.3680043.10.9.92.1.1", study: "1.2.826.0.1.3680043.10.9.92",
                                               series: "1.2.826.0.1.3680043.10.9.92.1",
                                               overrides: [.patientID: "888", .patientName: "WOLFESCHLEGELSTEINHAUSENBERGERDORFF^HUBERT BLAINE",
                                                           .studyDescription: "CT CHEST ABDOMEN PELVIS WITH AND WITHOUT CONTRAST, ARTERIAL AND PORTAL PHASE"]))
        for language in ["en", "ja"] {
            _ = try scratch.export("three-\(language)", language: language, allowMultiPatient: true)
            let svg = try String(contentsOfFile: scratch.root + "/three-\(language).label.svg", encoding: .utf8)
            let insert = Self.discLines(svg, group: "insert")
            #expect(insert.count > 8)
            for line in insert where !line.text.isEmpty {
                #expect(line.x + ExportJob.labelWidth(line.text) * line.size <= 114, "\(language): \(line.text)")
            }
            #expect(insert.contains { $0.text.hasPrefix("2024-01-15  CT  CT CHEST ABDOMEN") && $0.text.hasSuffix("…") })
        }
        // Hand-made lines that do cross the hole or the edge are caught.
        #expect(Self.misplaced([DiscLine(x: 0, y: -18, anchor: "middle", size: 3.5, text: "ID 777")]).count == 1)
        #expect(Self.misplaced([DiscLine(x: 0, y: 45, anchor: "middle", size: 3, text: String(repeating: "W", count: 45))]).count == 1)
    }
}
