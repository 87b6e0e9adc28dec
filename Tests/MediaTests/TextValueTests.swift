// The byte-level text readers of a scan give exactly what the general
// path (decode, split, trim, Foundation trimming) gives.
import DICOM
import Foundation
import Synchronization
import Testing
@testable import Media

@Suite struct TextValueTests {
    /// Values with every kind of padding, separators and non-ASCII bytes.
    static let samples: [[UInt8]] = {
        var texts: [[UInt8]] = [
            [], [0x20], [0x00], [0x20, 0x00], [0x00, 0x20], Array(" \t ".utf8), Array("\t".utf8),
            Array("1.2.840.10008.1.2.1\0".utf8), Array("1.2.3 ".utf8), Array(" 1.2.3".utf8), Array("\u{0}1.2\u{0}".utf8),
            Array("CT".utf8), Array(" CT \\ MR ".utf8), Array("\\MR".utf8), Array("ORIGINAL\\PRIMARY\\AXIAL ".utf8),
            Array("Doe^John".utf8), Array("  Doe^John  ".utf8), Array("\tDoe^John\t".utf8), Array("Doe^John\t \0".utf8),
            Array("Doe^John\0\t".utf8), Array("A\r\nB ".utf8), Array("A\r\n".utf8), Array("\r\n.".utf8),
            Array("DICOM\\PAT1\\IMG1 ".utf8), Array("DICOM/PAT1/IMG1".utf8), Array(" DICOM / PAT1 //IMG1\0".utf8),
            Array("/\\ /".utf8), Array("a~b".utf8), Array("Yen\\Sign".utf8), Array("  ".utf8) + [0, 0],
            Array("Müller^Hans".utf8), [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x20],   // UTF-8 and Latin-1
            Array("\u{3000}山田^太郎\u{3000}".utf8), Array("Ｘ\u{00A0}".utf8),
            [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28, 0x42],             // ISO 2022 IR 87
            Array("12".utf8), Array(" 12 ".utf8), Array("1.5e1".utf8), Array("x".utf8),
        ]
        texts += texts.map { $0.count % 2 == 1 ? $0 + [0x20] : $0 }
        return texts
    }()

    static let charsets: [String?] = [nil, "ISO_IR 100", "ISO_IR 192", "\\ISO 2022 IR 87", "ISO_IR 13"]
    static let vrs: [VR] = [.UI, .CS, .PN, .LO, .SH, .LT, .IS, .DA, .UN, .ST]

