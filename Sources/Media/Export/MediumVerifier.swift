import Crypto
import DICOM
import Foundation
import Synchronization

/// One finding of `discport verify`.
public struct VerifyProblem: Sendable, Hashable, Codable {
    /// `file-id`, `record-key`, `transfer-syntax`, `readme-missing`,
    /// `forbidden-root-content`, `non-dicom-in-dicom-folder`, `web-script`,
    /// `file-set-id`, `no-dicomdir`, `xdm` (IHE XDM metadata that does not
    /// match the medium), `part10` (a file meta information header against
    /// PS3.10 §7.1: group length, version, Media Storage SOP Class),
    /// `dicomdir-offsets` (the root record offsets of the DICOMDIR),
    /// `record-hierarchy` (a PATIENT, STUDY or SERIES record with nothing
    /// below it), `record-value` (a record value its VR does not allow),
    /// `sop-class` (a private SOP class on a STD-GEN medium), or
    /// `scan:<scan problem code>`.
    public var code: String
    public var severity: ProblemSeverity
    public var path: String?
    public var message: String
}

/// What `discport verify` found on a medium.
public struct VerifyReport: Sendable, Codable {
    public var medium: String
    public var kind: MediumKind?
    public var volumeLabel: String?
    public var fileSetID: String?
    /// The profile checked against, and whether it was given or inferred
    /// from the syntaxes used.
    public var profile: String?
    public var profileSource: String
    public var files: Int
    public var instances: Int
    public var records: Int
    public var errors: Int
    public var warnings: Int
    public var problems: [VerifyProblem]

    public var passed: Bool { errors == 0 }
}

/// Checks any medium (folder, ISO, zip, drive) against PS3.10, PS3.11,
/// PS3.12 and IHE PDI. The scan engine does the reading (its DICOMDIR
/// reader, its comparison of the DICOMDIR with the files); this adds what
/// a conformant referral medium needs on top: File IDs, keys per record,
/// transfer syntaxes of the profile, README.TXT, nothing forbidden at the
/// root, nothing else in the DICOM folders, no scripts in web content.
public struct MediumVerifier: Sendable {
    /// The declared profile; nil: the narrowest general-purpose profile
    /// allowing the syntaxes found.
    public var profile: MediaProfile?
    public var limits: MediumLimits
    /// Opens an encrypted zip; without it such a zip fails with "cannot
    /// read it without the passphrase".
    public var passphrase: Passphrase?

    public init(profile: MediaProfile? = nil, limits: MediumLimits = .init(), passphrase: Passphrase? = nil) {
        self.profile = profile
        self.limits = limits
        self.passphrase = passphrase
    }

    /// Scan problems that make a medium non-conformant.
    static let errorCodes: Set<ProblemCode> = [
        .mediumError, .truncated, .damaged, .unreadableFile, .noFileMeta, .missingUID, .duplicateInstance,
        .noDICOMDIR, .multipleDICOMDIRs, .referencedFileMissing, .referencedFileNotDICOM, .fileNotInDICOMDIR, .uidMismatch,
        .dicomdirUnreadable, .dicomdirDamaged, .dicomdirNoMeta, .dicomdirImplicitVR, .dicomdirBigEndian, .dicomdirEmpty,
        .dicomdirInconsistent, .dicomdirWrongOffsets, .dicomdirOffsetLoop, .dicomdirOrphanRecord, .dicomdirMisplacedRecord,
        .dicomdirBadFileID, .dicomdirDuplicateReference, .noDICOMFiles, .autorun, .charsetUndecodable,
    ]

    struct Visit {
        var files: [(path: String, size: Int)] = []
        var hashes: [String: String] = [:]
        var dicomdir: DICOMDirectory?
        /// The root DICOMDIR's header and its root record offsets.
        var dicomdirHeader: Part10Header?
        var rootOffsets: Part10Header.DirectoryHead?
        /// The file meta of every file starting with a preamble and `DICM`, by path.
        var headers: [String: Part10Header] = [:]
        var indexPage: String?
        /// `IHE_XDM/<subset>/METADATA.XML` files: path and content.
        var xdmMetadata: [(path: String, data: Data)] = []
    }

