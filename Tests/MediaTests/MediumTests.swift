import DICOM
import Foundation
import Synchronization
import Testing
@testable import Media

// MARK: - Helpers

/// A temporary folder removed at the end of the test.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "discport-media-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func sub(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Keeps files handed to a visitor, to use them after the visit.
final class Keeper: @unchecked Sendable {
    private let lock = NSLock()
    private var files: [MediumFile] = []
    func keep(_ file: MediumFile) { lock.lock(); files.append(file); lock.unlock() }
    var first: MediumFile? { lock.lock(); defer { lock.unlock() }; return files.first }
}

/// Collects what a visit saw (the visitor may run on several threads).
final class Visits: Sendable {
    let files = Mutex<[String: Data]>([:])
    let sizes = Mutex<[String: Int]>([:])
    let skipped = Mutex<[MediaError]>([])
    let threads = Mutex<Set<String>>([])

    var contents: [String: Data] { files.withLock { $0 } }
    var skips: [MediaError] { skipped.withLock { $0 } }
}

/// Visits every file of a medium reading it whole with `copyContents`,
/// and checks that the prefix and a range agree with it.
func collect(_ medium: any Medium) throws -> Visits {
    let visits = Visits()
    try medium.visitFiles({ file in
        var whole = Data()
        try file.copyContents { whole.append(contentsOf: $0) }
        let prefix = try file.readPrefix(10)
        #expect(prefix == whole.prefix(10), "prefix of \(file.path)")
        if whole.count > 4 {
            let range = try file.readRange(2, 3)
            #expect(range == whole[whole.startIndex + 2 ..< whole.startIndex + 5], "range of \(file.path)")
        }
        let thread = "\(pthread_self())"
        visits.threads.withLock { _ = $0.insert(thread) }
        visits.sizes.withLock { $0[file.path] = file.size }
        visits.files.withLock { old in
            #expect(old[file.path] == nil, "\(file.path) visited twice")
            old[file.path] = whole
        }
    }, skipped: { error in visits.skipped.withLock { $0.append(error) } })
    return visits
}

