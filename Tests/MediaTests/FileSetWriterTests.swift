import Crypto
import DICOM
import Foundation
import Synchronization
@testable import Media
import Testing

@Suite struct FileSetWriterTests {
    /// Source files from DiscBuilder (one raw implicit, one JPEG) in a temporary folder.
    func sources(_ instances: [DiscInstance]) throws -> (root: String, files: [FileSetSource]) {
        let root = NSTemporaryDirectory() + "fsw-" + UUID().uuidString
        try DiscBuilder.write(instances, to: root + "/src", dicomdir: nil)
        return (root, instances.map { FileSetSource(path: root + "/src/" + $0.path) })
    }

    @Test func writesConformantFileSetThatReadsBackWithItsOffsets() throws {
        var instances = DiscBuilder.standardDisc()
        instances[2].encoding = .rawImplicit
        instances[0].characterSet = "\\ISO 2022 IR 87"
        instances[0].patientName = "Yamada^Tarou=山田^太郎"
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try FileSetWriter(profile: .stdGenCD, fileSetID: "TEST_SET").write(files, to: root + "/out")
        #expect(result.entries.count == 3)
        #expect(result.entries.allSatisfy { FileSetWriter.isConformantFileID($0.fileID) })
        #expect(result.entries.map(\.path).contains("DICOM/PAT00001/STU00001/SER00002/IMG00002"))
        #expect(result.entries.filter { $0.rewritten != nil }.count == 1)
        #expect(result.entries.allSatisfy { $0.transferSyntaxUID == TransferSyntax.explicitVRLittleEndian.uid })

        let file = try DICOMFile(contentsOf: root + "/out/DICOMDIR")
        let directory = DICOMDirectory(file: file, path: "DICOMDIR")
        #expect(directory.treeSource == .offsets)
        #expect(directory.problems.isEmpty)
        #expect(directory.fileSetID == "TEST_SET")
        #expect(directory.counts.instances == 3)
        #expect(file.dataset.integer(.fileSetConsistencyFlag) == 0)
        let patient = directory.records[directory.roots[0]]
        #expect(patient.attributes[.specificCharacterSet] != nil)   // kanji in the PATIENT record
        let series = directory.records.filter { $0.level == .series }
        #expect(series.allSatisfy { $0.attributes[.specificCharacterSet] == nil })   // ASCII only
    }