    /// Verifies `path`; `hashing` also returns the SHA-256 of every file
    /// (by path on the medium) for the export's comparison with its sources.
    public func verify(path: String, hashing: Bool = false) -> (report: VerifyReport, scan: ScanReport, hashes: [String: String]) {
        var problems: [VerifyProblem] = []
        func add(_ code: String, _ severity: ProblemSeverity, _ path: String?, _ message: String) {
            problems.append(VerifyProblem(code: code, severity: severity, path: path, message: message))
        }
        let medium: any Medium
        do {
            medium = try openMedium(path, limits: limits, passphrase: passphrase)
        } catch {
            add("scan:medium-error", .error, nil, "cannot read \(path): \(error.message)")
            return (finish(path: path, kind: nil, label: nil, problems: problems), MediumScanner(limits: limits).scan(path: path), [:])
        }

        // 1. One visit: every file, its hash, the root DICOMDIR, INDEX.HTM.
        let visit = Mutex(Visit())
        do {
            try medium.visitFiles { file in
                let normalized = FileIDResolver.normalize(file.path)
                var hash: String?
                if hashing {
                    var hasher = StreamingSHA256()
                    try file.copyContents { hasher.update($0) }
                    hash = hasher.finalize()
                }
                var directory: DICOMDirectory?
                var rootOffsets: Part10Header.DirectoryHead?
                var header: Part10Header?
                if normalized == "dicomdir" {
                    if let data = try? file.readPrefix(file.size) {
                        directory = DICOMDirectory(data: data, path: file.path)
                        // The meta and the elements before the records: no copy of the whole file.
                        let bytes = [UInt8](data.prefix(1 << 20))
                        header = Part10Header(bytes)
                        if let header, header.fault == nil, header.transferSyntaxUID == TransferSyntax.explicitVRLittleEndian.uid {
                            rootOffsets = Part10Header.rootOffsets(bytes, from: header.end)
                        }
                    } else {
                        directory = DICOMDirectory(file: file)
                    }
                } else if file.size >= 132 {
                    header = Part10Header.read(file)
                }
                var page: String?
                if normalized == "index.htm" || normalized == "index.html", file.size < 4 << 20 {
                    page = (try? file.readPrefix(file.size)).map { String(decoding: $0, as: UTF8.self) }
                }
                var xdm: Data?
                if normalized.hasPrefix("ihe_xdm/"), normalized.hasSuffix("/metadata.xml"), file.size < 256 << 20 {
                    xdm = try? file.readPrefix(file.size)
                }
                visit.withLock { v in
                    v.files.append((file.path, file.size))
                    if let xdm { v.xdmMetadata.append((file.path, xdm)) }
                    if let hash { v.hashes[file.path] = hash }
                    if let directory {
                        v.dicomdir = directory
                        v.dicomdirHeader = header
                        v.rootOffsets = rootOffsets
                    } else if let header {
                        v.headers[file.path] = header
                    }
                    if let page { v.indexPage = page }
                }
            }
        } catch {
            add("scan:medium-error", .error, nil, "the medium could not be read to its end: \(error)")
        }
        let seen = visit.withLock { $0 }

        // 2. The scan engine: DICOM files, the DICOMDIR against the files.
        let scan = MediumScanner(limits: limits).scan(medium)
        for problem in scan.problems {
            // Web pages and viewers are expected on PDI media (checked below).
            let severity: ProblemSeverity = MediumVerifier.errorCodes.contains(problem.code) ? .error
                : problem.code == .viewerContent ? .info : min(problem.severity, .warning)
            add("scan:" + problem.code.rawValue, severity, problem.path, problem.message)
        }
        let instances = scan.patients.flatMap { $0.studies.flatMap { $0.series.flatMap(\.instances) } }

        // 3. Root content (IHE PDI).
        let rootFiles = seen.files.filter { !$0.path.contains("/") }.map { FileIDResolver.normalize($0.path) }
        if seen.dicomdir == nil {
            add("no-dicomdir", .error, nil, "no DICOMDIR at the root of the medium (PS3.11: every file-set has one, at the root)")
        }
        if !rootFiles.contains("readme.txt") {
            add("readme-missing", .error, nil, "no README.TXT at the root (IHE PDI: creating institution, application and how to open the medium)")
        } else if let readme = seen.files.first(where: { !$0.path.contains("/") && FileIDResolver.normalize($0.path) == "readme.txt" }),
                  MediumVerifier.withoutVersion(readme.path) != "README.TXT" {
            add("readme-missing", .error, readme.path, "the README is named \(readme.path): IHE PDI names it README.TXT, in upper case (ISO 9660 level 1)")
        }
        for name in rootFiles {
            if name == "autorun.inf" {
                add("forbidden-root-content", .error, name.uppercased(), "AUTORUN.INF at the root: IHE PDI media must not start anything by themselves")
            } else if [".exe", ".bat", ".cmd", ".com", ".vbs", ".ps1"].contains(where: name.hasSuffix) {
                add("forbidden-root-content", .warning, name.uppercased(), "an executable at the root: viewers belong in their own folder and are never started automatically")
            }
        }
        if let page = seen.indexPage {
            if page.range(of: "<script", options: .caseInsensitive) != nil {
                add("web-script", .error, "INDEX.HTM", "INDEX.HTM holds a script: IHE PDI web content is plain XHTML without scripts")
            }
            if !seen.files.contains(where: { FileIDResolver.normalize($0.path).hasPrefix("ihe_pdi/") }) {
                add("web-content", .warning, "INDEX.HTM", "INDEX.HTM without an IHE_PDI folder (IHE PDI Web Content option)")
            }
        }

        // 4. The DICOMDIR: File-set ID, File IDs, keys per record. A disc
        // image or drive says which media it can be: UDF only is no CD.
        let fileSystems = [.iso9660, .device].contains(medium.kind)
            ? (try? readBytes(path: path, offset: 0, count: MediumSniffer.headSize)).map(MediumSniffer.volumeRecognition) : nil
        let canBeCD = fileSystems.map { $0.iso || !$0.udf } ?? true
        var effective = profile
        var profileSource = profile == nil ? "inferred" : "declared"
        let usedSyntaxes = Set(instances.map(\.transferSyntaxUID).filter { !$0.isEmpty })
        if effective == nil {
            effective = MediaProfile.narrowest(allowing: usedSyntaxes, cd: canBeCD) ?? .stdGenCD
            if MediaProfile.narrowest(allowing: usedSyntaxes, cd: canBeCD) == nil { profileSource = "none fits; checked against STD-GEN-CD" }
        }
        let checked = effective!
        if let fileSystems {
            if checked.isCD && !fileSystems.iso {
                add("file-system", .error, nil, "\(checked.name) is for \(checked.medium), which carries ISO 9660; this image has UDF only")
            }
            if checked.isBD && !fileSystems.udf {
                add("file-system", .error, nil, "\(checked.name) is for \(checked.medium), which carries UDF (2.50 on BD-RE, 2.60 on BD-R); this image has \(fileSystems.iso ? "ISO 9660 only" : "no UDF")")
            }
        }
        if let directory = seen.dicomdir {
            if MediumVerifier.withoutVersion(directory.path) != "DICOMDIR" {
                add("file-id", .error, directory.path, "the DICOMDIR is named \(directory.path): PS3.10 §8.6 and PS3.11 name it DICOMDIR, in upper case")
            }
            if let header = seen.dicomdirHeader {
                for fault in header.faults(expectedSOPClassUID: DICOMDirectory.sopClassUID, what: "Media Storage Directory Storage") {
                    add("part10", .error, directory.path, "the DICOMDIR's " + fault)
                }
            }
            if let offsets = seen.rootOffsets {
                checkRootOffsets(directory, offsets, add: add)
                if !offsets.hasFileSetID {
                    add("file-set-id", .error, directory.path, "the DICOMDIR has no File-set ID (0004,1130) (Type 2: present, empty allowed; PS3.3 F.3)")
                }
            }
            checkChildless(directory, add: add)
            if let id = directory.fileSetID, !FileSetWriter.isValidFileSetID(id) {
                add("file-set-id", .error, directory.path, "File-set ID \"\(id)\" is not 1–16 characters of A–Z, 0–9 and _")
            }
            var badIDs = 0
            for entry in directory.instanceEntries() {
                let record = directory.records[entry.record]
                if !record.referencedFileID.isEmpty, !FileSetWriter.isConformantFileID(record.referencedFileID) {
                    badIDs += 1
                    if badIDs <= 50 {
                        add("file-id", .error, record.referencedFileID.joined(separator: "/"),
                            "Referenced File ID \(record.referencedFileID.joined(separator: "\\")) breaks PS3.10 §8.5 (≤ 8 components of ≤ 8 characters A–Z 0–9 _)")
                    }
                }
            }
            checkKeys(directory, profile: checked, add: add)
            checkRecordValues(directory, add: add)
        }
        // File IDs of the DICOM files as the medium names them.
        var badNames = 0
        for instance in instances {
            let components = instance.path.split(separator: "/").map { String($0) }
            let stripped = components.map(MediumVerifier.withoutVersion)
            if !FileSetWriter.isConformantFileID(stripped) {
                badNames += 1
                if badNames <= 50 {
                    add("file-id", .error, instance.path, "the file name breaks PS3.10 §8.5 / PS3.12 (≤ 8 components of ≤ 8 characters A–Z 0–9 _, no extension)")
                }
            }
        }
        if badNames > 50 { add("file-id", .error, nil, "\(badNames - 50) more files with non-conformant names") }
        // On a disc the ISO 9660 version (`;1`) is no part of the name; on a
        // folder (a disc copied with it) it is, and no File ID names the file.
        if medium.kind == .folder {
            let versioned = seen.files.map(\.path).filter { path in
                let name = path.split(separator: "/").last.map(String.init) ?? path
                return MediumVerifier.withoutVersion(name) != name
            }.sorted()
            for path in versioned.prefix(50) {
                add("file-id", .error, path, "an ISO 9660 version or trailing dot in the name of a file in a folder: it is part of the name here, so no File ID (PS3.10 §8.5, no version) names this file; copy the disc without it")
            }
            if versioned.count > 50 { add("file-id", .error, nil, "\(versioned.count - 50) more files named with an ISO 9660 version") }
        }

        // PS3.10 §7.1: each file's meta information.
        var badHeaders = 0
        for instance in instances where instance.hasFileMeta {
            guard let header = seen.headers[instance.path] else { continue }
            for fault in header.faults(expectedSOPClassUID: instance.sopClassUID, what: "the data set's SOP Class UID") {
                badHeaders += 1
                if badHeaders <= 50 { add("part10", .error, instance.path, "the file meta information's " + fault) }
            }
        }
        if badHeaders > 50 { add("part10", .error, nil, "\(badHeaders - 50) more faults in file meta information headers") }

        // PS3.11: the general-purpose profiles take standard storage SOP classes only.
        var privateClasses = 0
        for instance in instances {
            guard let sopClass = instance.sopClassUID, !sopClass.isEmpty, !checked.allowsSOPClass(sopClass) else { continue }
            privateClasses += 1
            if privateClasses <= 50 {
                add("sop-class", .error, instance.path, "SOP Class \(sopClass) is not a standard storage SOP class; \(checked.name) takes standard ones only (PS3.11)")
            }
        }
        if privateClasses > 50 { add("sop-class", .error, nil, "\(privateClasses - 50) more files of non-standard SOP classes") }

        // 5. Transfer syntaxes of the profile.
        var badSyntax = 0
        for instance in instances where !instance.transferSyntaxUID.isEmpty && !checked.allows(instance.transferSyntaxUID) {
            badSyntax += 1
            if badSyntax <= 50 {
                add("transfer-syntax", .error, instance.path,
                    "\(TransferSyntax(uid: instance.transferSyntaxUID).name) is not allowed by \(checked.name) (allowed: \(checked.transferSyntaxes.map { TransferSyntax(uid: $0).name }.joined(separator: ", ")))")
            }
        }
        if badSyntax > 50 { add("transfer-syntax", .error, nil, "\(badSyntax - 50) more files in syntaxes \(checked.name) does not allow") }

        // 6. Nothing but DICOM files in the DICOM folders.
        let dicomPaths = Set(instances.map(\.path))
        let dicomFolders = Set(instances.compactMap { instance -> String? in
            guard let slash = instance.path.lastIndex(of: "/") else { return nil }
            return String(instance.path[..<slash])
        })
        for file in seen.files where !dicomPaths.contains(file.path) {
            guard let slash = file.path.lastIndex(of: "/") else { continue }
            if dicomFolders.contains(String(file.path[..<slash])) {
                add("non-dicom-in-dicom-folder", .error, file.path, "a file that is not a DICOM instance of the file-set inside a DICOM folder (IHE PDI)")
            }
        }

        // 7. IHE XDM: every DocumentEntry names a file of the medium of its size and SHA-1.
        for metadata in seen.xdmMetadata { checkXDM(metadata, medium: medium, files: seen.files, add: add) }

        var report = finish(path: path, kind: medium.kind, label: medium.volumeLabel, problems: problems)
        report.fileSetID = seen.dicomdir?.fileSetID
        report.profile = checked.name
        report.profileSource = profileSource
        report.files = seen.files.count
        report.instances = instances.count
        report.records = seen.dicomdir?.records.count ?? 0
        return (report, scan, seen.hashes)
    }