/// Expects `body` to throw a MediaError of `kind`; returns it.
@discardableResult
func expectMediaError(_ kind: MediaError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> MediaError? {
    do {
        try body()
        Issue.record("expected a \(kind.rawValue) error, got none", sourceLocation: sourceLocation)
    } catch let error as MediaError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected MediaError.\(kind.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Where two blobs first differ (nil when equal): expectations on large
/// `Data` values would make the testing library diff megabytes.
func firstDifference(_ a: Data?, _ b: Data?) -> String? {
    guard let a, let b else { return a == nil && b == nil ? nil : "one side missing" }
    if a == b { return nil }
    let index = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
    return "sizes \(a.count) and \(b.count), first difference at byte \(index)"
}

/// How two sets of files differ (nil when they are the same).
func fileDifferences(_ seen: [String: Data], _ expected: [String: Data]) -> String? {
    var notes: [String] = []
    let missing = Set(expected.keys).subtracting(seen.keys).sorted()
    let extra = Set(seen.keys).subtracting(expected.keys).sorted()
    if !missing.isEmpty { notes.append("missing \(missing)") }
    if !extra.isEmpty { notes.append("unexpected \(extra)") }
    for (path, data) in expected.sorted(by: { $0.key < $1.key }) {
        if let seenData = seen[path], let difference = firstDifference(seenData, data) { notes.append("\(path): \(difference)") }
    }
    return notes.isEmpty ? nil : notes.joined(separator: "; ")
}

/// The same contents, whatever the names (level 1 ISO renames).
func sameContents(_ a: some Collection<Data>, _ b: some Collection<Data>) -> Bool {
    a.sorted { $0.lexicographicallyPrecedes($1) } == b.sorted { $0.lexicographicallyPrecedes($1) }
}

let ciMode = ProcessInfo.processInfo.environment["CI"] == "true"

/// The full path of a tool on PATH, or nil.
func toolPath(_ name: String) -> String? {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for directory in paths {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Tests that need an external tool run when it is installed, and always
/// under CI=true (where a missing tool fails them).
func toolAvailable(_ name: String) -> Bool { ciMode || toolPath(name) != nil }

/// Runs a tool (UTF-8 locale), failing the test when it is missing or fails.
func run(_ tool: String, _ arguments: [String], in directory: String? = nil) throws {
    let path = try #require(toolPath(tool), "\(tool) is not installed (make deps)")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C.UTF-8"
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0,
                 "\(tool) \(arguments.joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))")
}

/// A small Part 10 file.
func dicomBytes(patient: String, instance: Int) throws -> Data {
    var dataset = Dataset()
    try dataset.setString("ISO_IR 192", vr: .CS, for: Tag(0x0008, 0x0005))   // UTF-8 names
    try dataset.setString("1.2.840.10008.5.1.4.1.1.7", vr: .UI, for: Tag(0x0008, 0x0016))
    try dataset.setString("1.2.826.0.1.3680043.10.1.\(instance)", vr: .UI, for: Tag(0x0008, 0x0018))
    try dataset.setString(patient, vr: .PN, for: Tag(0x0010, 0x0010))
    try dataset.setString("ID\(instance)", vr: .LO, for: Tag(0x0010, 0x0020))
    return try DICOMWriter.encode(DICOMFile(dataset: dataset, transferSyntax: .explicitVRLittleEndian))
}

/// The regular files of the fixture tree, by relative path.
func fixtureFiles() throws -> [String: Data] {
    var files: [String: Data] = [
        "DICOMDIR": try dicomBytes(patient: "DIR^ONLY", instance: 1),
        "dicom/img001.dcm": try dicomBytes(patient: "Yamada^Tarou", instance: 2),
        "dicom/img002.dcm": try dicomBytes(patient: "Yamada^Tarou", instance: 3),
        "IMAGES/IMG00001;1": try dicomBytes(patient: "VERSIONED", instance: 4),
        "with space [1]/画像 1.dcm": try dicomBytes(patient: "山田^太郎", instance: 5),
        "README.TXT": Data("Disc made by a test.\r\n".utf8),
        "deep/a/b/c/d/note.txt": Data("deep\n".utf8),
        "empty.bin": Data(),
    ]
    var big = Data(count: 3 << 20)   // larger than one 1 MiB copy buffer
    big.withUnsafeMutableBytes { raw in for i in 0..<raw.count { raw[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) } }
    files["large/big.raw"] = big
    return files
}

/// Writes the fixture tree, with a symlink loop (`loop -> .`), a link
/// chain loop (`cycA <-> cycB`), a dangling link and a link leaving the
/// tree. Returns the regular files.
@discardableResult
func writeTree(at root: String, links: Bool = true) throws -> [String: Data] {
    let files = try fixtureFiles()
    let manager = FileManager.default
    for (path, data) in files {
        let full = root + "/" + path
        try manager.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
    }
    if links {
        try manager.createSymbolicLink(atPath: root + "/loop", withDestinationPath: ".")
        try manager.createSymbolicLink(atPath: root + "/deep/a/up", withDestinationPath: "../..")
        try manager.createSymbolicLink(atPath: root + "/cycA", withDestinationPath: "cycB")
        try manager.createSymbolicLink(atPath: root + "/cycB", withDestinationPath: "cycA")
        try manager.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "nothing-here")
        try manager.createSymbolicLink(atPath: root + "/passwd", withDestinationPath: "/etc/passwd")
    }
    return files
}

// MARK: - Opening by content

@Suite struct OpeningTests {
    @Test func detectsKindsByContentNotExtension() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        try writeTree(at: tree, links: false)
        let entries = try fixtureFiles().map { LibarchiveWriter.Entry(path: $0.key, data: $0.value) }
        // Misleading names: the content decides.
        try LibarchiveWriter.write(entries, to: temp.sub("zip.tar"), format: "zip")
        try LibarchiveWriter.write(entries, to: temp.sub("tar.zip"), format: "pax")
        try LibarchiveWriter.write(entries, to: temp.sub("tgz.iso"), format: "pax", filter: "gzip")
        try LibarchiveWriter.write(entries, to: temp.sub("txz.bin"), format: "pax", filter: "xz")
        try LibarchiveWriter.write(entries, to: temp.sub("iso.zip"), format: "iso9660", options: "iso9660:volume-id=KIND_TEST")
        try LibarchiveWriter.write([], to: temp.sub("empty.dat"), format: "zip")
        try Data("just text\n".utf8).write(to: URL(fileURLWithPath: temp.sub("notes.iso")))
        // gzip of something that is not a tar: a single file.
        try LibarchiveWriter.write([.init(path: "x", data: Data("plain".utf8))], to: temp.sub("plain.gz"), format: "raw", filter: "gzip")

        #expect(try openMedium(tree).kind == .folder)
        #expect(try openMedium(temp.sub("zip.tar")).kind == .zip)
        #expect(try openMedium(temp.sub("tar.zip")).kind == .tar)
        #expect(try openMedium(temp.sub("tgz.iso")).kind == .tar)
        #expect(try openMedium(temp.sub("txz.bin")).kind == .tar)
        let iso = try openMedium(temp.sub("iso.zip"))
        #expect(iso.kind == .iso9660)
        #expect(iso.volumeLabel == "KIND_TEST")
        #expect(try openMedium(temp.sub("empty.dat")).kind == .zip)
        #expect(try collect(openMedium(temp.sub("empty.dat"))).contents.isEmpty)
        #expect(try openMedium(temp.sub("notes.iso")).kind == .file)
        #expect(try openMedium(temp.sub("plain.gz")).kind == .file)
        #expect(try openMedium(tree + "/dicom/img001.dcm").kind == .file)

        expectMediaError(.notFound) { _ = try openMedium(temp.sub("missing")) }
    }

    @Test func udfDescriptorsMakeAnImage() {
        var head = Data(count: MediumSniffer.headSize)
        head.replaceSubrange(0x8001..<0x8006, with: Array("BEA01".utf8))
        head.replaceSubrange(0x8801..<0x8806, with: Array("NSR02".utf8))
        head.replaceSubrange(0x9001..<0x9006, with: Array("TEA01".utf8))
        #expect(MediumSniffer.kind(head: head) == .iso9660)
        #expect(ArchiveMedium.hasUDFWithoutISO(head))
        var bridge = head
        bridge.replaceSubrange(0x8001..<0x8006, with: Array("CD001".utf8))
        #expect(MediumSniffer.kind(head: bridge) == .iso9660)
        #expect(!ArchiveMedium.hasUDFWithoutISO(bridge))
        #expect(MediumSniffer.kind(head: Data(count: MediumSniffer.headSize)) == nil)
    }

    @Test func textFileIsASingleFileMedium() throws {
        let temp = try TempDir()
        let path = temp.sub("letter.txt")
        try Data("Referral letter\nPatient: Yamada\n".utf8).write(to: URL(fileURLWithPath: path))
        let medium = try openMedium(path)
        #expect(medium.kind == .file)
        #expect(medium.volumeLabel == nil)
        let visits = try collect(medium)
        #expect(visits.contents == ["letter.txt": Data("Referral letter\nPatient: Yamada\n".utf8)])
        #expect(FileKind.sniff(prefix: visits.contents["letter.txt"]!, path: "letter.txt") == .text)
    }
}

// MARK: - Folders

@Suite struct FolderTests {
    @Test func visitsEveryFileOnceInParallelAndSkipsLinkLoops() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        let files = try writeTree(at: tree)
        try FileManager.default.createSymbolicLink(atPath: tree + "/dicom/alias.dcm", withDestinationPath: "img001.dcm")
        let medium = try openMedium(tree)
        let visits = try collect(medium)
        var expected = files
        expected["dicom/alias.dcm"] = files["dicom/img001.dcm"]   // a link to a file inside: followed once
        #expect(fileDifferences(visits.contents, expected) == nil)
        #expect(visits.sizes.withLock { $0["large/big.raw"] } == 3 << 20)
        let skips = Dictionary(visits.skips.map { ($0.path ?? "", $0.kind) }, uniquingKeysWith: { a, _ in a })
        #expect(skips["loop"] == .symlinkLoop)
        #expect(skips["deep/a/up"] == .symlinkLoop)
        #expect(skips["cycA"] == .symlinkLoop)
        #expect(skips["cycB"] == .symlinkLoop)
        #expect(skips["dangling"] == .notFound)
        #expect(skips["passwd"] == .pathTraversal)
        #expect(visits.threads.withLock { $0.count } >= 1)
    }

    @Test func sequentialWidthGivesTheSameFiles() throws {
        let temp = try TempDir()
        let files = try writeTree(at: temp.path)
        let visits = try collect(FolderMedium(path: temp.path, width: 1))
        #expect(fileDifferences(visits.contents, files) == nil)
        #expect(visits.threads.withLock { $0.count } == 1)
    }

    /// A mounted CD or DVD is read by one reader in walk order (several
    /// would make the drive seek between files); other folders by the
    /// default width; an asked-for width wins. (This machine's kernel has
    /// no iso9660 module, so the types are checked by their numbers.)
    @Test func opticalDiscsAreReadOneFileAtATime() throws {
        #expect(FolderMedium.isOpticalFileSystem(type: 0x9660))        // ISO 9660
        #expect(FolderMedium.isOpticalFileSystem(type: 0x1501_3346))   // UDF
        #expect(!FolderMedium.isOpticalFileSystem(type: 0xEF53))       // ext2/3/4
        #expect(!FolderMedium.isOpticalFileSystem(type: 0x0102_1994))  // tmpfs
        #expect(!FolderMedium.isOpticalFileSystem(type: 0x4D44))       // FAT (a USB stick)
        let temp = try TempDir()
        let folder = try FolderMedium(path: temp.path)
        #expect(!folder.isOpticalDisc)
        #expect(folder.width == FolderMedium.defaultWidth)
        #expect(try FolderMedium(path: temp.path, width: 3).width == 3)
    }

    @Test func filesOfAFolderComeBeforeItsSubfolders() throws {
        // ISO 9660 order puts DICOM/ before DICOMDIR; the DICOMDIR (the
        // largest header) must still reach the workers first.
        let temp = try TempDir()
        for name in ["DICOM/A/IMG1", "DICOM/A/IMG2", "DICOM/IMG3", "AAA/X", "DICOMDIR", "ZZZ"] {
            try DiscBuilder.put(Data("x".utf8), at: temp.sub(name))
        }
        let order = Mutex<[String]>([])
        try FolderMedium(path: temp.path, width: 1).visitFiles { file in order.withLock { $0.append(file.path) } }
        let visited = order.withLock { $0 }
        #expect(Set(visited.prefix(2)) == ["DICOMDIR", "ZZZ"])
        #expect(visited.firstIndex(of: "DICOM/IMG3")! < visited.firstIndex(of: "DICOM/A/IMG1")!)
        #expect(visited.count == 6)
    }

    @Test func entryAndDepthLimits() throws {
        let temp = try TempDir()
        try writeTree(at: temp.path, links: false)
        var limits = MediumLimits()
        limits.maximumEntries = 5
        expectMediaError(.entryLimit) { _ = try collect(openMedium(temp.path, limits: limits)) }

        limits = MediumLimits()
        limits.maximumDepth = 2   // deep/a/b/c/d/note.txt is 5 folders down
        let visits = try collect(openMedium(temp.path, limits: limits))
        #expect(visits.contents["deep/a/b/c/d/note.txt"] == nil)
        #expect(visits.contents["dicom/img001.dcm"] != nil)
        #expect(visits.skips.contains { $0.kind == .entryLimit && $0.path == "deep/a/b" })
    }

    @Test func visitorErrorStopsTheVisit() throws {
        let temp = try TempDir()
        for i in 0..<200 { try Data([UInt8(i & 0xFF)]).write(to: URL(fileURLWithPath: temp.sub("f\(i)"))) }
        struct Stop: Error {}
        let count = Mutex(0)
        #expect(throws: Stop.self) {
            try openMedium(temp.path).visitFiles { _ in
                let n = count.withLock { $0 += 1; return $0 }
                if n == 10 { throw Stop() }
            }
        }
        #expect(count.withLock { $0 } < 200)
    }

    @Test func readingAfterTheVisitReopens() throws {
        let temp = try TempDir()
        try Data("abcdef".utf8).write(to: URL(fileURLWithPath: temp.sub("a.txt")))
        let kept = Keeper()
        try FolderMedium(path: temp.path).visitFiles { file in kept.keep(file) }
        let file = try #require(kept.first)
        #expect(try file.readRange(3, 100) == Data("def".utf8))
        #expect(try file.readRange(10, 1) == Data())
    }
}