    static func datasets() -> [(Dataset, String)] {
        var out: [(Dataset, String)] = []
        for charset in charsets {
            for vr in vrs {
                for (i, bytes) in samples.enumerated() {
                    var elements = [DataElement(tag: .patientName, vr: vr, bytes: Data(bytes))]
                    if let charset { elements.append(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Data(charset.utf8))) }
                    out.append((Dataset(elements), "\(charset ?? "-") \(vr) #\(i) \(bytes)"))
                }
            }
        }
        return out
    }

    @Test func firstStringMatchesTheGeneralPath() {
        for (dataset, label) in TextValueTests.datasets() {
            #expect(dataset.firstString(.patientName) == dataset.decodedFirstString(.patientName), "\(label)")
        }
    }

    @Test func trimmedTextMatchesFoundationTrimming() {
        for (dataset, label) in TextValueTests.datasets() {
            let general = dataset.string(.patientName).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            #expect(dataset.trimmedText(.patientName) == general, "\(label)")
        }
    }

    @Test func directoryStringAndFileIDMatchTheGeneralPath() {
        let spaceAndNUL = CharacterSet(charactersIn: " \0")
        var plainFileIDs = 0
        for (dataset, label) in TextValueTests.datasets() {
            let general = dataset.decodedFirstString(.patientName).map { $0.trimmingCharacters(in: spaceAndNUL) }.flatMap { $0.isEmpty ? nil : $0 }
            #expect(dataset.scanDirectoryString(.patientName) == general, "\(label)")
            let fileID = dataset.strings(.patientName)
                .flatMap { $0.split(whereSeparator: { $0 == "/" }).map(String.init) }
                .map { $0.trimmingCharacters(in: spaceAndNUL) }
            #expect(dataset.scanFileIDComponents(.patientName) == fileID, "\(label)")
            if let plain = dataset.withPlainReader({ $0.scanPlainFileID(.patientName) }) {
                plainFileIDs += 1
                #expect(plain == fileID.joined(separator: "\\") && !plain.isEmpty, "\(label)")
            }
            let undecodable = dataset.decodedText(.patientName).map { !$0.problems.isEmpty } ?? false
            #expect(dataset.hasUndecodableText(.patientName) == undecodable, "\(label)")
        }
        #expect(Dataset().firstString(.patientName) == nil)
        #expect(Dataset().scanFileIDComponents(.patientName) == [])
        #expect(plainFileIDs > 50)   // the shortcut was taken, and agreed
    }

    @Test func trimmingHelpersMatchFoundation() {
        let spaceAndNUL = CharacterSet(charactersIn: " \0")
        for bytes in TextValueTests.samples {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(trimmingWhitespaces(text) == text.trimmingCharacters(in: .whitespaces), "\(bytes)")
            #expect(trimmingSpacesAndNULs(text) == text.trimmingCharacters(in: spaceAndNUL), "\(bytes)")
        }
    }

    /// The rules of ``FileIDResolver/normalizeComponent(_:)`` on Characters.
    static func referenceNormalize(_ name: String) -> String {
        var scalars = Substring(name)
        if let semicolon = scalars.lastIndex(of: ";"),
           scalars[scalars.index(after: semicolon)...].allSatisfy({ $0.isASCII && $0.isNumber }) {
            scalars = scalars[..<semicolon]
        }
        while scalars.count > 1, scalars.last == "." { scalars.removeLast() }
        return scalars.lowercased()
    }

    @Test func normalizedNamesMatchTheGeneralRules() {
        let cases = ["IMG00001.;1", "img00001", "DICOMDIR;1", "DICOMDIR.", "dicomdir;", "A;1x", "...", ".", "", "Ä.DCM;2",
                     "\u{130}MG;1", "a.b.;12", "Thumbs.db", "\r\n.", "x;", "ABC;١", "Z;12;3", "KELVIN\u{212A}"]
        for name in cases {
            #expect(FileIDResolver.normalizeComponent(name) == TextValueTests.referenceNormalize(name), "\(name)")
        }
        #expect(FileIDResolver.normalizeComponent("IMG00001.;1") == "img00001")
    }

    @Test func fileIDComponentsAndPathsMatchTheGeneralRules() {
        let values = ["DICOM", " DICOM ", "DICOM\\PAT1\\IMG1", "DICOM/PAT1//IMG1;1", "\t", "", "/", " a / b \t\\ c",
                      "\r\nX", "IMG.;1", "Ü/ä ", "\u{3000}X\u{3000}/Y", "a\u{00A0}", ".\\..\\x"]
        for count in 1...3 {
            for start in values.indices {
                let fileID = (0..<count).map { values[(start + $0 * 5) % values.count] }
                let reference = fileID.flatMap { $0.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init) }
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
                #expect(FileIDResolver.components(fileID) == reference, "\(fileID)")
                let path = fileID.joined(separator: "/")
                let normalized = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
                    .map { TextValueTests.referenceNormalize(String($0)) }
                    .joined(separator: "/")
                #expect(FileIDResolver.normalize(path) == normalized, "\(path)")
            }
        }
    }

    /// The scan's shortcut from a record's `\`-joined File ID to the path it
    /// names gives what the general cut and join give, or leaves it to them.
    @Test func plainFileIDPathsMatchTheGeneralCut() {
        let values = ["DICOM", "IMG00001", "IMG.;1", " DICOM", "DICOM ", "\t", "", ".", "..", "...", ".x", "x.", "C:", "a:b",
                      "DICOM/PAT1", "Ü", "a\u{00A0}", "A B", "S\\T"]
        var plain = 0
        for count in 1...3 {
            for start in values.indices {
                let components = (0..<count).map { values[(start + $0 * 7) % values.count] }
                let fileID = components.joined(separator: "\\")
                let split = fileID.isEmpty ? [] : fileID.split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
                for folder in ["", "CD", "Ü/x"] {
                    guard let path = DirectoryComparison.plainPath(fileID, folder: folder) else { continue }
                    plain += 1
                    let cut = FileIDResolver.components(split)
                    #expect(FileIDResolver.isValid(cut), "\(fileID)")
                    #expect(path == ((folder.isEmpty ? [] : [folder]) + cut).joined(separator: "/"), "\(fileID) in \(folder)")
                }
            }
        }
        #expect(plain > 20)
        #expect(DirectoryComparison.plainPath("DICOM\\P1\\IMG1", folder: "CD") == "CD/DICOM/P1/IMG1")
        #expect(DirectoryComparison.plainPath("DICOM\\..\\IMG1", folder: "") == nil)
        #expect(DirectoryComparison.plainPath("DICOM\\\\IMG1", folder: "") == nil)
        for declined in ["", "\\A", "A\\", ".", "A\\..", "A B", "A/B", "C:", "Ü", "A\t"] {
            #expect(!Array(declined.utf8).withUnsafeBytes(FileIDResolver.isPlainJoined), "\(declined)")
        }
        for taken in ["A", "dicom\\img_1.dcm;1", "...", ".x\\x.", "IMG-1"] {
            #expect(Array(taken.utf8).withUnsafeBytes(FileIDResolver.isPlainJoined), "\(taken)")
        }
    }

    @Test func autorunFoundAsByTheNameRules() {
        let paths = ["AUTORUN.INF", "autorun.inf;1", "CD/Autorun.Inf.", "CD/AUTORUN.INF/", "x\\autorun.inf", "autorun.inf;1x",
                     "AUTORUN.INF;", "autorun.inff", "autorun.in", "", "/", "autorun.inf;١", "Ü/autorun.inf", "a;1/autorun.inf..;2"]
        for path in paths {
            #expect(FileKind.isAutorunPath(path) == FileKind.isAutorun(FileKind.lastComponent(path)), "\(path)")
        }
        #expect(FileKind.isAutorunPath("CD/AUTORUN.INF;1"))
    }

    @Test func junkFoldersFoundInASCIIAndOtherPaths() {
        #expect(FileInspector.isOSJunk("__MACOSX/CD/._IMG1"))
        #expect(FileInspector.isOSJunk("CD/System Volume Information/x"))
        #expect(FileInspector.isOSJunk("Ü/.Trashes/x"))
        #expect(!FileInspector.isOSJunk("DICOM/PAT1/IMG1"))
        #expect(!FileInspector.isOSJunk("DICOM/Ü/IMG1"))
        #expect(FileInspector.isOSJunk("x/$RECYCLE.BIN/y"))
        #expect(FileInspector.isOSJunk("thumbs.db;1"))
        #expect(!FileInspector.isOSJunk("x/$RECYCLE.BI"))
        #expect(FileInspector.contains(Array("/abcabd".utf8), Array("abd".utf8)))
        #expect(!FileInspector.contains(Array("/ab".utf8), Array("abd".utf8)))
    }
}