    /// The DocumentEntries of one METADATA.XML against the medium: the URI
    /// resolves inside the medium to a file of the stated size, whose SHA-1
    /// (a second read of those files only) is the stated hash.
    private func checkXDM(_ metadata: (path: String, data: Data), medium: any Medium, files: [(path: String, size: Int)],
                          add: (String, ProblemSeverity, String?, String) -> Void) {
        let entries: [XDMMetadataReader.Entry]
        do {
            entries = try XDMMetadataReader.entries(metadata.data)
        } catch {
            add("xdm", .error, metadata.path, "the IHE XDM metadata cannot be read: \(error.message)")
            return
        }
        if entries.isEmpty { add("xdm", .warning, metadata.path, "the IHE XDM metadata describes no document") }
        let sizes = Dictionary(files.map { (FileIDResolver.normalize($0.path), $0.size) }, uniquingKeysWith: { a, _ in a })
        var wanted: [String: (uri: String, sha1: String)] = [:]
        var count = 0
        func problem(_ message: String) {
            count += 1
            if count <= 50 { add("xdm", .error, metadata.path, message) }
        }
        for entry in entries {
            guard let uri = entry.uri, let target = XDMMetadataReader.resolve(uri, metadataPath: metadata.path) else {
                problem("DocumentEntry \(entry.id): URI \(entry.uri ?? "(none)") does not name a file on the medium")
                continue
            }
            let key = FileIDResolver.normalize(target)
            guard let size = sizes[key] else { problem("DocumentEntry \(entry.id): \(uri) is not on the medium"); continue }
            if let stated = entry.size, stated != size {
                problem("DocumentEntry \(entry.id): \(uri) has \(size) bytes, the metadata says \(stated)")
            }
            if let sha1 = entry.sha1 { wanted[key] = (uri, sha1) } else { problem("DocumentEntry \(entry.id): \(uri) has no hash") }
        }
        guard !wanted.isEmpty else { return }
        let paths = Set(wanted.keys)
        let hashes = Mutex([String: String]())
        do {
            try medium.visitFiles { file in
                let key = FileIDResolver.normalize(file.path)
                guard paths.contains(key) else { return }
                var hasher = Insecure.SHA1()
                try file.copyContents { hasher.update(bufferPointer: $0) }
                let digest = FileSetWriter.hex(hasher.finalize())
                hashes.withLock { $0[key] = digest }
            }
        } catch {
            problem("the files of the IHE XDM metadata could not be read again: \(error)")
            return
        }
        let found = hashes.withLock { $0 }
        for (key, expected) in wanted.sorted(by: { $0.key < $1.key }) where found[key] != expected.sha1 {
            problem("\(expected.uri): SHA-1 \(found[key] ?? "unread") on the medium, \(expected.sha1) in the metadata")
        }
        if count > 50 { add("xdm", .error, metadata.path, "\(count - 50) more IHE XDM mismatches") }
    }