// MARK: - Images and archives hold the same files

@Suite struct ArchiveTests {
    /// What an archive of the fixture tree must yield: the regular files;
    /// links are skipped, not followed.
    func checkSameFiles(_ medium: any Medium, _ files: [String: Data], kind: MediumKind) throws -> Visits {
        #expect(medium.kind == kind)
        let visits = try collect(medium)
        #expect(fileDifferences(visits.contents, files) == nil, "\(kind)")
        #expect(visits.threads.withLock { $0.count } == 1)   // archive order, calling thread
        return visits
    }

    @Test(.enabled(if: toolAvailable("xorriso")))
    func isoFromXorrisoWithJolietAndRockRidge() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        let files = try writeTree(at: tree)
        try run("xorriso", ["-as", "mkisofs", "-J", "-r", "-V", "PATIENT_CD", "-o", temp.sub("disc.img"), tree])
        let medium = try openMedium(temp.sub("disc.img"))
        let visits = try checkSameFiles(medium, files, kind: .iso9660)
        #expect(medium.volumeLabel == "PATIENT_CD")
        // Rock Ridge keeps the links: reported, not followed.
        #expect(visits.skips.contains { $0.path == "loop" })
    }

    @Test func isoLevel1FromLibarchive() throws {
        let temp = try TempDir()
        let files = try fixtureFiles()
        let entries = files.map { LibarchiveWriter.Entry(path: $0.key, data: $0.value) }
        try LibarchiveWriter.write(entries, to: temp.sub("level1"), format: "iso9660",
                                   options: "iso9660:iso-level=1,!joliet,!rockridge,volume-id=DICOM_TEST")
        let medium = try openMedium(temp.sub("level1"))
        #expect(medium.kind == .iso9660)
        #expect(medium.volumeLabel == "DICOM_TEST")
        let visits = try collect(medium)
        // Level 1 renames (upper case, 8.3): compare the contents.
        #expect(sameContents(visits.contents.values, files.values))
        #expect(visits.contents["DICOMDIR"] == files["DICOMDIR"])
        #expect(visits.contents["README.TXT"] == files["README.TXT"])
        for path in visits.contents.keys {
            let name = path.split(separator: "/").last!
            #expect(name == name.uppercased(), "\(path)")
        }
    }

    @Test(.enabled(if: toolAvailable("bsdtar")))
    func zipAndTarGzFromBsdtar() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        let files = try writeTree(at: tree)
        try run("bsdtar", ["--format", "zip", "-cf", temp.sub("bundle.zip"), "."], in: tree)
        try run("bsdtar", ["-czf", temp.sub("bundle.tgz"), "."], in: tree)
        try run("bsdtar", ["-cjf", temp.sub("bundle.tbz"), "."], in: tree)
        let zip = try checkSameFiles(openMedium(temp.sub("bundle.zip")), files, kind: .zip)
        #expect(zip.skips.contains { $0.path == "loop" })
        _ = try checkSameFiles(openMedium(temp.sub("bundle.tgz")), files, kind: .tar)
        _ = try checkSameFiles(openMedium(temp.sub("bundle.tbz")), files, kind: .tar)
    }

    @Test func archivesFromLibarchive() throws {
        let temp = try TempDir()
        let files = try fixtureFiles()
        var entries = files.sorted { $0.key < $1.key }.map { LibarchiveWriter.Entry(path: "./" + $0.key, data: $0.value) }
        entries.append(.init(path: "./link", data: nil, symlink: "dicom/img001.dcm"))
        for (name, format, filter) in [("a.zip", "zip", nil), ("a.tar", "pax", nil), ("a.tgz", "pax", "gzip"),
                                        ("a.txz", "pax", "xz"), ("a.iso", "iso9660", nil)] as [(String, String, String?)] {
            try LibarchiveWriter.write(entries, to: temp.sub(name), format: format, filter: filter,
                                       options: format == "iso9660" ? "iso9660:rockridge,joliet" : nil)
            let medium = try openMedium(temp.sub(name))
            let visits = try collect(medium)
            #expect(fileDifferences(visits.contents, files) == nil, "\(name)")
            #expect(visits.skips.contains { $0.path == "link" }, "\(name): \(visits.skips)")
        }
    }

    @Test(.enabled(if: toolAvailable("bsdtar")))
    func hardLinksInATarAreSkippedNotFollowed() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: tree + "/A.DCM"))
        try FileManager.default.linkItem(atPath: tree + "/A.DCM", toPath: tree + "/B.DCM")
        try run("bsdtar", ["-cf", temp.sub("links.tar"), "A.DCM", "B.DCM"], in: tree)
        let visits = try collect(openMedium(temp.sub("links.tar")))
        #expect(visits.contents == ["A.DCM": Data("first".utf8)])
        #expect(visits.skips.map(\.path) == ["B.DCM"])
        #expect(visits.skips.first?.message.contains("hard link") == true)
    }

    @Test(.enabled(if: toolAvailable("xorriso")))
    func isoWithoutRockRidgeKeepsLevel1Names() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        let files = try writeTree(at: tree, links: false)
        // Plain ISO 9660 level 1: no Rock Ridge (xorriso adds it unless told), no Joliet.
        try run("xorriso", ["-as", "mkisofs", "-iso-level", "1", "--norock", "-o", temp.sub("level1.img"), tree])
        let visits = try collect(openMedium(temp.sub("level1.img")))
        #expect(sameContents(visits.contents.values, files.values))
        #expect(visits.contents["DICOMDIR"] == files["DICOMDIR"])
        // libarchive reports "IMG001.DCM;1" as "IMG001.DCM" and "IMG00001.;1" as "IMG00001".
        #expect(visits.contents["DICOM/IMG001.DCM"] == files["dicom/img001.dcm"])
        #expect(visits.contents["IMAGES/IMG00001"] == files["IMAGES/IMG00001;1"])
    }

    @Test(.enabled(if: toolAvailable("bsdtar")))
    func sparseTarEntryReadsItsHolesAsZeros() throws {
        let temp = try TempDir()
        let tree = temp.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        var expected = Data(count: 8 << 20)
        expected.replaceSubrange(4_000_000..<4_000_004, with: Data("DATA".utf8))
        #expect(FileManager.default.createFile(atPath: tree + "/sparse.bin", contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: tree + "/sparse.bin"))
        try handle.truncate(atOffset: 8 << 20)
        try handle.seek(toOffset: 4_000_000)
        try handle.write(contentsOf: Data("DATA".utf8))
        try handle.close()
        try run("bsdtar", ["--format", "pax", "-czf", temp.sub("sparse.tgz"), "sparse.bin"], in: tree)
        let prefix = Mutex(Data())
        try openMedium(temp.sub("sparse.tgz")).visitFiles { file in
            let head = try file.readPrefix(16)
            prefix.withLock { $0 = head }
        }
        #expect(prefix.withLock { $0 } == Data(count: 16))
        let whole = try #require(try collect(openMedium(temp.sub("sparse.tgz"))).contents["sparse.bin"])
        #expect(firstDifference(whole, expected) == nil)
    }

    @Test func largerPrefixCanBeAskedAgainAndReadsGoForward() throws {
        let temp = try TempDir()
        let big = try #require(fixtureFiles()["large/big.raw"])
        try LibarchiveWriter.write([.init(path: "big.raw", data: big)], to: temp.sub("x.tgz"), format: "pax", filter: "gzip")
        let outcome = Mutex<[String]>([])
        try openMedium(temp.sub("x.tgz")).visitFiles { file in
            var notes: [String] = []
            if try file.readPrefix(16) == big.prefix(16) { notes.append("p16") }
            if try file.readPrefix(2 << 20) == big.prefix(2 << 20) { notes.append("p2M") }
            if try file.readPrefix(8) == big.prefix(8) { notes.append("p8") }
            if try file.readRange(3 << 20 - 4, 100) == big.suffix(4) { notes.append("tail") }
            var copied = Data()
            try file.copyContents { copied.append(contentsOf: $0) }
            if copied == big { notes.append("copy") }
            outcome.withLock { $0 = notes }
        }
        #expect(outcome.withLock { $0 } == ["p16", "p2M", "p8", "tail", "copy"])
    }

    @Test func entryIsUnreadableAfterItsVisit() throws {
        let temp = try TempDir()
        try LibarchiveWriter.write([.init(path: "a", data: Data("aaa".utf8)), .init(path: "b", data: Data("bbb".utf8))],
                                   to: temp.sub("x.zip"), format: "zip")
        let kept = Keeper()
        try openMedium(temp.sub("x.zip")).visitFiles { file in kept.keep(file) }
        let first = try #require(kept.first)
        expectMediaError(.unreadable) { _ = try first.readPrefix(3) }
    }
}

