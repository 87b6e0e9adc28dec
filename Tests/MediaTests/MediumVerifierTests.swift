import DICOM
import Foundation
@testable import Media
import Testing

/// `discport verify` against media broken in ways the scan does not look
/// at: the PS3.10 file meta of each file and of the DICOMDIR, the
/// DICOMDIR's name, the offset of the last root record.
@Suite struct MediumVerifierTests {
    /// A conformant STD-GEN-CD file-set of DiscBuilder's standard disc, with README.TXT.
    func medium() throws -> (root: String, out: String, files: [String]) {
        let root = NSTemporaryDirectory() + "mv-" + UUID().uuidString
        let instances = DiscBuilder.standardDisc()
        try DiscBuilder.write(instances, to: root + "/src", dicomdir: nil)
        let result = try FileSetWriter(profile: .stdGenCD, fileSetID: "V")
            .write(instances.map { FileSetSource(path: root + "/src/" + $0.path) }, to: root + "/out")
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/out/README.TXT"))
        return (root, root + "/out", result.entries.map { root + "/out/" + $0.path })
    }

    func errors(_ path: String) -> [VerifyProblem] {
        MediumVerifier().verify(path: path).report.problems.filter { $0.severity == .error }
    }

    /// Changes the value of the file meta element (0002,`element`) of `path` in place.
    func patchMeta(_ path: String, element wanted: UInt16, _ change: (inout [UInt8], Part10Header.Element) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 132
        while let element = Part10Header.element(bytes, at: offset), element.group == 0x0002 {
            if element.element == wanted {
                change(&bytes, element)
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                return
            }
            offset = element.next
        }
        Issue.record("no (0002,\(String(format: "%04X", wanted))) in \(path)")
    }

    @Test func aWrittenMediumPasses() throws {
        let (root, out, _) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(errors(out).isEmpty)
    }

    @Test("a file meta naming another SOP Class than its data set, a wrong group length or version fails (PS3.10 §7.1)")
    func fileMetaAgainstPS3_10() throws {
        let (root, out, files) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Media Storage SOP Class UID: last digit changed (same length).
        try patchMeta(files[0], element: 0x0002) { bytes, element in
            var last = element.next - 1
            if bytes[last] == 0 { last -= 1 }
            bytes[last] = bytes[last] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        }
        let wrongClass = errors(out)
        #expect(wrongClass.map(\.code) == ["part10"])
        #expect(wrongClass.first?.message.contains("Media Storage SOP Class UID (0002,0002)") == true)
        #expect(wrongClass.first?.path?.hasSuffix(String(files[0].dropFirst(out.count + 1))) == true)

        try patchMeta(files[1], element: 0x0000) { bytes, element in bytes[element.valueOffset] &+= 8 }
        try patchMeta(files[2], element: 0x0001) { bytes, element in bytes[element.valueOffset + 1] = 2 }
        let messages = errors(out).map(\.message)
        #expect(messages.count == 3)
        #expect(messages.contains { $0.contains("group length (0002,0000)") })
        #expect(messages.contains { $0.contains("File Meta Information Version (0002,0001) is 00 02") })
    }

    @Test("a DICOMDIR whose file meta is not Media Storage Directory Storage, or named in lower case, fails")
    func theDICOMDIRItself() throws {
        let (root, out, _) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.moveItem(atPath: out + "/DICOMDIR", toPath: out + "/dicomdir")
        #expect(errors(out).map(\.code) == ["file-id"])
        try FileManager.default.moveItem(atPath: out + "/dicomdir", toPath: out + "/DICOMDIR")

        try patchMeta(out + "/DICOMDIR", element: 0x0002) { bytes, element in
            let last = bytes[element.next - 1] == 0 ? element.next - 2 : element.next - 1
            bytes[last] = UInt8(ascii: "1")   // 1.2.840.10008.1.3.10 → …1.3.11
        }
        let found = errors(out)
        #expect(found.map(\.code) == ["part10"])
        #expect(found.first?.message.contains("is not Media Storage Directory Storage") == true)
    }

