// `discport scan`: discs built at test time (DiscBuilder) scanned as folders,
// ISO images and zips; exact trees and exact problem codes.
import DICOM
import Foundation
import Synchronization
import Testing
@testable import Media

// MARK: - Helpers

/// The disc as a sorted outline: one line per patient, study, series, instance.
func outline(_ report: ScanReport) -> [String] {
    var lines: [String] = []
    for patient in report.patients {
        lines.append("patient \(patient.patientID ?? "-") \(patient.name ?? "-")")
        for study in patient.studies {
            lines.append(" study \(study.studyInstanceUID ?? "-")")
            for series in study.series {
                lines.append("  series \(series.seriesNumber.map(String.init) ?? "-") \(series.modality ?? "-") \(series.instanceCount)")
                for instance in series.instances {
                    lines.append("   \(instance.sopInstanceUID ?? "-") \(instance.path)")
                }
            }
        }
    }
    return lines
}

/// Problem codes, sorted, with repeats.
func codes(_ report: ScanReport) -> [String] {
    report.problems.map(\.code.rawValue).sorted()
}

func scanFolder(_ path: String) -> ScanReport {
    let report = MediumScanner().scan(path: path)
    // Every report of these tests: the direct JSON writer gives JSONEncoder's bytes.
    #expect((try? report.jsonData()) == (try? report.encodedJSONData()))
    return report
}

let standardOutline = [
    "patient P0001 DOE^JANE",
    " study 1.2.826.0.1.3680043.10.9.1",
    "  series 1 CT 1",
    "   1.2.826.0.1.3680043.10.9.1.1.1 DICOM/IMG00001",
    "  series 2 CT 2",
    "   1.2.826.0.1.3680043.10.9.1.2.1 DICOM/SER2/IMG00001",
    "   1.2.826.0.1.3680043.10.9.1.2.2 DICOM/SER2/IMG00002",
]

/// The standard outline with every path rewritten.
func standardOutline(paths: (String) -> String) -> [String] {
    standardOutline.map { line in
        guard line.hasPrefix("   ") else { return line }
        let parts = line.split(separator: " ", maxSplits: 1)
        return "   \(parts[0]) \(paths(String(parts[1])))"
    }
}

/// The full path of a tool, or nil; under CI=true a missing tool is a failure.
func requireTool(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for directory in paths where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
        return "\(directory)/\(name)"
    }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("\(name) is not installed (make deps)", sourceLocation: sourceLocation)
    }
    return nil
}

func runTool(_ path: String, _ arguments: [String], in directory: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C.UTF-8"
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "\(path) \(arguments) failed: \(String(decoding: message, as: UTF8.self))")
}

/// The report without its source, as canonical JSON, for comparing media.
func canonicalJSON(_ report: ScanReport) throws -> String {
    var copy = report
    copy.source = .init(path: "", kind: nil, volumeLabel: nil)
    let json = try copy.jsonData()
    #expect(json == (try copy.encodedJSONData()))
    return String(decoding: json, as: UTF8.self)
}

// MARK: - Clean discs