    @Test("a source whose bytes differ from the store's SHA-256 is refused, whether copied or rewritten")
    func changedSourcesAreRefused() throws {
        var instances = DiscBuilder.standardDisc()
        instances[2].encoding = .rawImplicit   // rewritten (Part 10 header, explicit VR)
        let (root, plain) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = try plain.map { source in
            let hash = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: source.path)))
            return FileSetSource(path: source.path, expectedSHA256: hash.map { String(format: "%02x", $0) }.joined())
        }
        _ = try FileSetWriter(profile: .stdGenCD, fileSetID: "OK").write(files, to: root + "/ok")
        for (index, out) in [(0, "copied"), (2, "rewritten")] {
            let original = try Data(contentsOf: URL(fileURLWithPath: files[index].path))
            var changed = original
            changed[changed.count - 1] ^= 0x01
            try changed.write(to: URL(fileURLWithPath: files[index].path))
            #expect {
                try FileSetWriter(profile: .stdGenCD, fileSetID: "X").write(files, to: root + "/" + out)
            } throws: { error in
                "\(error)".contains("\(files[index].path): its content changed since it was stored")
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/" + out + "/DICOMDIR"))
            try original.write(to: URL(fileURLWithPath: files[index].path))
        }
    }

    /// Without a decompressor (the export job gives the codecs' one).
    @Test func refusesCompressedFilesOnCDNamingThemAndKeepsThemOnDVD() throws {
        var instances = DiscBuilder.standardDisc()
        instances[1].encapsulated = true
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect {
            try FileSetWriter(profile: .stdGenCD, fileSetID: "CD").write(files, to: root + "/cd")
        } throws: { error in
            let message = (error as? FileSetError)?.description ?? ""
            return message.contains("no decoder is available") && message.contains(instances[1].path)
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/cd/DICOMDIR"))
        let dvd = try FileSetWriter(profile: .stdGenDVDJPEG, fileSetID: "DVD").write(files, to: root + "/dvd")
        #expect(dvd.entries.contains { $0.transferSyntaxUID == TransferSyntax.jpegBaseline.uid })
    }

    @Test func missingType1KeysAreRefusedOrInventedAndRecorded() throws {
        var instances = DiscBuilder.standardDisc()
        for i in instances.indices { instances[i].studyID = "" }
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: FileSetError.self) { try FileSetWriter(profile: .stdGenCD, fileSetID: "X").write(files, to: root + "/a") }
        let result = try FileSetWriter(profile: .stdGenCD, fileSetID: "X", invent: true).write(files, to: root + "/b")
        #expect(result.inventions.map(\.keyword) == ["StudyID"])
    }

    @Test func recordTypesFollowTheSOPClass() {
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.88.33") == "SR DOCUMENT")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.104.1") == "ENCAP DOC")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.88.59") == "KEY OBJECT DOC")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.11.1") == "PRESENTATION")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.9.1.1") == "WAVEFORM")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.481.5") == "RT PLAN")
        #expect(DirectoryRecordKeys.recordType(sopClassUID: "1.2.840.10008.5.1.4.1.1.2") == "IMAGE")
        #expect(FileSetWriter.isConformantFileID(["DICOM", "PAT00001"]))
        #expect(!FileSetWriter.isConformantFileID(["dicom"]))
        #expect(!FileSetWriter.isConformantFileID(["IMG.DCM"]))
        #expect(!FileSetWriter.isValidFileSetID("SEVENTEEN_CHARS_X"))
    }

    @Test func verifyPassesAWrittenMediumAndFindsAutorunAndMissingReadme() throws {
        let (root, files) = try sources(DiscBuilder.standardDisc())
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try FileSetWriter(profile: .stdGenCD, fileSetID: "V").write(files, to: root + "/out")
        let missingReadme = MediumVerifier(profile: .stdGenCD).verify(path: root + "/out").report
        #expect(missingReadme.problems.map(\.code) == ["readme-missing"])
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/out/README.TXT"))
        #expect(MediumVerifier(profile: .stdGenCD).verify(path: root + "/out").report.passed)
        try Data("[autorun]".utf8).write(to: URL(fileURLWithPath: root + "/out/AUTORUN.INF"))
        let autorun = MediumVerifier().verify(path: root + "/out").report
        #expect(!autorun.passed && autorun.problems.contains { $0.code == "forbidden-root-content" })
    }
}

// MARK: - Pixel data and its transfer syntax

extension FileSetWriterTests {
    @Test("encapsulated pixel data in a data set encoded otherwise (JPEG meta, implicit VR content) is read in the declared syntax: kept on DVD, decompressed or refused on CD")
    func encapsulatedPixelDataIsReadInItsDeclaredSyntax() throws {
        var instances = DiscBuilder.standardDisc()
        instances[1].encoding = .rawImplicit
        instances[1].encapsulated = true
        instances[1].declaredSyntax = .jpegBaseline
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }

        let dvd = try FileSetWriter(profile: .stdGenDVDJPEG, fileSetID: "DVD").write(files, to: root + "/dvd")
        let entry = try #require(dvd.entries.first { $0.sopInstanceUID == instances[1].sopUID })
        #expect(entry.transferSyntaxUID == TransferSyntax.jpegBaseline.uid)
        #expect(entry.rewritten?.contains("Implicit VR Little Endian under JPEG Baseline") == true)
        let written = try DICOMFile(contentsOf: root + "/dvd/" + entry.path)
        #expect(written.transferSyntax == .jpegBaseline)
        #expect(written.warnings.isEmpty)   // the data set is explicit VR, as the syntax says
        guard case .fragments(let pixels)? = written.dataset[.pixelData]?.value else {
            Issue.record("the pixel data is no longer encapsulated")
            return
        }
        #expect(pixels.fragments.count == 1)
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/dvd/README.TXT"))
        #expect(MediumVerifier(profile: .stdGenDVDJPEG).verify(path: root + "/dvd").report.problems.map(\.code) == [])

        // CD: like any JPEG file, refused without a decoder …
        #expect {
            try FileSetWriter(profile: .stdGenCD, fileSetID: "CD").write(files, to: root + "/cd")
        } throws: { error in
            let message = "\(error)"
            return message.contains(instances[1].path) && message.contains("JPEG Baseline") && message.contains("no decoder is available")
        }
        // … and handed to the decoder as JPEG Baseline with one.
        let seen = Mutex<[String]>([])
        var writer = FileSetWriter(profile: .stdGenCD, fileSetID: "CD")
        writer.decompressor = { file in
            seen.withLock { $0.append(file.transferSyntax.uid) }
            var native = file
            native.transferSyntax = .explicitVRLittleEndian
            native.dataset.set(DataElement(tag: .pixelData, vr: .OB, bytes: Data(count: DiscBuilder.imageRows * DiscBuilder.imageRows)))
            return native
        }
        let cd = try writer.write(files, to: root + "/cd")
        #expect(seen.withLock { $0 } == [TransferSyntax.jpegBaseline.uid])
        #expect(cd.entries.allSatisfy { $0.transferSyntaxUID == TransferSyntax.explicitVRLittleEndian.uid })
    }

    @Test("pixel data other than its syntax says, with no encapsulated syntax declared, is refused while planning, naming each file")
    func pixelDataAgainstItsSyntaxIsRefused() throws {
        var instances = DiscBuilder.standardDisc()
        instances[0].declaredSyntax = .jpegBaseline           // native pixels labelled JPEG
        instances[1].encapsulated = true
        instances[1].declaredSyntax = .explicitVRLittleEndian // fragments labelled Explicit VR Little Endian
        instances[2].encoding = .rawImplicit                  // fragments in a raw data set
        instances[2].encapsulated = true
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for profile in [MediaProfile.stdGenDVDJPEG, .stdGenCD] {
            #expect {
                try FileSetWriter(profile: profile, fileSetID: "X").write(files, to: root + "/out")
            } throws: { error in
                let lines = (error as? FileSetError)?.files ?? []
                return lines.count == 3
                    && lines[0].hasPrefix(files[0].path + ": its Pixel Data is native") && lines[0].contains("JPEG Baseline")
                    && lines[1].hasPrefix(files[1].path + ": its Pixel Data is encapsulated") && lines[1].contains("no compressed transfer syntax is declared")
                    && lines[2].hasPrefix(files[2].path + ": its Pixel Data is encapsulated") && lines[2].contains("no file meta information")
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/out"))
        }
    }

    @Test("the writer never writes encapsulated pixel data under a native syntax: a decoder that leaves the fragments is refused, naming the file")
    func writerRefusesPixelDataAgainstItsSyntax() throws {
        var instances = DiscBuilder.standardDisc()
        instances[1].encapsulated = true
        let (root, files) = try sources(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var writer = FileSetWriter(profile: .stdGenCD, fileSetID: "CD")
        writer.decompressor = { file in
            var relabelled = file
            relabelled.transferSyntax = .explicitVRLittleEndian
            return relabelled
        }
        #expect {
            try writer.write(files, to: root + "/cd")
        } throws: { error in
            "\(error)".contains("\(files[1].path): not written: its Pixel Data is encapsulated")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/cd/DICOMDIR"))
    }
}