    /// A name without a `;1` version and trailing dot (ISO 9660 forms).
    static func withoutVersion(_ name: String) -> String {
        var s = Substring(name)
        if let semicolon = s.lastIndex(of: ";"), s[s.index(after: semicolon)...].allSatisfy(\.isNumber) { s = s[..<semicolon] }
        while s.count > 1, s.last == "." { s.removeLast() }
        return String(s)
    }

    /// PS3.3 F.3.2.1: (0004,1200) and (0004,1202) are the offsets of the
    /// first and the last record of the root directory entity (0 when it
    /// has none). The scan follows the first; the last is checked here,
    /// against the end of the chain of next-record offsets from the first.
    private func checkRootOffsets(_ directory: DICOMDirectory, _ offsets: Part10Header.DirectoryHead,
                                  add: (String, ProblemSeverity, String?, String) -> Void) {
        guard let last = offsets.last else {
            add("dicomdir-offsets", .error, directory.path, "the DICOMDIR has no Offset of the Last Directory Record of the Root Directory Entity (0004,1202) (Type 1)")
            return
        }
        guard offsets.first != nil else {
            add("dicomdir-offsets", .error, directory.path, "the DICOMDIR has no Offset of the First Directory Record of the Root Directory Entity (0004,1200) (Type 1)")
            return
        }
        // Wrong first offsets and broken chains are the scan's findings.
        guard directory.treeSource == .offsets, let first = offsets.first, first != 0 else { return }
        var byOffset: [Int: Int] = [:]
        for index in directory.records.indices { byOffset[directory.records[index].offset] = index }
        var visited = Set<Int>()
        var chain: [Int] = []
        var current = first
        while let index = byOffset[current], visited.insert(index).inserted {
            chain.append(current)
            current = directory.records[index].nextOffset
            if current == 0 { break }
        }
        guard current == 0, let end = chain.last, end != last else { return }
        add("dicomdir-offsets", .error, directory.path,
            "Offset of the Last Directory Record of the Root Directory Entity (0004,1202) is \(last)\(chain.contains(last) ? ", an earlier root record" : byOffset[last] == nil ? ", no record" : ", a record below the root"), but the last root record (the end of the chain from (0004,1200)) is at byte \(end) (PS3.3 F.3.2.1)")
    }