@Suite("discport scan")
struct ScanTests {
    @Test func cleanDiscWithDICOMDIR() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        try Data("Made by the test.\r\n".utf8).write(to: URL(fileURLWithPath: dir.sub("README.TXT")))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == [])
        #expect(report.exitStatus == 0)
        #expect(report.totals == {
            var t = ScanReport.Totals()
            t.patients = 1; t.studies = 1; t.series = 2; t.instances = 3; t.files = 5
            t.size = report.patients[0].size
            return t
        }())
        #expect(report.ignored.map { "\($0.path) \($0.reason.rawValue)" } == ["README.TXT text"])
        let dicomdir = try #require(report.dicomdir)
        #expect(dicomdir.treeSource == .offsets)
        #expect(dicomdir.records == 7 && dicomdir.instances == 3 && dicomdir.referencedFiles == 3 && dicomdir.missingFiles == 0)
        let patient = report.patients[0]
        #expect(patient.birthDate == "19700101" && patient.sex == "F")
        let study = patient.studies[0]
        #expect(study.studyDate == "20240115" && study.studyDescription == "CT CHEST" && study.accessionNumber == "ACC001")
        #expect(study.series.map(\.seriesDescription) == ["Scout", "Axial"])
        #expect(study.series[1].transferSyntaxes == ["1.2.840.10008.1.2.1"])
        #expect(study.series[1].instances.map(\.instanceNumber) == [1, 2])
        #expect(study.series[1].instances.allSatisfy { $0.sopClassUID == "1.2.840.10008.5.1.4.1.1.2" && $0.hasFileMeta })
    }

    @Test func noDICOMDIR() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: nil)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["no-dicomdir"])
        #expect(report.dicomdir == nil)
        #expect(report.exitStatus == 0)
    }

    @Test func extensionsAndNamesDoNotMatter() throws {
        // Content decides, not the name: `.dcm`, `.DCM`, `.txt`, no extension.
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[0].diskPath = "Export 2024 (1)/scout.DCM"
        disc[1].diskPath = "Export 2024 (1)/a.dcm"
        disc[2].diskPath = "Export 2024 (1)/notes.txt"
        try DiscBuilder.write(disc, to: dir.path, dicomdir: nil)
        let report = scanFolder(dir.path)
        #expect(report.totals.instances == 3 && report.totals.series == 2)
        #expect(codes(report) == ["no-dicomdir"])
    }

    // MARK: DICOMDIR defects

    @Test func offsetsOffBy132AreCorrected() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.offsets = .shifted(-132)
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-wrong-offsets"])
        #expect(report.problems[0].message.contains("132 bytes too small"))
        let dicomdir = try #require(report.dicomdir)
        #expect(dicomdir.treeSource == .correctedOffsets)
        #expect(dicomdir.offsetShift == -132)
        #expect(dicomdir.patients == 1 && dicomdir.series == 2 && dicomdir.instances == 3)
        #expect(report.exitStatus == 1)
    }

    @Test func zeroOffsetsRebuildFromRecordOrder() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.offsets = .zero
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-wrong-offsets"])
        let dicomdir = try #require(report.dicomdir)
        #expect(dicomdir.treeSource == .recordOrder)
        #expect(dicomdir.patients == 1 && dicomdir.studies == 1 && dicomdir.series == 2 && dicomdir.instances == 3)
    }

    @Test func anyConstantShiftIsCorrected() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.offsets = .shifted(7)   // found from where the first record really is
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-wrong-offsets"])
        // A shift of 7 is found from the first record, so it is corrected.
        #expect(report.dicomdir?.instances == 3)
    }

    @Test func offsetLoopIsCut() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.offsets = .loop
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-offset-loop"])
        #expect(report.dicomdir?.instances == 3)
    }

    @Test func inactiveAndPrivateRecordsAreSkipped() throws {
        let dir = try TempDir()
        let disc = DiscBuilder.standardDisc()
        var options = DICOMDIROptions()
        options.inactive = [disc[2].sopUID]
        options.privateRecord = true
        try DiscBuilder.write(disc, to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        // The file of the deleted record is still on the disc: found, and not listed.
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-inactive-record", "dicomdir-unknown-record", "file-not-in-dicomdir"])
        #expect(report.problems.first { $0.code == .fileNotInDICOMDIR }?.path == "DICOM/SER2/IMG00002")
        #expect(report.problems.first { $0.code == .dicomdirInactiveRecord }?.severity == .info)
        let dicomdir = try #require(report.dicomdir)
        #expect(dicomdir.inactiveRecords == 1)
        #expect(dicomdir.skippedRecords == 3)   // the inactive IMAGE, PRIVATE and its child
        #expect(dicomdir.instances == 2)
    }

    @Test func recordsMissingType1Keys() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.omitStudyUID = true
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-missing-key"])
        #expect(report.problems[0].message.contains("Study Instance UID"))
        #expect(report.problems[0].path == "DICOMDIR")
    }

    @Test func implicitVRDICOMDIR() throws {
        let dir = try TempDir()
        var options = DICOMDIROptions()
        options.implicitVR = true
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-implicit-vr"])
        #expect(report.dicomdir?.treeSource == .offsets)
        #expect(report.dicomdir?.instances == 3)
    }

    @Test func missingFiles() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[2].writeFile = false
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == Array(standardOutline.dropLast()).map { $0 == "  series 2 CT 2" ? "  series 2 CT 1" : $0 })
        #expect(codes(report) == ["referenced-file-missing"])
        #expect(report.problems[0].path == "DICOM/SER2/IMG00002")
        #expect(report.problems[0].severity == .error)
        #expect(report.totals.missing == 1)
        #expect(report.dicomdir?.missingFiles == 1)
    }

    @Test func uidMismatch() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[1].recordSOPUID = "1.2.826.0.1.3680043.10.9.777"
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["uid-mismatch"])
        #expect(report.problems[0].path == "DICOM/SER2/IMG00001")
        #expect(report.problems[0].message.contains("1.2.826.0.1.3680043.10.9.777"))
    }

    // MARK: File names

    @Test("a record referencing the DICOMDIR itself is named, not passed over")
    func recordReferencingTheDICOMDIR() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[2].fileID = ["DICOMDIR"]
        disc[2].diskPath = "DICOM/SER2/IMG00002"
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["file-not-in-dicomdir", "referenced-file-not-dicom"])
        let problem = report.problems.first { $0.code == .referencedFileNotDICOM }
        #expect(problem?.path == "DICOMDIR")
        #expect(problem?.message.contains("the DICOMDIR itself") == true)
        #expect(report.exitStatus == 1)
    }

    @Test("a DICOMDIR named as the source scans its folder, where its File IDs point")
    func dicomdirAsTheSourceScansItsFolder() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.sub("cdrom"))
        let folder = scanFolder(dir.sub("cdrom"))
        for name in ["DICOMDIR", "dicomdir;1"] {
            if name != "DICOMDIR" {
                try FileManager.default.moveItem(atPath: dir.sub("cdrom/DICOMDIR"), toPath: dir.sub("cdrom/" + name))
            }
            let report = scanFolder(dir.sub("cdrom/" + name))
            #expect(report.source.kind == .folder)
            #expect(outline(report) == standardOutline)
            #expect(codes(report) == [])
            #expect(report.totals.missing == 0)
            #expect(report.dicomdir?.path == name)
            if name == "DICOMDIR" { #expect(try canonicalJSON(report) == canonicalJSON(folder)) }
        }
    }

    @Test("two file names that differ only in bytes that are not UTF-8 stay two paths, each byte shown")
    func namesThatAreNotUTF8StayApart() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[1].diskPath = "DICOM/A"
        disc[2].diskPath = "DICOM/B"
        try DiscBuilder.write(disc, to: dir.path, dicomdir: nil)
        for (from, byte) in [("DICOM/A", UInt8(0xFF)), ("DICOM/B", UInt8(0xFE))] {
            var name = Array(dir.sub("DICOM/").utf8)
            name += [byte, 0x31, 0]
            let status = name.withUnsafeBufferPointer { rename(dir.sub(from), UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
            #expect(status == 0)
        }
        let report = scanFolder(dir.path)
        let paths = report.patients.flatMap { $0.studies.flatMap { $0.series.flatMap { $0.instances.map(\.path) } } }
        #expect(paths.sorted() == ["DICOM/IMG00001", "DICOM/\u{FFFD}FE1", "DICOM/\u{FFFD}FF1"])
        #expect(codes(report) == ["no-dicomdir"])
        // A tar of the folder keeps the names' bytes: the same paths.
        if let bsdtar = requireTool("bsdtar") {
            try runTool(bsdtar, ["-cf", dir.sub("names.tar"), "DICOM"], in: dir.path)
            let tar = scanFolder(dir.sub("names.tar"))
            #expect(tar.patients.flatMap { $0.studies.flatMap { $0.series.flatMap { $0.instances.map(\.path) } } }.sorted() == paths.sorted())
        }
        #expect(FolderMedium.displayPath(Array("a/é\u{FFFD}".utf8)) == "a/é\u{FFFD}")
        #expect(FolderMedium.displayPath([0x61, 0x82, 0xA0, 0xE3, 0x81, 0x82]) == "a\u{FFFD}82\u{FFFD}A0あ")
    }

    @Test func lowerCaseNames() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices { disc[i].diskPath = disc[i].fileID.joined(separator: "/").lowercased() }
        var options = DICOMDIROptions()
        options.path = "dicomdir"
        try DiscBuilder.write(disc, to: dir.path, dicomdir: options)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline(paths: { $0.lowercased() }))
        #expect(codes(report) == [])
    }

    @Test func versionSuffixesAndTrailingDots() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[0].diskPath = "DICOM/IMG00001.;1"
        disc[1].diskPath = "DICOM/SER2/IMG00001;1"
        disc[2].diskPath = "DICOM/SER2/IMG00002.dcm"
        var options = DICOMDIROptions()
        options.path = "DICOMDIR;1"
        try DiscBuilder.write(disc, to: dir.path, dicomdir: options)
        try Data("readme".utf8).write(to: URL(fileURLWithPath: dir.sub("README.TXT;1")))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline(paths: { path in
            ["DICOM/IMG00001": "DICOM/IMG00001.;1", "DICOM/SER2/IMG00001": "DICOM/SER2/IMG00001;1",
             "DICOM/SER2/IMG00002": "DICOM/SER2/IMG00002.dcm"][path]!
        }))
        #expect(codes(report) == [])
        #expect(report.dicomdir?.path == "DICOMDIR;1")
    }

    @Test func rawDataSetsWithoutMeta() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[0].encoding = .rawImplicit
        disc[1].encoding = .rawExplicit
        disc[2].encoding = .rawExplicit
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        // Reported once per series, as information.
        #expect(codes(report) == ["no-file-meta", "no-file-meta"])
        #expect(report.problems.allSatisfy { $0.severity == .info })
        #expect(report.exitStatus == 0)
        let series = report.patients[0].studies[0].series
        #expect(series[0].transferSyntaxes == ["1.2.840.10008.1.2"])
        #expect(series[1].transferSyntaxes == ["1.2.840.10008.1.2.1"])
        #expect(series.flatMap(\.instances).allSatisfy { !$0.hasFileMeta })
    }

    // MARK: Patients

    @Test func multiPatientIsCalledOut() throws {
        let dir = try TempDir()
        var other = DiscInstance()
        other.patientID = "P0002"
        other.patientName = "ROE^RICHARD"
        other.birthDate = "19501231"
        other.sex = "M"
        other.studyUID = "1.2.826.0.1.3680043.10.9.2"
        other.seriesUID = "1.2.826.0.1.3680043.10.9.2.1"
        other.sopUID = "1.2.826.0.1.3680043.10.9.2.1.1"
        other.modality = "MR"
        other.fileID = ["DICOM", "P2", "IMG00001"]
        try DiscBuilder.write(DiscBuilder.standardDisc() + [other], to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline + [
            "patient P0002 ROE^RICHARD",
            " study 1.2.826.0.1.3680043.10.9.2",
            "  series 1 MR 1",
            "   1.2.826.0.1.3680043.10.9.2.1.1 DICOM/P2/IMG00001",
        ])
        #expect(codes(report) == ["multi-patient"])
        #expect(report.problems[0].severity == .warning)
        #expect(report.exitStatus == 1)
        let text = report.textSummary()
        let banner = try #require(text.range(of: "2 PATIENTS ON THIS MEDIUM"))
        let firstPatient = try #require(text.range(of: "Patient DOE^JANE"))
        #expect(banner.lowerBound < firstPatient.lowerBound, "called out before the tree")
    }

    @Test("one Patient ID of two issuers is two patients, each with its issuer, as export and the store tell them apart")
    func oneIDOfTwoIssuersIsTwoPatients() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices { disc[i].issuer = "HOSP_A" }
        var other = disc[0]
        other.issuer = "HOSP_B"
        other.studyUID = "1.2.826.0.1.3680043.10.9.2"
        other.seriesUID = "1.2.826.0.1.3680043.10.9.2.1"
        other.sopUID = "1.2.826.0.1.3680043.10.9.2.1.1"
        other.fileID = ["DICOM", "P2", "IMG00001"]
        try DiscBuilder.write(disc + [other], to: dir.path)
        let report = scanFolder(dir.path)
        #expect(report.patients.map { "\($0.patientID ?? "-") \($0.issuerOfPatientID ?? "-") \($0.instanceCount)" }
                == ["P0001 HOSP_A 3", "P0001 HOSP_B 1"])
        #expect(codes(report) == ["multi-patient", "patient-id-conflict"])
        let conflict = report.problems.first { $0.code == .patientIDConflict }?.message ?? ""
        #expect(conflict.contains("issuer HOSP_A") && conflict.contains("issuer HOSP_B"), "\(conflict)")
        #expect(report.exitStatus == 1)
        let text = report.textSummary()
        #expect(text.contains("ID P0001  issuer HOSP_A") && text.contains("ID P0001  issuer HOSP_B"))
    }

    @Test("files of one Patient ID and name that disagree on birth date or sex are called out, not shown with the first alone")
    func oneIDAndNameWithConflictingDemographics() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[2].birthDate = "19900101"
        disc[2].sex = "M"
        disc[2].studyUID = "1.2.826.0.1.3680043.10.9.2"
        disc[2].seriesUID = "1.2.826.0.1.3680043.10.9.2.1"
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(report.patients.count == 1)
        #expect(codes(report) == ["patient-id-conflict"])
        let conflict = report.problems.first?.message ?? ""
        #expect(conflict.contains("birth date (19700101, 19900101)") && conflict.contains("sex (F, M)"), "\(conflict)")
        #expect(report.exitStatus == 1)
        // Agreeing files (and files without the value) say nothing.
        var agreeing = DiscBuilder.standardDisc()
        agreeing[2].birthDate = ""
        try DiscBuilder.write(agreeing, to: dir.sub("agreeing"))
        #expect(codes(scanFolder(dir.sub("agreeing"))) == [])
    }

    @Test func samePersonUnderTwoIDs() throws {
        let dir = try TempDir()
        var other = DiscInstance()
        other.patientID = "H-998"
        other.patientName = "Doe^Jane^^^"
        other.studyUID = "1.2.826.0.1.3680043.10.9.3"
        other.seriesUID = "1.2.826.0.1.3680043.10.9.3.1"
        other.sopUID = "1.2.826.0.1.3680043.10.9.3.1.1"
        other.fileID = ["DICOM", "P2", "IMG00001"]
        try DiscBuilder.write(DiscBuilder.standardDisc() + [other], to: dir.path)
        let report = scanFolder(dir.path)
        #expect(report.patients.map { $0.name ?? "" } == ["DOE^JANE", "Doe^Jane"])
        #expect(codes(report) == ["multi-patient", "possible-same-patient"])
    }

    @Test(arguments: ["ISO_IR 192", "\\ISO 2022 IR 87"])
    func japaneseNamesKeepAllThreeGroups(_ characterSet: String) throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices {
            disc[i].characterSet = characterSet
            disc[i].patientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
            disc[i].studyDescription = "胸部ＣＴ"
        }
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(codes(report) == [])
        let patient = try #require(report.patients.first)
        #expect(patient.name == "Yamada^Tarou=山田^太郎=やまだ^たろう")
        #expect(patient.nameAlphabetic == "Yamada^Tarou")
        #expect(patient.nameIdeographic == "山田^太郎")
        #expect(patient.namePhonetic == "やまだ^たろう")
        #expect(patient.studies.first?.studyDescription == "胸部ＣＴ")
        #expect(report.textSummary().contains("Yamada^Tarou = 山田^太郎 = やまだ^たろう"))
    }

    @Test func undecodableNameIsReportedOncePerSeries() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices {
            disc[i].characterSet = "ISO_IR 192"
            disc[i].rawPatientName = Data([0x44, 0x4F, 0x45, 0x5E, 0xFF, 0xFE, 0x4A, 0x20])   // DOE^ + not UTF-8 + J
        }
        try DiscBuilder.write(disc, to: dir.path, dicomdir: nil)
        let report = scanFolder(dir.path)
        #expect(codes(report) == ["charset-undecodable", "charset-undecodable", "no-dicomdir"])
        #expect(report.problems.filter { $0.code == .charsetUndecodable }.map { $0.path ?? "" } == ["DICOM/IMG00001", "DICOM/SER2/IMG00001"])
        #expect(report.problems.contains { $0.message.contains("1 more of the same series") })
        #expect(report.patients.first?.name?.contains("\u{FFFD}") == true)
    }

    @Test func duplicateInstance() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        var copy = disc[1]
        copy.diskPath = "COPY/IMG00001"
        disc.append(copy)
        try DiscBuilder.write(disc, to: dir.path, dicomdir: nil)
        let report = scanFolder(dir.path)
        #expect(codes(report) == ["duplicate-instance", "no-dicomdir"])
        #expect(report.problems.first { $0.code == .duplicateInstance }?.path == "DICOM/SER2/IMG00001")
        #expect(report.problems.first { $0.code == .duplicateInstance }?.message.contains("COPY/IMG00001") == true)
    }

    // MARK: Damaged files

    @Test func truncatedFiles() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        var encapsulated = disc[2]
        encapsulated.sopUID = "1.2.826.0.1.3680043.10.9.1.2.3"
        encapsulated.instanceNumber = 3
        encapsulated.fileID = ["DICOM", "SER2", "IMG00003"]
        encapsulated.encapsulated = true
        disc.append(encapsulated)
        try DiscBuilder.write(disc, to: dir.path)
        func cut(_ path: String, to size: (Int) -> Int) throws {
            let url = URL(fileURLWithPath: dir.sub(path))
            let data = try Data(contentsOf: url)
            try data.prefix(size(data.count)).write(to: url)
        }
        try cut("DICOM/IMG00001") { _ in 300 }                  // inside the header
        try cut("DICOM/SER2/IMG00002") { $0 - 20 }              // inside native pixel data
        try cut("DICOM/SER2/IMG00003") { $0 - 12 }              // inside the last fragment
        let report = scanFolder(dir.path)
        #expect(outline(report) == [
            "patient P0001 DOE^JANE",
            " study 1.2.826.0.1.3680043.10.9.1",
            "  series 2 CT 1",
            "   1.2.826.0.1.3680043.10.9.1.2.1 DICOM/SER2/IMG00001",
        ])
        #expect(codes(report) == ["truncated", "truncated", "truncated"])
        #expect(report.problems.map { $0.path ?? "" } == ["DICOM/IMG00001", "DICOM/SER2/IMG00002", "DICOM/SER2/IMG00003"])
        #expect(report.problems.allSatisfy { $0.severity == .error })
        #expect(report.totals.damaged == 3)
        #expect(report.totals.instances == 1)
        #expect(report.totals.missing == 0)
    }

    @Test("native pixel data shorter than its Rows, Columns, Bits Allocated … say (cut, the length made to agree) is damaged")
    func nativePixelDataShorterThanTheImage() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        let url = URL(fileURLWithPath: dir.sub("DICOM/SER2/IMG00002"))
        var data = try Data(contentsOf: url)
        // (7FE0,0010) OB, explicit VR: tag, VR, 2 reserved bytes, 4-byte length.
        let header: [UInt8] = [0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0]
        let at = try #require(data.lastRange(of: Data(header))).upperBound
        let length = data[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | Int($1) }
        let kept = length / 2 & ~1
        data = data.prefix(at + 4 + kept)
        data.replaceSubrange(at..<(at + 4), with: (0..<4).map { UInt8(truncatingIfNeeded: kept >> (8 * $0)) })
        try data.write(to: url)
        let report = scanFolder(dir.path)
        #expect(codes(report) == ["damaged"])
        #expect(report.problems.first?.path == "DICOM/SER2/IMG00002")
        #expect(report.problems.first?.message.contains("native pixel data is \(kept) bytes") == true, "\(report.problems.first?.message ?? "")")
        #expect(report.totals.damaged == 1 && report.totals.instances == 2)
        // The whole image, and more (padding), is fine.
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.sub("whole"))
        #expect(codes(scanFolder(dir.sub("whole"))) == [])
    }

    @Test func intactEncapsulatedPixelData() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices { disc[i].encapsulated = true }
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == [])
        #expect(report.patients[0].studies[0].series[0].transferSyntaxes == ["1.2.840.10008.1.2.4.50"])
    }

    @Test("pixel data other than its transfer syntax says is an error (damaged) that fails verify; a JPEG file whose data set is implicit VR is not")
    func pixelDataAgainstItsSyntax() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[0].encapsulated = true
        disc[0].declaredSyntax = .explicitVRLittleEndian   // fragments labelled native
        disc[1].declaredSyntax = .jpegBaseline             // native pixels labelled JPEG
        disc[2].encoding = .rawImplicit                    // JPEG meta, implicit VR data set: a deviation only
        disc[2].encapsulated = true
        disc[2].declaredSyntax = .jpegBaseline
        try DiscBuilder.write(disc, to: dir.path)
        let report = scanFolder(dir.path)
        let damaged = report.problems.filter { $0.code == .damaged }
        #expect(damaged.map { $0.path ?? "" } == ["DICOM/IMG00001", "DICOM/SER2/IMG00001"])
        #expect(damaged.allSatisfy { $0.severity == .error })
        #expect(damaged.first?.message.hasPrefix("its Pixel Data is encapsulated (compressed fragments of undefined length) but its transfer syntax is Explicit VR Little Endian") == true)
        #expect(damaged.last?.message.hasPrefix("its Pixel Data is native (a defined length) but its transfer syntax is JPEG Baseline") == true)
        #expect(report.totals.damaged == 2)
        #expect(report.totals.instances == 1)
        let verified = MediumVerifier().verify(path: dir.path).report
        #expect(!verified.passed)
        #expect(verified.problems.filter { $0.code == "scan:damaged" && $0.severity == .error }.map { $0.path ?? "" }
                == ["DICOM/IMG00001", "DICOM/SER2/IMG00001"])
    }

    @Test func damagedPart10File() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: nil)
        var garbage = Data(count: 128)
        garbage.append(contentsOf: Array("DICM".utf8))
        garbage.append(contentsOf: [UInt8](repeating: 0x5A, count: 64))   // `DICM`, then no DICOM at all
        try garbage.write(to: URL(fileURLWithPath: dir.sub("DICOM/BROKEN")))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["damaged", "no-dicomdir"])
        #expect(report.problems.first?.path == "DICOM/BROKEN")
        #expect(report.totals.damaged == 1)
    }

    @Test("a file of `DICM` (and a file meta) with no data set after it is damaged, not an instance of a patient with no name")
    func dicmWithoutDataSet() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path, dicomdir: nil)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir.sub("DICOM/IMG00001")))
        // (0002,0000) UL: the meta's length after its own 12 bytes.
        let groupLength = whole[140...143].reversed().reduce(0) { $0 << 8 | Int($1) }
        try whole.prefix(132).write(to: URL(fileURLWithPath: dir.sub("DICOM/DICMONLY")))
        try whole.prefix(144 + groupLength).write(to: URL(fileURLWithPath: dir.sub("DICOM/METAONLY")))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        // The meta's SOP Instance UID is IMG00001's: a damaged copy of it.
        #expect(codes(report) == ["damaged", "damaged", "duplicate-instance", "no-dicomdir"])
        #expect(report.problems.filter { $0.code == .damaged }.map(\.path) == ["DICOM/DICMONLY", "DICOM/METAONLY"])
        #expect(report.totals.damaged == 2)
        #expect(report.totals.patients == 1)
    }

    @Test func damagedDICOMDIRIsSalvagedOnTheDisc() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        let url = URL(fileURLWithPath: dir.sub("DICOMDIR"))
        try DICOMDIRTests.shortenedRecordSequence(Data(contentsOf: url)).write(to: url)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(codes(report) == ["dicomdir-damaged"])
        #expect(report.dicomdir?.records == 7)
        #expect(report.dicomdir?.missingFiles == 0)
    }

    @Test(arguments: [0, 100, 400])
    func brokenDICOMDIR(_ keep: Int) throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        let url = URL(fileURLWithPath: dir.sub("DICOMDIR"))
        try Data(try Data(contentsOf: url).prefix(keep)).write(to: url)
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        // Reported as the DICOMDIR, never as a damaged image; the files are not "unlisted".
        #expect(codes(report) == [keep == 400 ? "dicomdir-damaged" : "dicomdir-unreadable"])
        #expect(report.problems.first?.path == "DICOMDIR")
        #expect(report.totals.damaged == 0)
        #expect(report.dicomdir?.records == 0)
    }

    // MARK: Other content

    @Test func looseDocumentsViewerAndAutorun() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        try DiscBuilder.put(Data("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n".utf8), at: dir.sub("紹介状.pdf"))
        try DiscBuilder.put(Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + Data("JFIF".utf8) + Data(count: 64), at: dir.sub("Photos/IMG_0042.JPG"))
        try DiscBuilder.put(Data("[autorun]\r\nopen=VIEWER\\VIEWER.EXE\r\n".utf8), at: dir.sub("AUTORUN.INF"))
        try DiscBuilder.put(Data("MZ".utf8) + Data(count: 510), at: dir.sub("VIEWER/VIEWER.EXE"))
        try DiscBuilder.put(Data("[viewer]\r\nlang=ja\r\n".utf8), at: dir.sub("VIEWER/VIEWER.INI"))
        try DiscBuilder.put(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(count: 32), at: dir.sub("VIEWER/icon.png"))
        try DiscBuilder.put(Data("<!DOCTYPE html><html><body>Images</body></html>".utf8), at: dir.sub("INDEX.HTM"))
        try DiscBuilder.put(Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(count: 64), at: dir.sub("IHE_PDI/IMG00001.JPG"))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(report.looseFiles.map { "\($0.path) \($0.kind)" } == ["Photos/IMG_0042.JPG jpeg", "紹介状.pdf pdf"])
        #expect(report.totals.loose == 2)
        #expect(codes(report) == ["autorun", "viewer-content"])
        #expect(report.problems.allSatisfy { $0.severity == .info })
        #expect(report.ignored.map { "\($0.path) \($0.reason.rawValue)" } == [
            "AUTORUN.INF autorun", "IHE_PDI/IMG00001.JPG viewer", "INDEX.HTM viewer", "VIEWER/VIEWER.EXE viewer", "VIEWER/VIEWER.INI viewer", "VIEWER/icon.png viewer",
        ])
        #expect(report.exitStatus == 0)
    }

    @Test("a PDF with bytes before its %PDF- header (within 1024, as readers and convert accept) is a document to convert, not text")
    func pdfHeaderAfterLeadingBytes() throws {
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        let body = Data("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n".utf8)
        try DiscBuilder.put(Data("\r\n".utf8) + body, at: dir.sub("LETTER.PDF"))
        try DiscBuilder.put(Data("HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n".utf8) + Data(repeating: 0x20, count: 600) + body,
                            at: dir.sub("SCAN0001"))
        // Past the first 1024 bytes it is no PDF header.
        try DiscBuilder.put(Data(repeating: 0x20, count: 1100) + body, at: dir.sub("NOTES.TXT"))
        let report = scanFolder(dir.path)
        #expect(outline(report) == standardOutline)
        #expect(report.looseFiles.map { "\($0.path) \($0.kind)" } == ["LETTER.PDF pdf", "SCAN0001 pdf"])
        #expect(report.ignored.map { "\($0.path) \($0.reason.rawValue)" } == ["NOTES.TXT text"])
    }

    @Test func onlyPicturesIsAWarning() throws {
        let dir = try TempDir()
        try DiscBuilder.put(Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(count: 64), at: dir.sub("scan.jpg"))
        let report = scanFolder(dir.path)
        #expect(report.patients.isEmpty)
        #expect(codes(report) == ["no-dicom-files"])
        #expect(report.totals.loose == 1)
    }

    // MARK: Archives and images

    /// The standard disc under `CD_EXPORT/` with macOS litter, as a folder tree.
    func writeMacZipTree(_ root: String) throws {
        var disc = DiscBuilder.standardDisc()
        for i in disc.indices { disc[i].diskPath = "CD_EXPORT/" + disc[i].fileID.joined(separator: "/") }
        var options = DICOMDIROptions()
        options.path = "CD_EXPORT/DICOMDIR"
        try DiscBuilder.write(disc, to: root, dicomdir: options)
        try DiscBuilder.put(Data(count: 64), at: root + "/CD_EXPORT/.DS_Store")
        try DiscBuilder.put(Data([0x00, 0x05, 0x16, 0x07]) + Data(count: 80), at: root + "/__MACOSX/CD_EXPORT/._DICOMDIR")
        try DiscBuilder.put(Data([0x00, 0x05, 0x16, 0x07]) + Data(count: 80), at: root + "/__MACOSX/CD_EXPORT/DICOM/._IMG00001")
    }

    @Test func zipWithTopFolderAndMacJunk() throws {
        guard let bsdtar = requireTool("bsdtar") else { return }
        let dir = try TempDir()
        let tree = dir.sub("tree")
        try writeMacZipTree(tree)
        try runTool(bsdtar, ["--format", "zip", "-cf", dir.sub("bundle.zip"), "CD_EXPORT", "__MACOSX"], in: tree)
        let report = scanFolder(dir.sub("bundle.zip"))
        #expect(report.source.kind == .zip)
        #expect(outline(report) == standardOutline(paths: { "CD_EXPORT/" + $0 }))
        #expect(codes(report) == [])
        #expect(report.dicomdir?.path == "CD_EXPORT/DICOMDIR")
        #expect(report.ignored.map { "\($0.path) \($0.reason.rawValue)" } == [
            "CD_EXPORT/.DS_Store os-junk", "__MACOSX/CD_EXPORT/._DICOMDIR os-junk", "__MACOSX/CD_EXPORT/DICOM/._IMG00001 os-junk",
        ])
        // The same tree as a folder scans the same.
        #expect(try canonicalJSON(report) == canonicalJSON(scanFolder(tree)))
    }

    @Test("a referenced file the reading never reached (the medium stopped early) is not said to be absent from the medium")
    func referencedFileNotReachedOnAnIncompleteMedium() throws {
        guard let bsdtar = requireTool("bsdtar") else { return }
        let dir = try TempDir()
        let tree = dir.sub("disc")
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: tree)
        try runTool(bsdtar, ["-cf", dir.sub("disc.tar"), "DICOMDIR", "DICOM/IMG00001", "DICOM/SER2"], in: tree)
        // Cut inside the SER2 folder's files: the read stops there.
        let tar = try Data(contentsOf: URL(fileURLWithPath: dir.sub("disc.tar")))
        let ser2 = try Data(contentsOf: URL(fileURLWithPath: tree + "/DICOM/SER2/IMG00001")).count
        let size = try Data(contentsOf: URL(fileURLWithPath: tree + "/DICOMDIR")).count
            + (try Data(contentsOf: URL(fileURLWithPath: tree + "/DICOM/IMG00001")).count)
        try tar.prefix(size + ser2 / 2 + 6 * 512).write(to: URL(fileURLWithPath: dir.sub("cut.tar")))
        let report = scanFolder(dir.sub("cut.tar"))
        #expect(!report.complete)
        let missing = report.problems.filter { $0.code == .referencedFileMissing }
        #expect(!missing.isEmpty)
        for problem in missing {
            #expect(problem.message.contains("could not be read to its end"), "\(problem.message)")
            #expect(!problem.message.contains("not on the medium"), "\(problem.message)")
        }
        // Read whole, a file that is not there is said to be absent.
        var disc = DiscBuilder.standardDisc()
        disc[2].writeFile = false
        try DiscBuilder.write(disc, to: dir.sub("whole"))
        let whole = scanFolder(dir.sub("whole"))
        #expect(whole.problems.filter { $0.code == .referencedFileMissing }.map(\.message).allSatisfy { $0.hasSuffix("but it is not on the medium") })
    }

    @Test func isoAndZipScanLikeTheFolder() throws {
        guard let xorriso = requireTool("xorriso"), let bsdtar = requireTool("bsdtar") else { return }
        let dir = try TempDir()
        let tree = dir.sub("disc")
        var options = DICOMDIROptions()
        options.offsets = .shifted(-132)
        var disc = DiscBuilder.standardDisc()
        disc[2].writeFile = false
        try DiscBuilder.write(disc, to: tree, dicomdir: options)
        try DiscBuilder.put(Data("[autorun]\r\n".utf8), at: tree + "/AUTORUN.INF")
        try DiscBuilder.put(Data("%PDF-1.4\n%%EOF\n".utf8), at: tree + "/LETTER.PDF")
        let folder = scanFolder(tree)
        #expect(codes(folder) == ["autorun", "dicomdir-wrong-offsets", "referenced-file-missing"])

        try runTool(xorriso, ["-as", "mkisofs", "-R", "-J", "-V", "DISCPORT_TEST", "-o", dir.sub("disc.iso"), tree], in: dir.path)
        let iso = scanFolder(dir.sub("disc.iso"))
        #expect(iso.source.kind == .iso9660)
        #expect(iso.source.volumeLabel == "DISCPORT_TEST")
        #expect(try canonicalJSON(iso) == canonicalJSON(folder))

        let entries = try FileManager.default.contentsOfDirectory(atPath: tree).sorted()
        try runTool(bsdtar, ["--format", "zip", "-cf", dir.sub("disc.zip")] + entries, in: tree)
        let zip = scanFolder(dir.sub("disc.zip"))
        #expect(zip.source.kind == .zip)
        #expect(try canonicalJSON(zip) == canonicalJSON(folder))
    }

    /// A hospital's download: the disc image or a zip inside the medium is
    /// named, with what to do; an archive of the viewer is viewer content.
    @Test func archivesAndDiscImagesInsideAreNamed() throws {
        let dir = try TempDir()
        var iso = Data(count: 0x8000 + 4096)
        iso.replaceSubrange(0x8001..<0x8006, with: Data("CD001".utf8))
        try DiscBuilder.put(iso, at: dir.sub("CD_IMAGE.BIN"))
        try DiscBuilder.put(Data([0x50, 0x4B, 0x03, 0x04]) + Data(count: 60), at: dir.sub("images.zip"))
        try DiscBuilder.put(Data([0x50, 0x4B, 0x03, 0x04]) + Data(count: 60), at: dir.sub("VIEWER/runtime.zip"))
        try DiscBuilder.put(Data(count: 0x9000), at: dir.sub("blank.dat"))
        let report = scanFolder(dir.path)
        let nested = report.problems.filter { $0.code == .nestedMedium }
        #expect(nested.map(\.path) == ["CD_IMAGE.BIN", "images.zip"])
        #expect(nested.allSatisfy { $0.severity == .warning && $0.message.contains("extract it and scan it on its own") })
        #expect(report.ignored.first { $0.path == "VIEWER/runtime.zip" }?.reason == .viewer)
        #expect(report.ignored.first { $0.path == "blank.dat" }?.reason == .unrecognized)
    }

    /// A UDF-only disc (BD media, some DVDs): libarchive reads ISO 9660
    /// only, so the UDF structures are read by discport itself.
    @Test func udfOnlyImageScansLikeTheFolder() throws {
        guard let genisoimage = requireTool("genisoimage") else { return }
        let dir = try TempDir()
        let tree = dir.sub("disc")
        var disc = DiscBuilder.standardDisc()
        disc[0].diskPath = "DICOM/日本語/IMG00001"   // names in UTF-16 (OSTA CS0 16)
        try DiscBuilder.write(disc, to: tree)
        try DiscBuilder.put(Data("%PDF-1.4\n%%EOF\n".utf8), at: tree + "/LETTER.PDF")
        try DiscBuilder.put(Data(repeating: 0x41, count: 3 << 20), at: tree + "/VIEWER/BIG.BIN")   // several sectors
        let folder = scanFolder(tree)

        try runTool(genisoimage, ["-quiet", "-udf", "-V", "UDF_DISC", "-o", dir.sub("bridge.iso"), tree], in: dir.path)
        try udfOnly(dir.sub("bridge.iso"), to: dir.sub("udf.img"))
        let head = try readBytes(path: dir.sub("udf.img"), offset: 0, count: MediumSniffer.headSize)
        #expect(ArchiveMedium.hasUDFWithoutISO(head))
        let udf = scanFolder(dir.sub("udf.img"))
        #expect(udf.source.kind == .iso9660)
        #expect(udf.source.volumeLabel == "UDF_DISC")
        #expect(udf.complete)
        #expect(try canonicalJSON(udf) == canonicalJSON(folder))

        // Every byte of a file comes back (the big one spans many sectors).
        let medium = try openMedium(dir.sub("udf.img"))
        let copied = Mutex<[String: Data]>([:])
        try medium.visitFiles { file in
            var bytes = Data()
            try file.copyContents { bytes.append(contentsOf: $0) }
            copied.withLock { $0[file.path] = bytes }
        }
        #expect(copied.withLock { $0["VIEWER/BIG.BIN"] } == Data(repeating: 0x41, count: 3 << 20))
        #expect(copied.withLock { $0[disc[0].path] } == FileManager.default.contents(atPath: tree + "/" + disc[0].path))

        // Damage never crashes or hangs the reader: truncated, and bytes
        // flipped in the volume and file structures.
        let image = try Data(contentsOf: URL(fileURLWithPath: dir.sub("udf.img")))
        try image.prefix(image.count / 3).write(to: URL(fileURLWithPath: dir.sub("cut.img")))
        #expect(!scanFolder(dir.sub("cut.img")).complete || scanFolder(dir.sub("cut.img")).totals.instances < folder.totals.instances)
        // Values written into the descriptors themselves, their tag
        // checksums made right again, so that the reader takes them for
        // real (offsets, lengths, counts past every bound).
        let descriptors = stride(from: 16 * 2048, to: image.count - 2048, by: 2048).filter { UDFImage.tag(image[$0...]) != nil }
        var random = SystemRandomNumberGenerator()
        for round in 0..<150 {
            var damaged = image
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let sector = descriptors.randomElement(using: &random)!
                let offset = sector + Int.random(in: 16..<508, using: &random)
                let value = [0, 1, 0xFFFF_FFFF, 0x3FFF_FFFF, 0x7FFF_FFFF, UInt32.random(in: 0...UInt32.max, using: &random)]
                    .randomElement(using: &random)!
                for byte in 0..<Int.random(in: 1...4, using: &random) { damaged[offset + byte] = UInt8(value >> (8 * byte) & 0xFF) }
                var sum: UInt8 = 0
                for index in 0..<16 where index != 4 { sum &+= damaged[sector + index] }
                damaged[sector + 4] = sum
            }
            let path = dir.sub("damaged-\(round).img")
            try damaged.write(to: URL(fileURLWithPath: path))
            _ = scanFolder(path)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    /// A bridge disc whose ISO 9660 side holds only a note ("use a UDF
    /// reader") is read through its UDF side, which has the images; a full
    /// bridge keeps being read through ISO 9660 (libarchive).
    @Test func bridgeDiscReadsTheRicherFileSystem() throws {
        guard let disc = try udfDisc(["README.TXT": "This disc is UDF: use a UDF reader.\r\n", "notes/lower.txt": "x"],
                                     genisoimage: ["-hide", "DICOM", "-hide", "DICOMDIR"]) else { return }
        let note = scanFolder(disc.image)
        #expect(note.totals.instances == disc.folder.totals.instances)
        #expect(try canonicalJSON(note) == canonicalJSON(disc.folder))
        let head = try readBytes(path: disc.image, offset: 0, count: MediumSniffer.headSize)
        #expect(ArchiveMedium.hasUDF(head) && !ArchiveMedium.hasUDFWithoutISO(head))
        // The full bridge: ISO 9660 level 1 names (upper case) tell the side read.
        guard let full = try udfDisc(["notes/lower.txt": "x"]) else { return }
        #expect(scanFolder(full.image).ignored.map(\.path) == ["NOTES/LOWER.TXT"])
        #expect(note.ignored.map(\.path).contains("notes/lower.txt"))
    }

    /// A standard disc plus `extra` files as a folder, and as a UDF/ISO 9660
    /// bridge image made by genisoimage (nil without it).
    func udfDisc(_ extra: [String: String], genisoimage options: [String] = [],
                 label: String = "UDF_DISC") throws -> (dir: TempDir, folder: ScanReport, image: String)? {
        guard let genisoimage = requireTool("genisoimage") else { return nil }
        let dir = try TempDir()
        let tree = dir.sub("disc")
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: tree)
        for (path, text) in extra { try DiscBuilder.put(Data(text.utf8), at: tree + "/" + path) }
        try runTool(genisoimage, ["-quiet", "-udf", "-V", label] + options + ["-o", dir.sub("bridge.iso"), tree], in: dir.path)
        return (dir, scanFolder(tree), dir.sub("bridge.iso"))
    }

    /// UDF 2.50 as BD media carry it: folders and entries in a metadata
    /// partition, mapped through the metadata file's extents.
    @Test func udfMetadataPartitionScansLikeTheFolder() throws {
        guard let (dir, folder, bridge) = try udfDisc(["REPORTS/LETTER.PDF": "%PDF-1.4\n%%EOF\n"], label: "BD_DISC") else { return }
        try udfOnly(bridge, to: dir.sub("udf.img"))
        var image = try Data(contentsOf: URL(fileURLWithPath: dir.sub("udf.img")))
        try UDFMetadataRewriter.rewrite(&image)
        try image.write(to: URL(fileURLWithPath: dir.sub("bd.img")))
        let bd = scanFolder(dir.sub("bd.img"))
        #expect(bd.complete, "\(bd.problems.map(\.message))")
        #expect(bd.source.volumeLabel == "BD_DISC")
        #expect(try canonicalJSON(bd) == canonicalJSON(folder))
    }

    /// A UDF-only image from a UDF/ISO 9660 bridge image: the volume
    /// recognition sequence keeps its UDF descriptors only.
    func udfOnly(_ bridge: String, to path: String) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: bridge))
        let sector = 2048
        var kept: [Data] = []
        var index = 16
        while index * sector + 6 <= data.count {
            let identifier = String(decoding: data[(index * sector + 1)..<(index * sector + 6)], as: UTF8.self)
            guard ["CD001", "BEA01", "NSR02", "NSR03", "TEA01"].contains(identifier) else { break }
            if identifier != "CD001" { kept.append(data[(index * sector)..<((index + 1) * sector)]) }
            data.replaceSubrange((index * sector)..<((index + 1) * sector), with: Data(count: sector))
            index += 1
        }
        for (offset, descriptor) in kept.enumerated() {
            data.replaceSubrange(((16 + offset) * sector)..<((17 + offset) * sector), with: descriptor)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Empty UDF volumes as mkudffs makes them: 512- and 4096-byte blocks, and the
    /// virtual partition (VAT) of a CD-R, DVD-R or BD-R written
    /// incrementally (UDF 1.50, 2.01, 2.50, 2.60).
    @Test func emptyUDFVolumesOpen() throws {
        guard let mkudffs = requireTool("mkudffs") else { return }
        let dir = try TempDir()
        for options in [["--media-type=hd"], ["--media-type=hd", "--blocksize=4096"], ["--media-type=cdr", "--udfrev=0x0201"], ["--media-type=dvdr", "--udfrev=0x0150"],
                        ["--media-type=bdr", "--udfrev=0x0250"], ["--media-type=bdr", "--udfrev=0x0260"]] {
            let path = dir.sub("empty.img")
            try? FileManager.default.removeItem(atPath: path)
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(truncate(path, 32 << 20) == 0)
            try runTool(mkudffs, options + ["--label=EMPTY_UDF", path], in: dir.path)
            let report = scanFolder(path)
            #expect(report.source.volumeLabel == "EMPTY_UDF", "\(options)")
            #expect(report.complete, "\(options): \(report.problems.map(\.message))")
            #expect(report.totals.files == 0, "\(options)")
        }
    }

    // MARK: Outcome and schema

    @Test func unreadableSource() {
        let report = scanFolder("/nonexistent/discport-\(UUID().uuidString)")
        #expect(!report.complete)
        #expect(codes(report) == ["medium-error"])
        #expect(report.exitStatus == 2)
        #expect(report.source.kind == nil)
    }

    @Test("a report that cannot be written (disk full) throws, JSON and text, instead of stopping the process")
    func reportToAFullDiskThrows() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        let dir = try TempDir()
        try DiscBuilder.write(DiscBuilder.standardDisc(), to: dir.path)
        let report = scanFolder(dir.path)
        for json in [true, false] {
            let full = try #require(FileHandle(forWritingAtPath: "/dev/full"))
            #expect(throws: (any Error).self) { try report.write(json: json, to: full) }
        }
        // Written where it fits, the bytes are the report's.
        let path = dir.sub("report.json")
        FileManager.default.createFile(atPath: path, contents: nil)
        let out = try #require(FileHandle(forWritingAtPath: path))
        try report.write(json: true, to: out)
        try out.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == report.jsonData() + Data([0x0A]))
    }

    @Test func jsonSchemaKeys() throws {
        let dir = try TempDir()
        var disc = DiscBuilder.standardDisc()
        disc[2].writeFile = false
        try DiscBuilder.write(disc, to: dir.path)
        try DiscBuilder.put(Data("%PDF-1.4\n%%EOF\n".utf8), at: dir.sub("LETTER.PDF"))
        try DiscBuilder.put(Data("readme".utf8), at: dir.sub("README.TXT"))
        let report = scanFolder(dir.path)
        let object = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        func keys(_ value: Any?) -> Set<String> { Set((value as? [String: Any])?.keys.map { $0 } ?? []) }
        func first(_ value: Any?) -> Any? { (value as? [Any])?.first }
        #expect(keys(object) == ["format", "source", "complete", "totals", "patients", "problems", "loose_files", "ignored", "dicomdir", "other_dicomdirs"])
        #expect(object["format"] as? Int == 1)
        #expect(keys(object["source"]) == ["path", "kind", "volume_label"])
        #expect(keys(object["totals"]) == ["patients", "studies", "series", "instances", "damaged", "missing", "loose", "files", "size"])
        let patient = first(object["patients"])
        #expect(keys(patient) == ["patient_id", "issuer_of_patient_id", "name", "name_alphabetic", "name_ideographic", "name_phonetic", "birth_date", "sex", "instance_count", "size", "studies"])
        let study = first((patient as? [String: Any])?["studies"])
        #expect(keys(study) == ["study_instance_uid", "study_date", "study_time", "study_description", "accession_number", "study_id", "instance_count", "size", "series"])
        let series = first((study as? [String: Any])?["series"])
        #expect(keys(series) == ["series_instance_uid", "series_number", "modality", "series_description", "instance_count", "size", "transfer_syntaxes", "instances"])
        #expect(keys(first((series as? [String: Any])?["instances"])) == ["sop_instance_uid", "sop_class_uid", "transfer_syntax_uid", "instance_number", "path", "size", "has_file_meta"])
        #expect(keys(first(object["problems"])) == ["code", "severity", "path", "message"])
        #expect(keys(first(object["loose_files"])) == ["path", "kind", "size"])
        #expect(keys(first(object["ignored"])) == ["path", "reason", "size"])
        #expect(keys(object["dicomdir"]) == ["path", "file_set_id", "transfer_syntax_uid", "tree_source", "offset_shift", "records", "inactive_records", "skipped_records", "patients", "studies", "series", "instances", "referenced_files", "missing_files"])
        // Absent values are null, not left out.
        #expect((patient as? [String: Any])?["name_ideographic"] is NSNull)
        // And it decodes back.
        let decoded = try JSONDecoder().decode(ScanReport.self, from: report.jsonData())
        #expect(outline(decoded) == outline(report))
        #expect(decoded.problems == report.problems)
    }
}