/// The report's order of paths and its sharing of series attributes.
@Suite struct ReportOrderTests {
    @Test func bytesOrderIsStringOrderForASCIIAndTotalOtherwise() {
        let ascii = ["DICOM/B/I2", "DICOM/A/I10", "DICOM/A/I2", "dicom/a", "DICOM", "", "DICOM/A/I1", "Z", "a b", "a\u{7F}"]
        #expect(bytesOrder(ascii).map { ascii[$0] } == ascii.sorted())
        // "が" precomposed (NFC) and decomposed (NFD): String's `<` holds
        // them equal, so their order would be the order they were found in.
        let nfc = "患者/が.dcm", nfd = "患者/\u{304B}\u{3099}.dcm"
        #expect(!(nfc < nfd) && !(nfd < nfc))
        #expect(bytesLess(nfc, nfd) != bytesLess(nfd, nfc))
        let mixed = [nfd, "A", nfc, "患者/か.dcm"]
        let once = bytesOrder(mixed).map { mixed[$0] }
        #expect(bytesOrder(mixed.reversed()).map { Array(mixed.reversed())[$0] } == once)
        #expect(once.first == "A")
    }

    /// Files of one series read by different workers (lanes) share one
    /// attributes object after the merge: the tree groups by identity.
    @Test func lanesShareOneAttributesObjectPerSeries() throws {
        let collector = ScanCollector()
        @Sendable func summary(_ path: String, _ series: String) -> FileOutcome {
            .dicom(InstanceSummary(path: path, size: 1, hasFileMeta: true, transferSyntaxUID: "1.2.840.10008.1.2.1",
                                   sopInstanceUID: path, shared: SeriesAttributes(patientID: "P", studyInstanceUID: "1.2", seriesInstanceUID: series)),
                   problems: [], grouped: [])
        }
        let done = DispatchGroup()
        for worker in 0..<3 {
            done.enter()
            Thread {
                for i in 0..<4 { collector.add(summary("w\(worker)/\(i)", i % 2 == 0 ? "1.2.3" : "1.2.4")) }
                done.leave()
            }.start()
        }
        done.wait()
        let state = collector.take()
        #expect(state.instances.count == 12)
        let bySeries = Dictionary(grouping: state.instances, by: { $0.seriesInstanceUID ?? "" })
        for (_, files) in bySeries {
            #expect(files.allSatisfy { $0.shared === files[0].shared })
        }
        #expect(bySeries.count == 2)
    }
}