    /// A PATIENT, STUDY or SERIES record of the tree with no active record
    /// below it leads to no file (pydicom's FileSet and validate-media
    /// refuse it; dcmmkdir never writes one).
    private func checkChildless(_ directory: DICOMDirectory, add: (String, ProblemSeverity, String?, String) -> Void) {
        var count = 0
        var stack = directory.roots
        var seen = Set<Int>()
        while let index = stack.popLast() {
            guard seen.insert(index).inserted else { continue }
            let record = directory.records[index]
            stack += record.children
            guard record.isInUse, [.patient, .study, .series].contains(record.level),
                  !record.children.contains(where: { directory.records[$0].isInUse }) else { continue }
            count += 1
            if count <= 50 {
                add("record-hierarchy", .error, directory.path, "\(record.type) record #\(record.index + 1) at byte \(record.offset) has no record below it (PS3.3 F.4: PATIENT > STUDY > SERIES > the records of the files)")
            }
        }
        if count > 50 { add("record-hierarchy", .error, directory.path, "\(count - 50) more records with no record below them") }
    }

    /// The values of the records against their VR (PS3.5 §6.2) where a
    /// wrong one misleads a reader: DA, TM, CS, UI, IS, DS, and Record
    /// In-use Flag 0000H or FFFFH (PS3.3 F.3.2.2). dciodvfy fails each.
    private func checkRecordValues(_ directory: DICOMDirectory, add: (String, ProblemSeverity, String?, String) -> Void) {
        var count = 0
        for index in directory.records.indices {
            let record = directory.records[index]
            let faults = MediumVerifier.recordValueFaults(record.attributes)
            guard !faults.isEmpty else { continue }
            count += 1
            if count <= 50 {
                add("record-value", .error, directory.path, "\(record.type) record #\(record.index + 1) at byte \(record.offset): \(faults.joined(separator: "; ")) (PS3.5 §6.2)")
            }
        }
        if count > 50 { add("record-value", .error, directory.path, "\(count - 50) more records with values their VR does not allow") }
    }