// MARK: - Units

@Suite("DICOMDIR and File IDs")
struct DICOMDIRTests {
    func directory(_ options: DICOMDIROptions = .init(), instances: [DiscInstance] = DiscBuilder.standardDisc()) throws -> DICOMDirectory {
        try directory(DiscBuilder.directoryBytes(instances, options: options))
    }

    /// The directory of a DICOMDIR parsed whole, after checking that
    /// reading it record by record as its items are parsed (as a scan and
    /// `verify` do) gives the same.
    func directory(_ data: Data, sourceLocation: SourceLocation = #_sourceLocation) throws -> DICOMDirectory {
        let file = try DICOMFile(data: data, options: ReadOptions(lenient: true))
        let whole = DICOMDirectory(file: file, path: "DICOMDIR", data: data)
        let streamed = DICOMDirectory(data: data, path: "DICOMDIR")
        #expect(outline(streamed) == outline(whole), sourceLocation: sourceLocation)
        // Record by record indeed: the items were taken as read, none kept
        // in the file (a damaged one: those before the fault, then salvaged).
        var reader = DirectoryReader(path: "DICOMDIR")
        let parsed = try DICOMFile(data: data, options: DirectoryReader.readOptions, handingItemsOf: .directoryRecordSequence) { reader.take($0) }
        if parsed.error == nil {
            #expect(parsed.dataset[.directoryRecordSequence]?.items?.isEmpty == true, sourceLocation: sourceLocation)
            #expect(reader.takenRecords.count == whole.records.count, sourceLocation: sourceLocation)
        } else {
            #expect(reader.takenRecords.count < whole.records.count, sourceLocation: sourceLocation)
        }
        #expect(streamed.records.map { $0.attributes.elements.count } == whole.records.map { $0.attributes.elements.count }, sourceLocation: sourceLocation)
        return whole
    }