// MARK: - Devices

@Suite struct DeviceTests {
    @Test func characterDeviceIsReadAsAnImage() throws {
        let medium = try openMedium("/dev/null")
        #expect(medium.kind == .device)
        #expect(medium.volumeLabel == nil)
        let error = expectMediaError(.unsupportedFormat) { _ = try collect(medium) }
        #expect(error?.message.contains("mount it") == true, "\(String(describing: error))")
    }

    /// A real block device holding an ISO 9660 image (a drive, or a loop
    /// device: `losetup -f --show -r disc.iso`), named by
    /// DISCPORT_TEST_DEVICE; its volume label by DISCPORT_TEST_DEVICE_LABEL.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DISCPORT_TEST_DEVICE"] != nil))
    func blockDeviceFromTheEnvironment() throws {
        let environment = ProcessInfo.processInfo.environment
        let medium = try openMedium(try #require(environment["DISCPORT_TEST_DEVICE"]))
        #expect(medium.kind == .device)
        #expect(medium.volumeLabel == environment["DISCPORT_TEST_DEVICE_LABEL"])
        let visits = try collect(medium)
        #expect(!visits.contents.isEmpty)
        print("device \(medium.location) [\(medium.volumeLabel ?? "-")]: \(visits.contents.keys.sorted())")
    }
}

// MARK: - Hostile archives

@Suite struct HostileArchiveTests {
    @Test func pathTraversalIsRefused() throws {
        let temp = try TempDir()
        for (index, name) in ["../evil", "dicom/../../evil", "/etc/passwd", "..\\evil.exe", "C:/Windows/evil"].enumerated() {
            let path = temp.sub("t\(index).zip")
            try LibarchiveWriter.write([.init(path: "ok.txt", data: Data("ok".utf8)), .init(path: name, data: Data("x".utf8))],
                                       to: path, format: "zip")
            let error = expectMediaError(.pathTraversal) { _ = try collect(openMedium(path)) }
            // libarchive reports a zip's `\` separators as `/`.
            #expect(error?.message.contains(name.replacingOccurrences(of: "\\", with: "/")) == true, "\(String(describing: error))")
        }
        // tar too
        try LibarchiveWriter.write([.init(path: "../evil", data: Data("x".utf8))], to: temp.sub("t.tar"), format: "pax")
        expectMediaError(.pathTraversal) { _ = try collect(openMedium(temp.sub("t.tar"))) }
    }