    /// What of a directory record's values its VR does not allow (PS3.5
    /// §6.2; DA, TM, CS, UI, IS, DS), and a Record In-use Flag other than
    /// FFFFH or 0000H: each as `Keyword (gggg,eeee) VR "value" why`.
    static func recordValueFaults(_ record: Dataset) -> [String] {
        var faults: [String] = []
        if let flag = record.integer(.recordInUseFlag), flag != 0, flag != 0xFFFF {
            faults.append("Record In-use Flag (0004,1410) is \(String(format: "%04X", flag))H, neither FFFFH nor 0000H")
        }
        for element in record.elements where element.tag.group != 0x0004 {
            for value in record.strings(element.tag) where !value.isEmpty {
                guard let why = DICOMText.formatProblem(value, vr: element.vr) else { continue }
                faults.append("\(DataDictionary.entry(for: element.tag)?.keyword ?? "") \(element.tag) \(element.vr.rawValue) \"\(value)\" \(why)")
            }
        }
        return faults
    }

    private func checkKeys(_ directory: DICOMDirectory, profile: MediaProfile,
                           add: (String, ProblemSeverity, String?, String) -> Void) {
        var count = 0
        for index in directory.records.indices {
            let record = directory.records[index]
            guard record.isInUse, [.patient, .study, .series, .instance].contains(record.level) else { continue }
            var missing: [String] = []
            for key in DirectoryRecordKeys.keys(for: record.type, extended: profile.needsExtendedKeys) {
                switch key.type {
                case .required:
                    if record.attributes[key.tag]?.isEmpty ?? true { missing.append("\(key.keyword) \(key.tag) (Type 1)") }
                case .present:
                    if record.attributes[key.tag] == nil { missing.append("\(key.keyword) \(key.tag) (Type 2)") }
                case .conditional:
                    break
                }
            }
            if record.level == .instance {
                for tag in [Tag.referencedFileID, .referencedSOPClassUIDInFile, .referencedSOPInstanceUIDInFile, .referencedTransferSyntaxUIDInFile]
                where record.attributes[tag]?.isEmpty ?? true {
                    missing.append("\(DataDictionary.entry(for: tag)?.keyword ?? "") \(tag) (Type 1C)")
                }
            }
            if record.attributes[.specificCharacterSet] == nil, DICOMDIRWriter.needsCharacterSet(record.attributes) {
                missing.append("SpecificCharacterSet (0008,0005) (Type 1C: the record holds text that is not ASCII)")
            }
            guard !missing.isEmpty else { continue }
            count += 1
            if count <= 50 {
                add("record-key", .error, directory.path, "\(record.type) record #\(record.index + 1) at byte \(record.offset) lacks \(missing.joined(separator: ", "))")
            }
        }
        if count > 50 { add("record-key", .error, directory.path, "\(count - 50) more records lack keys") }
    }

