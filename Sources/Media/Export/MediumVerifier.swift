import Crypto
import DICOM
import Foundation
import Synchronization

/// One finding of `discport verify`.
public struct VerifyProblem: Sendable, Hashable, Codable {
    /// `file-id`, `record-key`, `transfer-syntax`, `readme-missing`,
    /// `forbidden-root-content`, `non-dicom-in-dicom-folder`, `web-script`,
    /// `file-set-id`, `no-dicomdir`, `xdm` (IHE XDM metadata that does not
    /// match the medium), or `scan:<scan problem code>`.
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
                if normalized == "dicomdir" { directory = DICOMDirectory(file: file) }
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
                    if let directory { v.dicomdir = directory }
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