    @Test("(0004,1202) must be the offset of the last root record (PS3.3 F.3.2.1)")
    func offsetOfTheLastRootRecord() throws {
        let (root, out, _) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = out + "/DICOMDIR"
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let tag: [UInt8] = [0x04, 0x00, 0x02, 0x12, 0x55, 0x4C, 0x04, 0x00]
        let at = try #require((0 ..< original.count - 12).first { original[$0 ..< $0 + 8].elementsEqual(tag) }) + 8
        let directory = DICOMDirectory(data: Data(original), path: "DICOMDIR")
        let study = try #require(directory.records.first { $0.level == .study }).offset
        for (value, what) in [(0, "no record"), (0x10, "no record"), (study, "a record below the root")] {
            var bytes = original
            withUnsafeBytes(of: UInt32(value).littleEndian) { bytes.replaceSubrange(at ..< at + 4, with: $0) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let found = errors(out)
            #expect(found.map(\.code) == ["dicomdir-offsets"])
            #expect(found.first?.message.contains("is \(value), \(what), but the last root record") == true)
        }
    }

    @Test("README.TXT in lower case, a SERIES record with no record below it, a private SOP class, no File-set ID element: each fails")
    func namesHierarchySOPClassAndFileSetID() throws {
        let (root, out, _) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.moveItem(atPath: out + "/README.TXT", toPath: out + "/readme.txt")
        let readme = errors(out)
        #expect(readme.map(\.code) == ["readme-missing"])
        #expect(readme.first?.message.contains("named readme.txt") == true)
        try FileManager.default.moveItem(atPath: out + "/readme.txt", toPath: out + "/README.TXT")

        // (0004,1130) File-set ID made (0004,1131): the element is gone, nothing moves.
        let path = out + "/DICOMDIR"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let tag: [UInt8] = [0x04, 0x00, 0x30, 0x11, 0x43, 0x53]
        let at = try #require((0 ..< bytes.count - 6).first { bytes[$0 ..< $0 + 6].elementsEqual(tag) })
        bytes[at + 2] = 0x31
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(errors(out).map(\.code) == ["file-set-id"])

        // The scout's IMAGE record inactive and its file gone: its SERIES leads nowhere.
        let disc = root + "/disc"
        var instances = DiscBuilder.standardDisc()
        var options = DICOMDIROptions()
        options.inactive = [instances[0].sopUID]
        try DiscBuilder.write(instances, to: disc, dicomdir: options)
        try FileManager.default.removeItem(atPath: disc + "/" + instances[0].path)
        try Data("x".utf8).write(to: URL(fileURLWithPath: disc + "/README.TXT"))
        let childless = errors(disc).filter { $0.code == "record-hierarchy" }
        #expect(childless.count == 1)
        #expect(childless.first?.message.hasPrefix("SERIES record") == true)

        // A file of a private SOP class on a STD-GEN medium.
        let privateDisc = root + "/private"
        instances[1].sopClassUID = "1.3.12.2.1107.5.9.1"
        try DiscBuilder.write(instances, to: privateDisc)
        try Data("x".utf8).write(to: URL(fileURLWithPath: privateDisc + "/README.TXT"))
        let found = errors(privateDisc)
        #expect(found.filter { $0.code == "sop-class" }.map(\.path) == [instances[1].path])
        #expect(!found.contains { $0.code == "record-hierarchy" })
    }

    @Test("in a folder, names with the ISO 9660 version (a disc copied with ;1) fail: no File ID names them")
    func versionSuffixesInAFolder() throws {
        let (root, out, files) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for path in files + [out + "/DICOMDIR", out + "/README.TXT"] { try FileManager.default.moveItem(atPath: path, toPath: path + ";1") }
        let found = errors(out).filter { $0.code == "file-id" }
        #expect(Set(found.compactMap(\.path)) == Set((files + [out + "/DICOMDIR", out + "/README.TXT"]).map { String($0.dropFirst(out.count + 1)) + ";1" }))
        #expect(found.allSatisfy { $0.message.contains("ISO 9660 version") })
    }

    @Test("record values their VR does not allow (a DA with dashes, a CS in lower case) fail, as dciodvfy fails them")
    func recordValuesAgainstTheirVR() throws {
        let (root, out, _) = try medium()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = out + "/DICOMDIR"
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func replacing(_ old: String, _ new: String) -> [UInt8] {
            var bytes = original
            let o = Array(old.utf8), n = Array(new.utf8)
            var at = 0
            while at + o.count <= bytes.count {
                if bytes[at ..< at + o.count].elementsEqual(o) { bytes.replaceSubrange(at ..< at + o.count, with: n) }
                at += 1
            }
            return bytes
        }
        try Data(replacing("20240115", "2024-1-1")).write(to: URL(fileURLWithPath: path))
        let date = errors(out)
        #expect(date.map(\.code) == ["record-value"])
        #expect(date.first?.message.contains("StudyDate (0008,0020) DA \"2024-1-1\" is not a date YYYYMMDD") == true)
        try Data(replacing("CS\u{02}\u{00}CT", "CS\u{02}\u{00}ct")).write(to: URL(fileURLWithPath: path))
        let modality = errors(out)
        #expect(modality.map(\.code) == ["record-value", "record-value"])   // the two SERIES records
        #expect(modality.allSatisfy { $0.message.contains("Modality (0008,0060) CS \"ct\" holds characters other than") })
        #expect(DICOMText.formatProblem("120000.5", vr: .TM) == nil)
        #expect(DICOMText.formatProblem("12:00:00", vr: .TM) != nil)
        #expect(DICOMText.formatProblem("-3", vr: .IS) == nil)
        #expect(DICOMText.formatProblem("1.5e3", vr: .DS) == nil)
        #expect(DICOMText.formatProblem("ISO 2022 IR 87", vr: .CS) == nil)
    }
}