    /// Everything a directory says but the records' items.
    func outline(_ directory: DICOMDirectory) -> String {
        var copy = directory
        for index in copy.records.indices { copy.records[index].attributes = Dataset() }
        return String(reflecting: copy)
    }

    @Test("the last record item of a DICOMDIR runs past the end of the file (pydicom's DICOMDIR-nooffset): salvaged with its elements, not lost")
    func lastItemRunningPastTheEnd() throws {
        var data = try DiscBuilder.directoryBytes(DiscBuilder.standardDisc(), options: .init())
        // The last item tag (FFFE,E000): its length 24 bytes too long.
        let tag: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0]
        let bytes = [UInt8](data)
        let at = try #require((0...(bytes.count - 8)).last { Array(bytes[$0..<($0 + 4)]) == tag })
        let length = UInt32(bytes[at + 4]) | UInt32(bytes[at + 5]) << 8 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 24
        #expect(at + 8 + Int(length) == bytes.count, "the last item ends the file")
        withUnsafeBytes(of: (length + 24).littleEndian) { data.replaceSubrange((at + 4)..<(at + 8), with: $0) }
        let dir = try directory(data)
        #expect(dir.records.map(\.type) == ["PATIENT", "STUDY", "SERIES", "IMAGE", "SERIES", "IMAGE", "IMAGE"])
        #expect(dir.records[6].referencedFileID == ["DICOM", "SER2", "IMG00002"])
        #expect(dir.problems.map(\.code) == [.dicomdirDamaged])
    }

    @Test func recordTree() throws {
        let dir = try directory()
        #expect(dir.records.map(\.type) == ["PATIENT", "STUDY", "SERIES", "IMAGE", "SERIES", "IMAGE", "IMAGE"])
        #expect(dir.roots == [0])
        #expect(dir.records[0].children == [1] && dir.records[1].children == [2, 4] && dir.records[4].children == [5, 6])
        #expect(dir.records[3].referencedFileID == ["DICOM", "IMG00001"])
        #expect(dir.records[3].referencedTransferSyntaxUID == "1.2.840.10008.1.2.1")
        #expect(dir.records[0].patientID == "P0001")
        #expect(dir.fileSetID == "DISCPORT_TEST")
        #expect(dir.problems.isEmpty)
        let entries = dir.instanceEntries()
        #expect(entries.map(\.record) == [3, 5, 6])
        #expect(entries.allSatisfy { $0.patient == 0 && $0.study == 1 })
        #expect(dir.counts == (1, 1, 2, 3))
    }

    /// Every quirk of the disc builder reads the same record by record as whole
    /// (``directory(_:sourceLocation:)`` compares the two).
    @Test func recordByRecordReadIsTheWholeRead() throws {
        var variants: [DICOMDIROptions] = []
        for offsets: DICOMDIROptions.Offsets in [.correct, .shifted(-132), .zero, .loop] {
            for implicitVR in [false, true] {
                var options = DICOMDIROptions()
                options.offsets = offsets
                options.implicitVR = implicitVR
                variants.append(options)
            }
        }
        var quirky = DICOMDIROptions()
        quirky.inactive = [DiscBuilder.standardDisc()[1].sopUID]
        quirky.privateRecord = true
        quirky.omitStudyUID = true
        variants.append(quirky)
        for options in variants {
            let dir = try directory(options)
            #expect(dir.records.count >= 7)
        }
    }

    /// `data`, a DICOMDIR, with its Directory Record Sequence length 16
    /// short: the last item then overruns it.
    static func shortenedRecordSequence(_ data: Data) throws -> Data {
        var data = data
        let bytes = [UInt8](data)
        let tag: [UInt8] = [0x04, 0x00, 0x20, 0x12, 0x53, 0x51, 0x00, 0x00]
        let at = try #require((132..<(bytes.count - 8)).first { Array(bytes[$0..<($0 + 8)]) == tag })
        let length = Int(bytes[at + 8]) | Int(bytes[at + 9]) << 8 | Int(bytes[at + 10]) << 16 | Int(bytes[at + 11]) << 24
        let shorter = UInt32(length - 16)
        for i in 0..<4 { data[at + 8 + i] = UInt8(truncatingIfNeeded: shorter >> (8 * UInt32(i))) }
        return data
    }

    @Test func damagedSequenceLengthIsSalvaged() throws {
        let data = try Self.shortenedRecordSequence(DiscBuilder.directoryBytes(DiscBuilder.standardDisc(), options: .init()))
        let file = try DICOMFile(data: data, options: ReadOptions(lenient: true))
        #expect(file.error != nil)
        let dir = try directory(data)
        #expect(dir.records.count == 7)
        #expect(dir.counts == (1, 1, 2, 3))
        #expect(dir.problems.map(\.code) == [.dicomdirDamaged])
    }

    @Test func notADICOMDIRAtAll() throws {
        var ds = Dataset()
        try ds.setString("1.2.3", vr: .UI, for: .sopInstanceUID)
        let file = DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian)
        let dir = DICOMDirectory(file: file, path: "X/DICOMDIR")
        #expect(dir.records.isEmpty && dir.treeSource == .empty)
        #expect(dir.problems.map(\.code) == [.dicomdirNoMeta, .dicomdirEmpty])
        #expect(dir.folder == "X")
    }

    @Test func fileIDResolution() {
        let resolver = FileIDResolver(paths: [
            "CD_EXPORT/DICOMDIR", "CD_EXPORT/dicom/img00001", "CD_EXPORT/DICOM/IMG00002.;1", "CD_EXPORT/DICOM/IMG00003;1",
            "CD_EXPORT/DICOM/IMG00004.dcm", "CD_EXPORT/DICOM/IMG00005.", "TOP/IMG1", "CD_EXPORT/DICOM/EXACT", "CD_EXPORT/dicom/exact",
        ])
        #expect(resolver.resolve(["DICOM", "IMG00001"], folder: "CD_EXPORT") == "CD_EXPORT/dicom/img00001")
        #expect(resolver.resolve(["DICOM", "IMG00002"], folder: "CD_EXPORT") == "CD_EXPORT/DICOM/IMG00002.;1")
        #expect(resolver.resolve(["DICOM", "IMG00003"], folder: "CD_EXPORT") == "CD_EXPORT/DICOM/IMG00003;1")
        #expect(resolver.resolve(["DICOM", "IMG00004"], folder: "CD_EXPORT") == "CD_EXPORT/DICOM/IMG00004.dcm")
        #expect(resolver.resolve(["DICOM", "IMG00005"], folder: "CD_EXPORT") == "CD_EXPORT/DICOM/IMG00005.")
        #expect(resolver.resolve(["DICOM\\IMG00001"], folder: "CD_EXPORT") == "CD_EXPORT/dicom/img00001")
        #expect(resolver.resolve(["DICOM/IMG00001"], folder: "CD_EXPORT") == "CD_EXPORT/dicom/img00001")
        #expect(resolver.resolve(["DICOM", "EXACT"], folder: "CD_EXPORT") == "CD_EXPORT/DICOM/EXACT")
        #expect(resolver.resolve(["dicom", "exact"], folder: "CD_EXPORT") == "CD_EXPORT/dicom/exact")
        // From the top of the medium when not below the DICOMDIR's folder.
        #expect(resolver.resolve(["TOP", "IMG1"], folder: "CD_EXPORT") == "TOP/IMG1")
        #expect(resolver.resolve(["DICOM", "IMG00009"], folder: "CD_EXPORT") == nil)
        #expect(resolver.resolve(["..", "DICOMDIR"], folder: "CD_EXPORT") == nil)
        #expect(resolver.resolve([], folder: "") == nil)
        #expect(!FileIDResolver.isValid(["C:", "X"]))
    }

    @Test func osJunkNames() {
        for junk in ["__MACOSX/x/._A", "a/._DICOMDIR", ".DS_Store", "x/Thumbs.db", "Desktop.ini", "System Volume Information/IndexerVolumeGuid"] {
            #expect(FileInspector.isOSJunk(junk), "\(junk)")
        }
        for ok in ["DICOMDIR", "DICOM/IMG1", "thumbs/db", "MACOSX/A"] {
            #expect(!FileInspector.isOSJunk(ok), "\(ok)")
        }
    }
}