    @Test func zipBombDeclaredIsRefusedBeforeExpanding() throws {
        let temp = try TempDir()
        let path = temp.sub("bomb.zip")
        try LibarchiveWriter.write([.init(path: "zeros.dcm", data: Data(), zeros: 200_000_000)], to: path, format: "zip")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 1_000_000)
        let visited = Mutex(0)
        let error = expectMediaError(.expansionLimit) {
            try openMedium(path).visitFiles { file in
                visited.withLock { $0 += 1 }
                try file.copyContents { _ in }
            }
        }
        #expect(visited.withLock { $0 } == 0)
        #expect(error?.message.contains("zeros.dcm") == true)
    }

    @Test func zipBombIsCaughtWhileStreaming() throws {
        // A bomb hidden beside incompressible data: the archive is big
        // enough that the declared size alone passes, the ratio does not.
        let temp = try TempDir()
        var noise = Data(count: 1 << 20)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        noise.withUnsafeMutableBytes { raw in
            for i in 0..<raw.count { state = state &* 6364136223846793005 &+ 1442695040888963407; raw[i] = UInt8(state >> 56) }
        }
        for (name, format, filter) in [("b.zip", "zip", nil), ("b.tgz", "pax", "gzip")] as [(String, String, String?)] {
            let path = temp.sub(name)
            try LibarchiveWriter.write([.init(path: "noise.bin", data: noise), .init(path: "zeros.bin", data: Data(), zeros: 150_000_000)],
                                       to: path, format: format, filter: filter)
            // Reading only the prefix still streams through the bomb for a compressed tar.
            let started = Date()
            let error = expectMediaError(.expansionLimit) {
                try openMedium(path).visitFiles { file in
                    if format == "zip" { try file.copyContents { _ in } } else { _ = try file.readPrefix(128) }
                }
            }
            #expect(error?.message.contains("zeros.bin") == true, "\(String(describing: error))")
            #expect(error?.message.contains(":1") == true, "\(String(describing: error))")
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    @Test func streamedBytesPastTheDeclaredSizeAreRefused() throws {
        let temp = try TempDir()
        let path = temp.sub("liar.zip")
        try LibarchiveWriter.write([.init(path: "liar.bin", data: Data(), zeros: 100_000)], to: path, format: "zip",
                                   options: "zip:compression=deflate")
        // Shrink the uncompressed size recorded in the central directory.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let signature = Data([0x50, 0x4B, 0x01, 0x02])
        let central = try #require(bytes.range(of: signature)).lowerBound
        bytes.replaceSubrange((central + 24)..<(central + 28), with: [0x00, 0x04, 0x00, 0x00])   // 1024
        if let local = bytes.range(of: Data([0x50, 0x4B, 0x03, 0x04])), bytes[local.lowerBound + 22] != 0 || bytes[local.lowerBound + 23] != 0 {
            bytes.replaceSubrange((local.lowerBound + 22)..<(local.lowerBound + 26), with: [0x00, 0x04, 0x00, 0x00])
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = expectMediaError(.expansionLimit) {
            try openMedium(path).visitFiles { file in
                #expect(file.size == 1024)
                try file.copyContents { _ in }
            }
        }
        #expect(error?.message.contains("declared size") == true, "\(String(describing: error))")
    }

    @Test func tooManyEntriesAreRefused() throws {
        let temp = try TempDir()
        let entries = (0..<50).map { LibarchiveWriter.Entry(path: "f\($0)", data: Data([UInt8($0)])) }
        try LibarchiveWriter.write(entries, to: temp.sub("many.zip"), format: "zip")
        var limits = MediumLimits()
        limits.maximumEntries = 10
        let visited = Mutex(0)
        expectMediaError(.entryLimit) {
            try openMedium(temp.sub("many.zip"), limits: limits).visitFiles { _ in visited.withLock { $0 += 1 } }
        }
        #expect(visited.withLock { $0 } == 10)
        limits.maximumEntries = 50
        #expect(try collect(openMedium(temp.sub("many.zip"), limits: limits)).contents.count == 50)
    }

    @Test func totalExpandedBytesAreBounded() throws {
        let temp = try TempDir()
        let entries = (0..<4).map { LibarchiveWriter.Entry(path: "f\($0)", data: Data(count: 1000)) }
        try LibarchiveWriter.write(entries, to: temp.sub("t.tar"), format: "pax")
        var limits = MediumLimits()
        limits.maximumTotalBytes = 2500
        expectMediaError(.expansionLimit) { _ = try collect(openMedium(temp.sub("t.tar"), limits: limits)) }
    }

    @Test func encryptedZipIsRefusedClearly() throws {
        let temp = try TempDir()
        let path = temp.sub("secret.zip")
        try LibarchiveWriter.write([.init(path: "IMG0001", data: try dicomBytes(patient: "SECRET", instance: 9))],
                                   to: path, format: "zip", options: "zip:encryption=aes256", passphrase: "hunter2")
        let error = expectMediaError(.unsupportedFormat) { _ = try collect(openMedium(path)) }
        #expect(error?.message == "encrypted zip entry IMG0001: discport cannot read it without the passphrase")
        let traditional = temp.sub("zipcrypto.zip")
        try LibarchiveWriter.write([.init(path: "a.txt", data: Data("secret".utf8))],
                                   to: traditional, format: "zip", options: "zip:encryption=zipcrypt", passphrase: "x")
        expectMediaError(.unsupportedFormat) { _ = try collect(openMedium(traditional)) }
    }
}

// MARK: - File kinds

@Suite struct FileKindTests {
    @Test func magicBytes() throws {
        func kind(_ bytes: [UInt8], _ path: String = "FILE0001") -> FileKind { FileKind.sniff(prefix: Data(bytes), path: path) }
        let part10 = try dicomBytes(patient: "A", instance: 1)
        #expect(FileKind.sniff(prefix: part10.prefix(512), path: "IMAGES/IM000001") == .dicom)
        // A raw data set (no preamble), implicit and explicit VR.
        var dataset = Dataset()
        try dataset.setString("1.2.3", vr: .UI, for: Tag(0x0008, 0x0018))
        try dataset.setString("CT", vr: .CS, for: Tag(0x0008, 0x0060))
        #expect(FileKind.sniff(prefix: try DICOMWriter.encode(dataset, transferSyntax: .implicitVRLittleEndian), path: "X") == .dicom)
        #expect(FileKind.sniff(prefix: try DICOMWriter.encode(dataset, transferSyntax: .explicitVRLittleEndian), path: "X") == .dicom)

        #expect(kind([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]) == .jpeg)
        #expect(kind([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(kind([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]) == .tiff)
        #expect(kind([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]) == .tiff)
        #expect(kind(Array("GIF89a".utf8) + [1, 0]) == .gif)
        var bmp: [UInt8] = [0x42, 0x4D, 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 40, 0, 0, 0]
        #expect(kind(bmp) == .bmp)
        bmp[14] = 99
        #expect(kind(bmp) != .bmp)
        #expect(kind(Array("BM is my initials\n".utf8)) == .text)
        #expect(kind(Array("%PDF-1.7\n".utf8)) == .pdf)
        #expect(kind([0xEF, 0xBB, 0xBF] + Array("\n  <!DOCTYPE HTML>\n<html>".utf8), "INDEX.HTM") == .html)
        #expect(kind(Array("<html><body>".utf8)) == .html)
        #expect(kind(Array("[autorun]\r\nopen=viewer.exe\r\n".utf8), "AUTORUN.INF;1") == .autorun)
        #expect(kind(Array("[autorun]".utf8), "autorun.inf") == .autorun)
        #expect(kind([0x4D, 0x5A, 0x90, 0], "VIEWER/VIEWER.EXE;1") == .viewer)
        #expect(kind([0x4D, 0x5A, 0x90, 0], "setup.exe") == .viewer)
        #expect(kind([0x4D, 0x5A, 0x90, 0], "TOOLS/THING") == .executable)
        #expect(kind([0x7F, 0x45, 0x4C, 0x46, 2, 1]) == .executable)
        #expect(kind([0xCF, 0xFA, 0xED, 0xFE, 7, 0]) == .executable)
        #expect(kind([0xCF, 0xFA, 0xED, 0xFE, 7, 0], "OsiriX.app/Contents/MacOS/OsiriX") == .viewer)
        #expect(kind([0x50, 0x4B, 0x03, 0x04, 20, 0], "viewer/lib/weasis.jar") == .viewer)
        #expect(kind([0x50, 0x4B, 0x03, 0x04, 20, 0], "images.zip") == .archive)
        #expect(kind([0x1F, 0x8B, 8, 0]) == .archive)
        #expect(kind(Array("Plain README text\r\n".utf8), "README.TXT;1") == .text)
        #expect(kind([0, 1, 2, 3, 0xFF, 0xFE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == .other)
        #expect(kind([]) == .other)
    }
}

// MARK: - Speed (run with DISCPORT_BENCH=1, release build)

@Suite struct FolderSpeedTests {
    /// 20,000 files of 4 KiB in 2,020 folders; warm cache. Prints, per
    /// way of reading, the best of 5 runs: the floor (open/pread/close over
    /// a list made beforehand, sequential and 4 threads) and the folder
    /// visit reading a 4 KiB prefix of every file at several widths.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DISCPORT_BENCH"] != nil))
    func visitTwentyThousandFiles() throws {
        let temp = try TempDir()
        let root = ProcessInfo.processInfo.environment["DISCPORT_BENCH_DIR"] ?? temp.sub("tree")
        var paths: [String] = []
        let block = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0) })
        for a in 0..<20 {
            for b in 0..<100 {
                let folder = String(format: "%@/S%04d/I%04d", root, a, b)
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for c in 0..<10 {
                    let path = "\(folder)/IM\(c)"
                    if !FileManager.default.fileExists(atPath: path) { try block.write(to: URL(fileURLWithPath: path)) }
                    paths.append(path)
                }
            }
        }
        @Sendable func readOne(_ path: String, into buffer: UnsafeMutableRawPointer) -> Int {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return 0 }
            defer { close(fd) }
            return max(pread(fd, buffer, 4096, 0), 0)
        }
        let shared = paths
        var variants: [(String, () throws -> Int)] = [
            ("floor: open/pread/close, sequential", {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
                defer { buffer.deallocate() }
                return shared.reduce(0) { $0 + readOne($1, into: buffer) }
            }),
            ("floor: open/pread/close, 4 threads", {
                let next = Mutex(0)
                let total = Mutex(0)
                DispatchQueue.concurrentPerform(iterations: 4) { _ in
                    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
                    defer { buffer.deallocate() }
                    var sum = 0
                    while true {
                        let i = next.withLock { value -> Int in value += 1; return value - 1 }
                        guard i < shared.count else { break }
                        sum += readOne(shared[i], into: buffer)
                    }
                    total.withLock { $0 += sum }
                }
                return total.withLock { $0 }
            }),
            ("walk only (readdir, d_type), no visitor", {
                var count = 0
                try FolderMedium(path: root).walk(skipped: { _ in }) { _ in count += 1; return true }
                return count * 4096
            }),
        ]
        for width in [1, 2, 4, 8] {
            variants.append(("visit + readPrefix(4096), width \(width)", {
                let total = Mutex(0)
                try FolderMedium(path: root, width: width).visitFiles { file in
                    let prefix = try file.readPrefix(4096)
                    total.withLock { $0 += prefix.count }
                }
                return total.withLock { $0 }
            }))
        }
        // Interleaved rounds (the host is shared): best of 7 for each.
        func cpuMilliseconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let user = Double(usage.ru_utime.tv_sec) * 1e3 + Double(usage.ru_utime.tv_usec) / 1e3
            return user + Double(usage.ru_stime.tv_sec) * 1e3 + Double(usage.ru_stime.tv_usec) / 1e3
        }
        var times = Array(repeating: [Double](), count: variants.count)
        var cpu = Array(repeating: [Double](), count: variants.count)
        var bytes = Array(repeating: 0, count: variants.count)
        for round in 0..<8 {
            for (index, variant) in variants.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let cpuStart = cpuMilliseconds()
                bytes[index] = try variant.1()
                if round > 0 {
                    times[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                    cpu[index].append(cpuMilliseconds() - cpuStart)
                }
            }
        }
        let results = variants.indices.map {
            (variants[$0].0, times[$0].min()!, times[$0].sorted()[times[$0].count / 2], cpu[$0].sorted()[cpu[$0].count / 2], bytes[$0])
        }
        print("Folder speed, \(paths.count) files of 4 KiB, warm cache, 7 interleaved rounds (wall best, wall median, CPU median):")
        for (name, best, median, cpuMedian, count) in results {
            print(String(format: "  %-44@ best %7.1f ms  median %7.1f ms  cpu %7.1f ms  (%d bytes)", name as NSString, best, median, cpuMedian, count))
        }
        #expect(results.allSatisfy { $0.4 == paths.count * 4096 })
    }
}