@Suite struct ReportJSONTests {
    @Test func piecesMadeAheadComeInOrderAndWaitForRoom() {
        let made = Mutex(0)
        let pieces = OrderedPieces(count: 50, waiting: 2) { index in
            made.withLock { $0 += 1 }
            return [UInt8](repeating: UInt8(index), count: index + 1)
        }
        // Nothing taken yet: the maker stops two pieces ahead.
        Thread.sleep(forTimeInterval: 0.05)
        #expect(made.withLock { $0 } <= 2)
        for index in 0..<50 {
            #expect(pieces.next() == [UInt8](repeating: UInt8(index), count: index + 1))
        }
        #expect(made.withLock { $0 } == 50)
    }

    /// Every character JSON escapes, non-ASCII text, nulls, empty and
    /// nested containers, several DICOMDIRs.
    @Test func directWriterGivesJSONEncoderBytes() throws {
        let tricky = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) }.joined() + "é山\u{2028}\u{FFFD}𠮷/\\\""
        let instance = ScanReport.Instance(sopInstanceUID: tricky, sopClassUID: nil, transferSyntaxUID: "1.2.840.10008.1.2.1",
                                           instanceNumber: -12, path: "a/b c/ü", size: 0, hasFileMeta: false)
        let series = ScanReport.Series(seriesInstanceUID: nil, seriesNumber: 1234567, modality: "CT", seriesDescription: "\t\n",
                                       instanceCount: 2, size: Int.max, transferSyntaxes: ["1", "2"],
                                       instances: [instance, instance])
        let empty = ScanReport.Series(seriesInstanceUID: "x", seriesNumber: nil, modality: nil, seriesDescription: nil,
                                      instanceCount: 0, size: 0, transferSyntaxes: [], instances: [])
        let study = ScanReport.Study(studyInstanceUID: "1.2", studyDate: nil, studyTime: "093000", studyDescription: tricky,
                                     accessionNumber: nil, studyID: "", instanceCount: 2, size: Int.min, series: [series, empty])
        let patient = ScanReport.Patient(patientID: "P1", name: "Yamada^Tarou=山田^太郎=ヤマダ^タロウ", nameAlphabetic: "Yamada^Tarou",
                                         nameIdeographic: "山田^太郎", namePhonetic: nil, birthDate: nil, sex: "M",
                                         instanceCount: 2, size: 9, studies: [study])
        let bare = ScanReport.Patient(patientID: nil, name: nil, nameAlphabetic: nil, nameIdeographic: nil, namePhonetic: nil,
                                      birthDate: nil, sex: nil, instanceCount: 0, size: 0, studies: [])
        var big = patient
        big.instanceCount = 1000
        let summary = ScanReport.DICOMDIRSummary(path: "CD/DICOMDIR", fileSetID: nil, transferSyntaxUID: "", treeSource: .correctedOffsets,
                                                 offsetShift: -132, records: 1, inactiveRecords: 2, skippedRecords: 3, patients: 4,
                                                 studies: 5, series: 6, instances: 7, referencedFiles: 8, missingFiles: 9)
        var totals = ScanReport.Totals()
        totals.patients = 2; totals.files = 10; totals.size = 1 << 40
        let reports = [
            ScanReport(source: .init(path: "/media/cd", kind: .iso9660, volumeLabel: tricky), complete: false, totals: totals,
                       patients: [patient, bare],
                       problems: [ScanProblem(.multiPatient, .warning, path: nil, tricky), ScanProblem(.truncated, .error, path: "x", "")],
                       looseFiles: [.init(path: "紹介状.pdf", kind: "pdf", size: 1)],
                       ignored: IgnoredReasonSamples.all,
                       dicomdir: summary, otherDICOMDIRs: [summary, summary]),
            ScanReport(source: .init(path: "", kind: nil, volumeLabel: nil), complete: true, totals: .init(), patients: [],
                       problems: [], looseFiles: [], ignored: [], dicomdir: nil, otherDICOMDIRs: []),
            // 2,000 instances or more: every other patient is written by another thread.
            ScanReport(source: .init(path: "/media/cd", kind: .folder, volumeLabel: nil), complete: true, totals: totals,
                       patients: [big, bare, big, big, bare, big], problems: [ScanProblem(.multiPatient, .warning, path: nil, tricky)],
                       looseFiles: [], ignored: [], dicomdir: summary, otherDICOMDIRs: []),
        ]
        for report in reports {
            let direct = try report.jsonData()
            let encoded = try report.encodedJSONData()
            #expect(direct == encoded, "\(String(decoding: direct, as: UTF8.self))")
        }
    }
}

enum IgnoredReasonSamples {
    static let all = ScanReport.IgnoredReason.allCases.enumerated().map { i, reason in
        ScanReport.IgnoredFile(path: "f\(i)", reason: reason, size: i)
    }
}