/// Turns a UDF 1.02 image (genisoimage) into one with a UDF 2.50 metadata
/// partition over its physical partition: a second partition map, a
/// metadata file (two extents covering the partition, so metadata block n
/// is physical block n, split in the middle), and every File Set, root and
/// File Identifier reference moved to the metadata partition.
enum UDFMetadataRewriter {
    static let sector = 2048

    static func rewrite(_ image: inout Data) throws {
        func u16(_ at: Int) -> Int { Int(image[at]) | Int(image[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func put16(_ value: Int, _ at: Int) { image[at] = UInt8(value & 0xFF); image[at + 1] = UInt8(value >> 8 & 0xFF) }
        func put32(_ value: Int, _ at: Int) { put16(value & 0xFFFF, at); put16(value >> 16 & 0xFFFF, at + 2) }
        func seal(_ at: Int) {   // the tag checksum
            var sum = 0
            for index in 0..<16 where index != 4 { sum += Int(image[at + index]) }
            image[at + 4] = UInt8(sum & 0xFF)
        }
        let anchor = 256 * sector
        let vds = u32(anchor + 20) * sector
        var lvd = -1, start = -1, length = -1, number = -1
        for index in 0..<16 {
            let at = vds + index * sector
            switch u16(at) {
            case 5: start = u32(at + 188); length = u32(at + 192); number = u16(at + 22)
            case 6: lvd = at
            default: break
            }
        }
        try #require(lvd >= 0 && start >= 0 && length > 1)
        // A free block of the partition holds the metadata file's entry.
        func isBlank(_ block: Int) -> Bool {
            let from = (start + block) * sector
            return image[from..<(from + sector)].allSatisfy { $0 == 0 }
        }
        let blank: Int? = (1..<length).reversed().first(where: isBlank)
        let free = try #require(blank)
        // The map: type 2, "*UDF Metadata Partition", over partition `number`.
        let map = lvd + 440 + u32(lvd + 264)
        image.replaceSubrange(map..<(map + 64), with: Data(count: 64))
        image[map] = 2; image[map + 1] = 64
        image.replaceSubrange((map + 5)..<(map + 28), with: Data("*UDF Metadata Partition".utf8))
        put16(0x0250, map + 4 + 24)
        put16(1, map + 36); put16(number, map + 38)
        put32(free, map + 40); put32(free, map + 44); put32(0xFFFF_FFFF, map + 48); put32(32, map + 52); put16(1, map + 56)
        put32(u32(lvd + 264) + 64, lvd + 264); put32(2, lvd + 268)
        put16(1, lvd + 248 + 8)   // the File Set Descriptor, in the metadata partition
        seal(lvd)
        // The metadata file: type 250, two short_ads covering the partition.
        let entry = (start + free) * sector
        image[entry] = 5; image[entry + 1] = 1   // tag 261 (0x105), version 2 below
        put16(261, entry); put16(2, entry + 2); put32(free, entry + 12)
        put16(4, entry + 16 + 4); image[entry + 16 + 11] = 250
        let half = length / 2
        image.replaceSubrange((entry + 56)..<(entry + 64), with: withUnsafeBytes(of: UInt64(length * sector).littleEndian) { Data($0) })
        put32(16, entry + 172)
        put32(half * sector, entry + 176); put32(0, entry + 180)
        put32((length - half) * sector, entry + 184); put32(half, entry + 188)
        seal(entry)
        // The File Set Descriptor's root, and every File Identifier below it.
        let fsd = (start + u32(lvd + 248 + 4)) * sector
        put16(1, fsd + 400 + 8)
        seal(fsd)
        var folders = [u32(fsd + 400 + 4)]
        var seen = Set<Int>()
        while let block = folders.popLast() {
            guard seen.insert(block).inserted else { continue }
            let fe = (start + block) * sector
            let attributes = u32(fe + 168)
            let at = fe + 176 + attributes
            let size = u32(at) & 0x3FFF_FFFF, position = u32(at + 4)
            var offset = (start + position) * sector
            let end = offset + size
            while offset + 38 <= end, u16(offset) == 257 {
                let characteristics = image[offset + 18]
                put16(1, offset + 20 + 8)
                seal(offset)
                if characteristics & 0x0A == 0x02 { folders.append(u32(offset + 20 + 4)) }   // a folder, not the parent
                offset += (38 + u16(offset + 36) + Int(image[offset + 19]) + 3) & ~3
            }
        }
    }
}
