#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Media

@Suite("UDF image writer (BD media)")
struct UDFImageWriterTests {
    /// A folder with what a referral disc can hold: nested folders, an
    /// empty file, a file of several blocks, a name that needs 16-bit CS0,
    /// and a symbolic link (left off).
    func sampleFolder(_ dir: TempDir) throws -> [String: Data] {
        let root = dir.sub("tree")
        var files: [String: Data] = [
            "DICOMDIR": Data((0..<3000).map { UInt8($0 % 251) }),
            "README.TXT": Data("Referral disc\r\n".utf8),
            "EMPTY.TXT": Data(),
            "DICOM/PAT00001/STU00001/SER00001/IMG00001": Data((0..<(5 * 2048 + 17)).map { UInt8($0 % 253) }),
            "DICOM/PAT00001/STU00001/SER00001/IMG00002": Data(repeating: 0x5A, count: 2048),
            "VIEWER/説明書.TXT": Data("日本語\n".utf8),
        ]
        for index in 0..<120 { files["DICOM/PAT00001/STU00001/SER00002/IMG\(String(format: "%05d", index))"] = Data("image \(index)".utf8) }
        for (path, data) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: full))
        }
        try FileManager.default.createDirectory(atPath: root + "/IHE_PDI", withIntermediateDirectories: true)   // an empty folder
        #expect(symlink("README.TXT", root + "/LINK.TXT") == 0)
        files.removeValue(forKey: "LINK.TXT")
        return files
    }

    @Test func imageReadsBackAsTheFolder() throws {
        let dir = try TempDir()
        let files = try sampleFolder(dir)
        let image = dir.sub("bd.iso")
        try UDFImageWriter.write(folder: dir.sub("tree"), to: image, volumeID: "BD_TEST")

        // UDF only: no ISO 9660 volume, and the scan engine takes it for UDF.
        let head = try readBytes(path: image, offset: 0, count: MediumSniffer.headSize)
        #expect(ArchiveMedium.hasUDFWithoutISO(head))
        let udf = try UDFImage(path: image)
        #expect(udf.volumeLabel == "BD_TEST")
        var read: [String: Data] = [:]
        try udf.visitFiles(limits: MediumLimits(), { file in
            read[file.path] = try file.readPrefix(file.size + 1)
        }, skipped: { Issue.record("skipped: \($0)") })
        #expect(read == files)

        // Every descriptor: the tag's location is where it is, its CRC holds.
        let data = try Data(contentsOf: URL(fileURLWithPath: image))
        #expect(data.count % 2048 == 0)
        var descriptors = 0
        for offset in stride(from: 0, to: data.count, by: 2048) {
            let block = Array(data[offset..<(offset + 2048)])
            guard let tag = UDFImage.tag(Data(block[0..<16])), tag != 0, block[2] == 3 else { continue }
            descriptors += 1
            let length = Int(block[10]) | Int(block[11]) << 8
            let crc = UInt16(block[8]) | UInt16(block[9]) << 8
            #expect(UDFImageWriter.crc(block[16..<(16 + length)]) == crc, "descriptor \(tag) at sector \(offset / 2048)")
            if [1, 2, 4, 5, 6, 7, 8, 9].contains(tag) && offset / 2048 < 288 || offset == data.count - 2048 {
                let location = Int(block[12]) | Int(block[13]) << 8 | Int(block[14]) << 16 | Int(block[15]) << 24
                #expect(location == offset / 2048, "descriptor \(tag) at sector \(offset / 2048) says \(location)")
            }
        }
        #expect(descriptors > 2 * (files.count + 7))   // entries and folders, twice (metadata and mirror)
    }

    /// 7-Zip, which discport did not write, lists and extracts the image
    /// as the same files (UDF 2.60, metadata partition).
    @Test func sevenZipExtractsTheFolder() throws {
        guard let sevenZip = requireTool("7z") else { return }
        let dir = try TempDir()
        let files = try sampleFolder(dir)
        try UDFImageWriter.write(folder: dir.sub("tree"), to: dir.sub("bd.iso"), volumeID: "BD_TEST")
        try runTool(sevenZip, ["x", "-o" + dir.sub("out"), dir.sub("bd.iso")], in: dir.path)
        var extracted: [String: Data] = [:]
        let out = dir.sub("out")
        for path in try FileManager.default.subpathsOfDirectory(atPath: out) {
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: out + "/" + path, isDirectory: &isFolder)
            if !isFolder.boolValue { extracted[path] = try Data(contentsOf: URL(fileURLWithPath: out + "/" + path)) }
        }
        #expect(extracted == files)
        #expect(FileManager.default.fileExists(atPath: out + "/IHE_PDI"))
    }

    @Test func crcIsECMA167s() {
        // ECMA-167 1/7.2.6: the CRC of the bytes 70 6A 77 is 3299.
        #expect(UDFImageWriter.crc([0x70, 0x6A, 0x77][...]) == 0x3299)
    }

    /// A file over 1 GiB is described by several extents, each ending on a
    /// block boundary but the last.
    @Test func largeFilesTakeSeveralExtents() {
        let length: Int64 = 3 << 30
        let extents = UDFImageWriter.extents(length)
        #expect(extents.count == 4)
        #expect(extents.reduce(0) { $0 + Int64($1.length) } == length)
        for (index, extent) in extents.enumerated() {
            #expect(extent.block == index * (UDFImageWriter.maximumExtent / 2048))
            if index < extents.count - 1 { #expect(extent.length == UDFImageWriter.maximumExtent) }
        }
        #expect(UDFImageWriter.extents(0).isEmpty)
    }

    @Test func namesAreCS0() {
        #expect(UDFImageWriter.identifier("IMG00001") == [8] + Array("IMG00001".utf8))
        #expect(UDFImageWriter.identifier("説明") == [16, 0x8A, 0xAC, 0x66, 0x0E])
        let field = UDFImageWriter.dstring("BD_TEST", length: 32)
        #expect(field.count == 32 && field[0] == 8 && field[31] == 8)
        #expect(UDFImage.dstring(Data(field)) == "BD_TEST")
        let long = UDFImageWriter.dstring(String(repeating: "あ", count: 40), length: 32)
        #expect(long[31] == 31 && long[0] == 16)   // 15 characters of 16 bits, whole
    }

    @Test func overlongNameIsRefused() throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.sub("tree"), withIntermediateDirectories: true)
        let name = "名" + String(repeating: "a", count: 200)   // 203 bytes in UTF-8, 403 in 16-bit CS0
        #expect(FileManager.default.createFile(atPath: dir.sub("tree/" + name), contents: Data("x".utf8)))
        #expect(throws: MediaError.self) { try UDFImageWriter.write(folder: dir.sub("tree"), to: dir.sub("bd.iso"), volumeID: "X") }
    }
}