    private func finish(path: String, kind: MediumKind?, label: String?, problems: [VerifyProblem]) -> VerifyReport {
        VerifyReport(medium: path, kind: kind, volumeLabel: label, fileSetID: nil, profile: nil, profileSource: "",
                     files: 0, instances: 0, records: 0,
                     errors: problems.filter { $0.severity == .error }.count,
                     warnings: problems.filter { $0.severity == .warning }.count,
                     problems: problems)
    }
}

/// The file meta information of a Part 10 file (PS3.10 §7.1), read from
/// its first bytes element by element (explicit VR little endian, as the
/// meta always is), to check what the scan does not: group length,
/// version, Media Storage SOP Class UID, the Type 1 elements.
struct Part10Header: Sendable, Hashable {
    /// (0002,0000) and the bytes of the elements after it.
    var groupLength: Int?
    var groupBytes = 0
    var version: [UInt8]?
    var mediaStorageSOPClassUID: String?
    var mediaStorageSOPInstanceUID: String?
    var transferSyntaxUID: String?
    var implementationClassUID: String?
    /// Where the meta group ends (the data set begins).
    var end = 132
    /// Why the group could not be read to its end.
    var fault: String?

    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]

    struct Element {
        var group: UInt16
        var element: UInt16
        var valueOffset: Int
        var length: Int
        var next: Int { valueOffset + length }
    }

    /// One explicit VR little endian element at `offset`; nil when it does
    /// not fit in `bytes` or has an undefined length.
    static func element(_ bytes: [UInt8], at offset: Int) -> Element? {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        guard offset >= 0, offset + 8 <= bytes.count else { return nil }
        let vr = String(decoding: bytes[offset + 4 ..< offset + 6], as: UTF8.self)
        var element = Element(group: UInt16(u16(offset)), element: UInt16(u16(offset + 2)), valueOffset: offset + 8, length: u16(offset + 6))
        if longVRs.contains(vr) {
            guard offset + 12 <= bytes.count else { return nil }
            element.valueOffset = offset + 12
            element.length = u32(offset + 8)
        }
        guard element.length != 0xFFFF_FFFF, element.next <= bytes.count else { return nil }
        return element
    }

    static func string(_ bytes: [UInt8], _ element: Element) -> String {
        var value = bytes[element.valueOffset ..< element.next]
        while let last = value.last, last == 0 || last == 0x20 { value.removeLast() }
        return String(decoding: value, as: UTF8.self)
    }

    /// The header of `bytes`; nil without a preamble and `DICM`.
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 132, bytes[128 ..< 132].elementsEqual("DICM".utf8) else { return nil }
        var offset = 132
        var groupStart: Int?
        while offset < bytes.count {
            guard bytes.count >= offset + 2, bytes[offset] == 0x02, bytes[offset + 1] == 0x00 else { break }
            guard let element = Part10Header.element(bytes, at: offset) else {
                fault = "file meta information cannot be read past byte \(offset)"
                break
            }
            switch element.element {
            case 0x0000:
                if element.length == 4 { groupLength = Int(bytes[element.valueOffset]) | Int(bytes[element.valueOffset + 1]) << 8 | Int(bytes[element.valueOffset + 2]) << 16 | Int(bytes[element.valueOffset + 3]) << 24 }
                groupStart = element.next
            case 0x0001: version = Array(bytes[element.valueOffset ..< element.next])
            case 0x0002: mediaStorageSOPClassUID = Part10Header.string(bytes, element)
            case 0x0003: mediaStorageSOPInstanceUID = Part10Header.string(bytes, element)
            case 0x0010: transferSyntaxUID = Part10Header.string(bytes, element)
            case 0x0012: implementationClassUID = Part10Header.string(bytes, element)
            default: break
            }
            offset = element.next
        }
        end = offset
        groupBytes = groupStart.map { offset - $0 } ?? 0
    }

    /// The header of a medium file: its first 16 KiB, or up to 1 MiB when
    /// the meta goes on past them. nil: no preamble and `DICM`, or unreadable.
    static func read(_ file: MediumFile) -> Part10Header? {
        guard let head = try? file.readPrefix(min(file.size, 16 << 10)), let header = Part10Header([UInt8](head)) else { return nil }
        guard header.fault != nil, file.size > head.count else { return header }
        // A meta longer than the first read: judged on a longer one, or not at all.
        guard let more = try? file.readPrefix(min(file.size, 1 << 20)) else { return nil }
        return Part10Header([UInt8](more))
    }

    /// What breaks PS3.10 §7.1, each said after "the file meta information's".
    func faults(expectedSOPClassUID: String?, what: String) -> [String] {
        var out: [String] = []
        if let fault { out.append(fault) }
        if let groupLength {
            if fault == nil, groupLength != groupBytes {
                out.append("group length (0002,0000) is \(groupLength), but its elements after it take \(groupBytes) bytes")
            }
        } else {
            out.append("File Meta Information Group Length (0002,0000) is missing (Type 1)")
        }
        if let version {
            if version.count != 2 || version[1] & 1 == 0 {
                out.append("File Meta Information Version (0002,0001) is \(version.map { String(format: "%02X", $0) }.joined(separator: " ")), not 00 01")
            }
        } else {
            out.append("File Meta Information Version (0002,0001) is missing (Type 1)")
        }
        if mediaStorageSOPClassUID?.isEmpty ?? true {
            out.append("Media Storage SOP Class UID (0002,0002) is missing (Type 1)")
        } else if let expectedSOPClassUID, mediaStorageSOPClassUID != expectedSOPClassUID {
            out.append("Media Storage SOP Class UID (0002,0002) \(mediaStorageSOPClassUID!) is not \(what) \(expectedSOPClassUID)")
        }
        if mediaStorageSOPInstanceUID?.isEmpty ?? true { out.append("Media Storage SOP Instance UID (0002,0003) is missing (Type 1)") }
        if transferSyntaxUID?.isEmpty ?? true { out.append("Transfer Syntax UID (0002,0010) is missing (Type 1)") }
        if implementationClassUID?.isEmpty ?? true { out.append("Implementation Class UID (0002,0012) is missing (Type 1)") }
        return out
    }

    /// (0004,1200) and (0004,1202) of a DICOMDIR in explicit VR little
    /// endian: its top-level elements from `start` up to the record sequence.
    /// What the DICOMDIR says before its records.
    struct DirectoryHead: Sendable, Hashable {
        var first: Int?
        var last: Int?
        var hasFileSetID = false
    }

    static func rootOffsets(_ bytes: [UInt8], from start: Int) -> DirectoryHead {
        var head = DirectoryHead()
        var offset = start
        while let element = element(bytes, at: offset) ?? sequenceHead(bytes, at: offset) {
            if element.group > 0x0004 || (element.group == 0x0004 && element.element >= 0x1220) { break }
            if element.group == 0x0004, element.length == 4, element.element == 0x1200 || element.element == 0x1202 {
                let v = element.valueOffset
                let value = Int(bytes[v]) | Int(bytes[v + 1]) << 8 | Int(bytes[v + 2]) << 16 | Int(bytes[v + 3]) << 24
                if element.element == 0x1200 { head.first = value } else { head.last = value }
            }
            if element.group == 0x0004, element.element == 0x1130 { head.hasFileSetID = true }
            offset = element.next
        }
        return head
    }

    /// An element whose value does not fit in `bytes` (the record sequence
    /// itself, of undefined length): only its tag, to stop at.
    private static func sequenceHead(_ bytes: [UInt8], at offset: Int) -> Element? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return Element(group: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8,
                       element: UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8,
                       valueOffset: bytes.count, length: 0)
    }
}
