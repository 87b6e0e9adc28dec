#if canImport(Glibc)
import Glibc
#endif
import Codecs
import DICOM
import Foundation
import Media
import Mustache
import Store

/// The creating institution, for README.TXT, INDEX.HTM and the label.
public struct InstitutionInfo: Sendable, Hashable, Codable {
    public var name: String
    public var department: String?
    public var address: String?
    public var contact: String
    /// The OID of the authority assigning the clinic's patient IDs: the
    /// patient ID of IHE XDM metadata is then `ID^^^&OID&ISO`.
    public var assigningAuthority: String?
    public init(name: String = "", department: String? = nil, address: String? = nil, contact: String = "",
                assigningAuthority: String? = nil) {
        self.name = name; self.department = department; self.address = address; self.contact = contact
        self.assigningAuthority = assigningAuthority
    }

    /// From `$DISCPORT_HOME/config.toml`: an `[institution]` table with
    /// `name`, `department`, `address`, `contact`, `assigning_authority` (a
    /// small TOML subset: tables, `key = "string"`, comments). A missing
    /// file gives empty values; an assigning authority that is not an OID is refused.
    public static func load(configFile path: String) throws -> InstitutionInfo {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return InstitutionInfo() }
        let values = try SimpleTOML.parse(text)
        let authority = values["institution.assigning_authority"].flatMap { $0.isEmpty ? nil : $0 }
        if let authority, !UID.isValid(authority) {
            throw ExportError("\(path): [institution] assigning_authority \"\(authority)\" is not an OID (digits and dots, as 1.2.392.200119.…)")
        }
        return InstitutionInfo(name: values["institution.name"] ?? "", department: values["institution.department"],
                               address: values["institution.address"], contact: values["institution.contact"] ?? "",
                               assigningAuthority: authority)
    }
}

/// The part of TOML discport's config needs: `[table]` headers, `key =
/// "basic string"` / `'literal'` / bare numbers and booleans as text, `#` comments.
public enum SimpleTOML {
    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "config.toml line \(line): \(message)" }
    }

    /// Values by dotted key (`institution.name`).
    public static func parse(_ text: String) throws(ParseError) -> [String: String] {
        var table = ""
        var values: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw ParseError(line: number + 1, message: "a table header must end with ]") }
                table = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw ParseError(line: number + 1, message: "expected key = value") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") {
                var out = ""
                var escaped = false
                var closed = false
                for ch in value.dropFirst() {
                    if escaped {
                        switch ch { case "n": out.append("\n"); case "t": out.append("\t"); default: out.append(ch) }
                        escaped = false
                    } else if ch == "\\" { escaped = true }
                    else if ch == "\"" { closed = true; break }
                    else { out.append(ch) }
                }
                guard closed else { throw ParseError(line: number + 1, message: "unterminated string") }
                value = out
            } else if value.hasPrefix("'") {
                guard let end = value.dropFirst().firstIndex(of: "'") else { throw ParseError(line: number + 1, message: "unterminated string") }
                value = String(value[value.index(after: value.startIndex)..<end])
            } else if let hash = value.firstIndex(of: "#") {
                value = value[..<hash].trimmingCharacters(in: .whitespaces)
            }
            values[table.isEmpty ? key : table + "." + key] = value
        }
        return values
    }
}

/// What to export and how.
public struct ExportRequest: Sendable {
    public enum Selection: Sendable, Hashable {
        case patient(String)
        case studies([String])
        case series([String])
        /// Everything on the source medium (``ExportRequest/medium`` only).
        case all
    }
    public enum Format: String, Sendable, Hashable, Codable, CaseIterable {
        case dir, iso, zip
    }

    public var selection: Selection
    public var format: Format
    /// The folder, ISO image or zip to create (must not exist).
    public var output: String
    /// nil: the medium's default profile.
    public var profile: MediaProfile?
    /// nil: CD for `dir`/`iso`, zip for `zip`.
    public var media: MediaKind?
    /// `ja` or `en`.
    public var language: String
    /// Templates overriding the built-in ones, by file name.
    public var templatesDirectory: String?
    /// A viewer copied to `VIEWER/`, outside the DICOM tree, never autorun.
    public var viewerDirectory: String?
    /// INDEX.HTM and IHE_PDI/ (IHE PDI Web Content option).
    public var webContent: Bool
    public var allowMultiPatient: Bool
    public var invent: Bool
    public var institution: InstitutionInfo
    /// nil: `DISCPORT` + the date and time.
    public var fileSetID: String?
    /// IHE XDM: `IHE_XDM/SUBSET01/METADATA.XML` describing every instance.
    public var xdm: Bool
    /// Encrypts the zip (AES-256); only for `zip`.
    public var passphrase: Passphrase?
    /// Re-master this folder, ISO, zip, tar or drive (read with the scan
    /// engine) instead of exporting from the store; nil: the store.
    public var medium: String?
    /// Bytes one medium holds, overriding the medium's capacity (nil: the
    /// medium's; usb and zip have none).
    public var capacity: Int64?
    /// Several volumes when the export exceeds one medium, each a complete
    /// file-set (``VolumePlanner``); false: refused.
    public var split: Bool
    /// After the verified ISO is named, burn it on this optical drive.
    public var burnDevice: String?

    public init(selection: Selection, format: Format, output: String, profile: MediaProfile? = nil, media: MediaKind? = nil,
                language: String = "ja", templatesDirectory: String? = nil, viewerDirectory: String? = nil, webContent: Bool = true,
                allowMultiPatient: Bool = false, invent: Bool = false, institution: InstitutionInfo = InstitutionInfo(),
                fileSetID: String? = nil, xdm: Bool = false, passphrase: Passphrase? = nil, medium: String? = nil,
                capacity: Int64? = nil, split: Bool = false, burnDevice: String? = nil) {
        self.selection = selection; self.format = format; self.output = output; self.profile = profile; self.media = media
        self.language = language; self.templatesDirectory = templatesDirectory; self.viewerDirectory = viewerDirectory
        self.webContent = webContent; self.allowMultiPatient = allowMultiPatient; self.invent = invent
        self.institution = institution; self.fileSetID = fileSetID; self.xdm = xdm; self.passphrase = passphrase
        self.medium = medium; self.capacity = capacity; self.split = split; self.burnDevice = burnDevice
    }

    /// The medium written for.
    public var resolvedMedia: MediaKind { media ?? (format == .zip ? .zip : .cd) }
    public var resolvedProfile: MediaProfile { profile ?? resolvedMedia.defaultProfile }
    /// Bytes one volume holds; nil: no limit.
    public var resolvedCapacity: Int64? { capacity ?? resolvedMedia.capacity }
    /// How `--format iso|zip` is packed: a BD image is UDF (PS3.12 Annex X
    /// knows no ISO 9660 on BD), any other ISO 9660 + Joliet; nil for a folder.
    func imageFormat(volumeID: String) -> MediumImageWriter.Format? {
        switch format {
        case .iso: return resolvedMedia == .bd ? .udf(volumeID: volumeID) : .iso(volumeID: volumeID)
        case .zip: return .zip
        case .dir: return nil
        }
    }

    /// `700M`, `4.7G`, `25GB`, `650000000`: bytes, decimal units (as media
    /// are sold; `K`, `M`, `G`, `T`, an optional `B`); nil when malformed.
    public static func parseCapacity(_ text: String) -> Int64? {
        var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
        if digits.hasSuffix("B") { digits.removeLast() }
        var scale: Double = 1
        if let last = digits.last, let power = ["K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12][String(last)] {
            scale = power
            digits.removeLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(digits), value > 0 else { return nil }
        let bytes = (value * scale).rounded(.down)
        return bytes >= 1 && bytes < 9e18 ? Int64(bytes) : nil
    }
}

/// What `export --from VALUE` names: a medium to re-master or a PACS node
/// to retrieve from.
public enum ExportOrigin: Sendable, Hashable {
    case medium(String)
    case node(String)

    /// The rule: a value with a `/` is a path (`./NAME` forces one); a
    /// bare name is a configured node when one has that name, else a file
    /// or folder of the current folder; a bare name that is both is
    /// refused as ambiguous, and one that is neither too.
    public static func resolve(_ value: String, store: InstanceStore?) throws -> ExportOrigin {
        let exists = FileManager.default.fileExists(atPath: value)
        if value.contains("/") {
            guard exists else { throw ExportError("--from \(value): no such file, folder or drive") }
            return .medium(value)
        }
        let isNode = try store?.remoteNode(named: value) != nil
        switch (isNode, exists) {
        case (true, true):
            throw ExportError("--from \(value) is ambiguous: it is both a configured node and a file or folder here; write ./\(value) to re-master the file or folder, or run discport from another folder to retrieve from the node")
        case (true, false): return .node(value)
        case (false, true): return .medium(value)
        case (false, false):
            let known = (try? store?.remoteNodes().map(\.name)) ?? []
            throw ExportError("--from \(value) is neither a file, folder or drive nor a configured node" + (known.isEmpty ? "" : " (nodes: \(known.joined(separator: ", ")))"))
        }
    }
}

/// What the export reports while it works (for the CLI; no UI here).
public enum ExportEvent: Sendable {
    case selected(patients: Int, studies: Int, series: Int, instances: Int, bytes: Int64)
    case warning(String)
    case writing(files: Int)
    /// Packing into one file: "ISO 9660 image", "UDF image" (BD) or "zip".
    case packing(what: String)
    case verifying(path: String)
    /// The source medium is being scanned (`--from PATH`).
    case scanning(path: String)
    /// The export is cut into volumes (`--split`).
    case volumes(count: Int, capacity: Int64)
    /// Volume `number` of `count` is being written.
    case volume(number: Int, count: Int, instances: Int)
    /// The verified ISO is being burnt.
    case burning(device: String, path: String)
}

/// One medium of an export (one unless `--split` cut it).
public struct ExportVolume: Sendable, Codable {
    public var output: String
    public var label: String
    public var fileSetID: String
    public var studyInstanceUIDs: [String]
    public var series: Int
    public var instances: Int
    public var fileSetBytes: Int
    public var outputBytes: Int64
    /// What ``VolumePlanner`` expected the medium to take.
    public var estimatedBytes: Int64
}

/// The outcome of an export, printed by `discport export` (and `--json`).
public struct ExportSummary: Sendable, Codable {
    public var output: String
    public var label: String
    public var format: String
    public var media: String
    public var profile: String
    public var fileSetID: String
    public var patientIDs: [String]
    public var studyInstanceUIDs: [String]
    public var series: Int
    public var instances: Int
    /// Bytes of the file-set (DICOM files and DICOMDIR).
    public var fileSetBytes: Int
    /// Size of the output (the image, or the folder's files).
    public var outputBytes: Int64
    /// Files not written as byte copies, with why.
    public var rewritten: [String: String]
    public var inventions: [InventedKey]
    public var verified: Bool
    /// DocumentEntries of the IHE XDM metadata (nil: no `--xdm`).
    public var xdmDocuments: Int?
    /// The zip is AES-256 encrypted.
    public var encrypted: Bool
    public var verifyWarnings: Int
    public var warnings: [String]
    public var seconds: Double
    /// Every medium written, in order (``output``, ``label`` and
    /// ``fileSetID`` above are the first one's).
    public var volumes: [ExportVolume]
    /// The source medium re-mastered (`--from PATH`); nil: the store.
    public var sourceMedium: String?
    /// Files not written, with why: damaged DICOM files of a source medium
    /// (loose and viewer files are never part of a file-set), and instances
    /// of a SOP class the profile does not take (``FileSetPlan/leftOut``).
    public var leftOff: [String]
    /// The drive the ISO was burnt on.
    public var burntOn: String?
}

/// Why an export did not happen.
public struct ExportError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Writes referral media from the store (or re-masters another medium):
/// the doctor's main job.
///
/// Selects the instances, refuses what cannot go on the medium (several
/// patients without `allowMultiPatient`, more than the capacity without
/// `split`) before anything is written, writes each volume's file-set with
/// its PDI content into a staging folder next to the output, packs it
/// (ISO, zip) or keeps it (folder), verifies the result with the scan
/// engine (every instance's UID and SHA-256 against what was written from
/// the source, and `discport verify`'s conformance checks), and only when
/// every volume passed gives them their names (rename): there is never a
/// half-written output. The export is recorded in the audit log.
public final class ExportJob: Sendable {
    public let store: InstanceStore
    public let request: ExportRequest
    public static let applicationName = "discport"
    public static let applicationVersion = "0.1"

    public init(store: InstanceStore, request: ExportRequest) {
        self.store = store
        self.request = request
    }

    /// What goes on the media: from the store's catalog or a scanned medium.
    /// Who its patients are is the plan's (``FileSetPlan/patients``: one
    /// PATIENT record per ``PatientIdentity``), never told here.
    struct Selected {
        struct Study { var studyInstanceUID: String; var studyDate: String?; var studyDescription: String?; var accessionNumber: String? }
        struct Series {
            var seriesInstanceUID: String; var modality: String?; var seriesNumber: Int?; var seriesDescription: String?
            var instanceCount: Int
        }
        struct Instance {
            var sopInstanceUID: String; var seriesInstanceUID: String; var instanceNumber: Int?
            var size: Int64; var path: String
            /// The source's SHA-256 when known (the store's, or hashed while extracted).
            var sha256: String?
        }
        var studies: [Study]
        var series: [String: [Series]]
        var instances: [Instance]

        /// The part holding only the instances read from `paths` (one volume).
        func restricted(to paths: Set<String>) -> Selected {
            let kept = instances.filter { paths.contains($0.path) }
            let counts = Dictionary(grouping: kept, by: \.seriesInstanceUID).mapValues(\.count)
            var series: [String: [Series]] = [:]
            for (study, list) in self.series {
                let present = list.compactMap { s -> Series? in
                    guard let n = counts[s.seriesInstanceUID] else { return nil }
                    var copy = s
                    copy.instanceCount = n
                    return copy
                }
                if !present.isEmpty { series[study] = present }
            }
            return Selected(studies: studies.filter { series[$0.studyInstanceUID] != nil }, series: series, instances: kept)
        }
    }

    func select() throws -> Selected {
        var studies: [StudyRecord] = []
        var seriesFilter: Set<String>?
        switch request.selection {
        case .patient(let id):
            studies = try store.studies(patientID: id)
            if studies.isEmpty { throw ExportError("no study of patient \(id) in the store") }
        case .studies(let uids):
            for uid in uids {
                guard let study = try store.lookup(uid).studies.first else { throw ExportError("study \(uid) is not in the store") }
                studies.append(study)
            }
        case .series(let uids):
            var wanted: Set<String> = []
            for uid in uids {
                guard let series = try store.lookup(uid).series.first else { throw ExportError("series \(uid) is not in the store") }
                wanted.insert(series.seriesInstanceUID)
                if !studies.contains(where: { $0.studyInstanceUID == series.studyInstanceUID }),
                   let study = try store.lookup(series.studyInstanceUID).studies.first {
                    studies.append(study)
                }
            }
            seriesFilter = wanted
        case .all:
            throw ExportError("choose what to export from the store: --patient, --study or --series")
        }
        var seriesByStudy: [String: [Selected.Series]] = [:]
        var instances: [Selected.Instance] = []
        for study in studies {
            let series = try store.series(studyInstanceUID: study.studyInstanceUID)
                .filter { seriesFilter?.contains($0.seriesInstanceUID) ?? true }
            seriesByStudy[study.studyInstanceUID] = series.map {
                Selected.Series(seriesInstanceUID: $0.seriesInstanceUID, modality: $0.modality, seriesNumber: $0.seriesNumber,
                                seriesDescription: $0.seriesDescription, instanceCount: $0.instanceCount)
            }
            for s in series {
                instances += try store.instances(seriesInstanceUID: s.seriesInstanceUID).map {
                    Selected.Instance(sopInstanceUID: $0.sopInstanceUID, seriesInstanceUID: $0.seriesInstanceUID,
                                      instanceNumber: $0.instanceNumber, size: $0.size, path: $0.path, sha256: $0.sha256)
                }
            }
        }
        return Selected(studies: studies.map {
            Selected.Study(studyInstanceUID: $0.studyInstanceUID, studyDate: $0.studyDate, studyDescription: $0.studyDescription,
                           accessionNumber: $0.accessionNumber)
        }, series: seriesByStudy, instances: instances)
    }

    /// `--from PATH`: every DICOM instance the scan engine finds on the
    /// medium (the selection, when given, filters it). Files in a folder
    /// are read in place; those of an image or archive are copied out to
    /// `extractTo` (hashed as they come, checked again when written).
    /// Damaged DICOM files are left off, each named in `leftOff`.
    func selectFromMedium(_ path: String, extractTo folder: String, events: (ExportEvent) -> Void, warn: (String) -> Void,
                          leftOff: inout [String]) throws -> Selected {
        events(.scanning(path: path))
        let medium: any Medium
        do {
            medium = try openMedium(path)
        } catch {
            throw ExportError("cannot read \(path): \(error.message)")
        }
        let scan = MediumScanner().scan(medium)
        if !scan.complete {
            let why = scan.problems.first { $0.code == .mediumError }?.message ?? "the medium could not be read to its end"
            throw ExportError("\(path): \(why); nothing was written (copy what is readable to a folder and re-master that)")
        }
        for problem in scan.problems where [ProblemCode.damaged, .truncated, .unreadableFile].contains(problem.code) {
            leftOff.append("\(problem.path ?? path): \(problem.message)")
        }
        for problem in scan.problems where problem.code == .duplicateInstance {
            warn("\(problem.path ?? path): \(problem.message) (one copy written)")
        }
        var studies: [Selected.Study] = []
        var seriesByStudy: [String: [Selected.Series]] = [:]
        var instances: [Selected.Instance] = []
        for patient in scan.patients {
            let patientID = patient.patientID ?? ""
            if case .patient(let id) = request.selection, id != patientID { continue }
            for study in patient.studies {
                guard let studyUID = study.studyInstanceUID else { continue }
                if case .studies(let uids) = request.selection, !uids.contains(studyUID) { continue }
                var seriesList: [Selected.Series] = []
                for series in study.series {
                    guard let seriesUID = series.seriesInstanceUID else { continue }
                    if case .series(let uids) = request.selection, !uids.contains(seriesUID) { continue }
                    for instance in series.instances {
                        instances.append(Selected.Instance(
                            sopInstanceUID: instance.sopInstanceUID ?? "", seriesInstanceUID: seriesUID,
                            instanceNumber: instance.instanceNumber, size: Int64(instance.size), path: instance.path, sha256: nil))
                    }
                    seriesList.append(Selected.Series(seriesInstanceUID: seriesUID, modality: series.modality, seriesNumber: series.seriesNumber,
                                                      seriesDescription: series.seriesDescription, instanceCount: series.instances.count))
                }
                guard !seriesList.isEmpty else { continue }
                seriesByStudy[studyUID, default: []] += seriesList
                if !studies.contains(where: { $0.studyInstanceUID == studyUID }) {
                    studies.append(Selected.Study(studyInstanceUID: studyUID, studyDate: study.studyDate,
                                                  studyDescription: study.studyDescription, accessionNumber: study.accessionNumber))
                }
            }
        }
        guard !instances.isEmpty else {
            if !leftOff.isEmpty {
                throw ExportError("no readable DICOM instance on \(path): nothing to re-master; \(leftOff.count) damaged DICOM file(s) left off:\n"
                                  + leftOff.prefix(20).map { "  " + $0 }.joined(separator: "\n") + (leftOff.count > 20 ? "\n  …" : ""))
            }
            throw ExportError(scan.totals.instances == 0 ? "no DICOM instance on \(path) (\(scan.totals.files) files, \(scan.totals.loose) loose images): nothing to re-master"
                              : "no instance on \(path) matches the selection (\(scan.totals.instances) instances there; `discport scan \(path)` lists them)")
        }

        // Folders are read in place; images and archives copied out once,
        // hashed (the writer checks the hash again as it copies).
        let local: [String: LocalFile]
        do {
            local = try medium.localFiles(Set(instances.map(\.path)), copyingInto: folder)
        } catch {
            throw ExportError("cannot read \(path) again to copy its instances out: \(error); nothing was written")
        }
        for index in instances.indices {
            guard let copy = local[instances[index].path] else {
                throw ExportError("\(path): \(instances[index].path) was scanned but could not be read again; nothing was written")
            }
            instances[index].path = copy.path
            instances[index].sha256 = copy.sha256
        }
        return Selected(studies: studies, series: seriesByStudy, instances: instances)
    }

    /// One volume written, packed and verified in its staging place.
    struct StagedVolume {
        var packed: String
        var output: String
        var fileSetID: String
        var selected: Selected
        var result: FileSetResult
        var context: [String: Any]
        var estimatedBytes: Int64
        var verifyWarnings: Int
        var xdmDocuments: Int?
    }

    /// Runs the export. Throws ``ExportError`` (or a ``FileSetError``) when
    /// nothing could be written; the outputs then do not exist. A failed
    /// `--burn` throws after the verified ISO was named: the error says
    /// where it is.
    public func run(events: @escaping @Sendable (ExportEvent) -> Void = { _ in }) throws -> ExportSummary {
        let clock = ContinuousClock.now
        let profile = request.resolvedProfile
        let media = request.resolvedMedia
        var warnings: [String] = []
        func warn(_ text: String) { warnings.append(text); events(.warning(text)) }

        let output = (request.output as NSString).standardizingPath
        guard !FileManager.default.fileExists(atPath: output) else {
            throw ExportError("\(output) exists already: choose a new name (discport never overwrites an output)")
        }
        guard ["ja", "en"].contains(request.language) else { throw ExportError("--lang must be ja or en") }
        if request.passphrase != nil, request.format != .zip {
            throw ExportError("--encrypt needs --format zip: a folder or an ISO image cannot be encrypted")
        }
        if request.xdm, !request.webContent {
            throw ExportError("--xdm needs INDEX.HTM (IHE XDM media carry one at the root): leave out --no-web")
        }
        if let viewer = request.viewerDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: viewer, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ExportError("the viewer folder \(viewer) does not exist")
            }
        }
        if request.burnDevice != nil, request.format != .iso {
            throw ExportError("--burn writes an ISO image on a disc: use it with --format iso")
        }
        let baseFileSetID = request.fileSetID ?? ExportJob.defaultFileSetID()
        guard FileSetWriter.isValidFileSetID(baseFileSetID) else {
            throw ExportError("File-set ID \"\(baseFileSetID)\" is not 1–16 characters of A–Z, 0–9 and _")
        }

        // Staging beside the output: the same file system, so the final
        // renames are atomic.
        let parent = (output as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        let base = (output as NSString).lastPathComponent
        for stale in ExportJob.removeStaleStaging(in: folder, output: base) {
            warn("removed \(stale), left by an export of the same name that was killed")
        }
        let stagingBase = folder + "/" + ExportJob.stagingPrefix(base) + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var cleanup: [String] = [stagingBase + ".source"]
        defer { for path in cleanup { try? FileManager.default.removeItem(atPath: path) } }

        var leftOff: [String] = []
        let selected: Selected
        if let medium = request.medium {
            selected = try selectFromMedium(medium, extractTo: stagingBase + ".source", events: events, warn: warn, leftOff: &leftOff)
            for line in leftOff { warn("not re-mastered: \(line)") }
        } else {
            selected = try select()
        }
        guard !selected.instances.isEmpty else { throw ExportError("nothing selected: no instance in the store matches") }

        // The plan (headers only, nothing written), then the volumes.
        var writer = FileSetWriter(profile: profile, fileSetID: baseFileSetID, invent: request.invent)
        // Compressed files a profile does not allow (STD-GEN-CD) are
        // decompressed losslessly; a lossy source stays marked lossy.
        writer.decompressor = { file in try Transcoder.transcode(file, to: .explicitLE) }
        let plan = try writer.plan(selected.instances.map { FileSetSource(path: $0.path, expectedSHA256: $0.sha256) })
        for line in plan.leftOut { warn("left out: \(line)") }
        leftOff += plan.leftOut

        // One patient per medium, told apart as the PATIENT records are
        // (``PatientIdentity``: Patient ID with its issuer, and more).
        let patients = plan.patients
        if patients.count > 1 {
            let list = patients.prefix(5).map { "  " + $0.description }.joined(separator: "\n") + (patients.count > 5 ? "\n  …" : "")
            guard request.allowMultiPatient else {
                throw ExportError("the selection holds \(patients.count) patients; one patient per medium, nothing was written:\n\(list)\nexport each patient on its own medium (--study or --series selects part of a Patient ID), or add --allow-multi-patient to put them on one")
            }
            warn("\(patients.count) patients on one medium (--allow-multi-patient), each under its own PATIENT record: the receiving hospital must reconcile each:\n\(list)")
        }
        let patientIDs = patients.map(\.identity.patientID)
        let bytes = selected.instances.reduce(Int64(0)) { $0 + $1.size }
        let seriesCount = selected.series.values.reduce(0) { $0 + $1.count }
        events(.selected(patients: patients.count, studies: selected.studies.count, series: seriesCount,
                         instances: selected.instances.count, bytes: bytes))
        let overhead = VolumePlanner.Overhead.referralMedium(extra: request.viewerDirectory.map(ExportJob.folderSize) ?? 0, xdm: request.xdm,
                                                             udf: request.imageFormat(volumeID: "")?.isUDF ?? false)
        let items = plan.items
        var volumes = [VolumePlanner.Volume(items: Array(items.indices), bytes: VolumePlanner.estimate(items, overhead: overhead))]
        if let capacity = request.resolvedCapacity, volumes[0].bytes > capacity {
            guard request.split else {
                let medium = request.capacity != nil ? "--capacity" : "a \(media.rawValue)"
                throw ExportError("the export needs about \(VolumePlanError.size(volumes[0].bytes)) (\(plan.count) instances, \(VolumePlanError.size(Int64(items.reduce(0) { $0 + $1.bytes }))) of files plus DICOMDIR, web pages and ISO structures), more than \(medium) holds (\(VolumePlanError.size(capacity))); nothing was written: add --split to write several volumes, or choose a larger medium (--media dvd, dvd-dl, bd, usb)")
            }
            switch Result(catching: { () throws(VolumePlanError) in try VolumePlanner.plan(items, capacity: capacity, overhead: overhead) }) {
            case .success(let planned): volumes = planned
            case .failure(let error): throw ExportError("cannot split the export: \(error.message); nothing was written")
            }
            events(.volumes(count: volumes.count, capacity: capacity))
        }
        if volumes.count > 1, let device = request.burnDevice {
            throw ExportError("--burn writes one disc, and this export needs \(volumes.count) volumes; nothing was written: run it without --burn, then burn each ISO in turn (xorriso -as cdrecord -v dev=\(device) -eject VOLUME.iso)")
        }
        let outputs = volumes.count == 1 ? [output] : volumes.indices.map { ExportJob.volumePath(output, number: $0 + 1) }
        for path in outputs where FileManager.default.fileExists(atPath: path) {
            throw ExportError("\(path) exists already: choose a new name (discport never overwrites an output)")
        }
        // Room for it all before anything is written: every volume's
        // file-set, and beside it its image while that is packed.
        try ExportJob.checkSpace(needed: volumes.reduce(0) { $0 + $1.bytes } * (request.format == .dir ? 1 : 2),
                                 available: ExportJob.availableBytes(folder), folder: folder, format: request.format)
        let templates = try TemplateSet(language: request.language, directory: request.templatesDirectory)

        // Every volume written and verified before any is named.
        var staged: [StagedVolume] = []
        let paths = plan.sourcePaths
        for (number, volume) in volumes.enumerated() {
            let fileSetID = volumes.count == 1 ? baseFileSetID : ExportJob.volumeFileSetID(baseFileSetID, number: number + 1)
            let staging = stagingBase + (volumes.count == 1 ? "" : "-\(number + 1)")
            let packed = request.format == .dir ? staging : staging + ".image"
            cleanup += [staging, packed]
            if volumes.count > 1 { events(.volume(number: number + 1, count: volumes.count, instances: volume.items.count)) }
            let part = volumes.count == 1 ? selected : selected.restricted(to: Set(volume.items.map { paths[$0] }))
            var volumeWriter = writer
            volumeWriter.fileSetID = fileSetID
            let volumeInfo: (number: Int, count: Int)? = volumes.count == 1 ? nil : (number + 1, volumes.count)
            var stage = try writeVolume(part, plan: volumes.count == 1 ? plan : plan.subset(volume.items), writer: volumeWriter,
                                        staging: staging, packed: packed, templates: templates, volume: volumeInfo,
                                        events: events, warn: warn)
            stage.output = outputs[number]
            stage.estimatedBytes = volume.bytes
            staged.append(stage)
        }

        // Name them (atomic renames), write the labels beside them, audit.
        var written: [ExportVolume] = []
        for stage in staged {
            do {
                try AtomicFile.renameDurably(stage.packed, to: stage.output)
            } catch {
                throw ExportError("cannot give \(stage.packed) its name \(stage.output): \(error.message)")
            }
            let labelPath = ExportJob.labelPath(for: stage.output)
            try? FileManager.default.removeItem(atPath: labelPath)
            try write(templates.render("LABEL", "svg", stage.context), to: labelPath)
            let outputBytes = request.format == .dir ? ExportJob.folderSize(stage.output)
                : Int64((try? FileManager.default.attributesOfItem(atPath: stage.output)[.size] as? NSNumber)??.int64Value ?? 0)
            written.append(ExportVolume(
                output: stage.output, label: labelPath, fileSetID: stage.fileSetID,
                studyInstanceUIDs: stage.selected.studies.map(\.studyInstanceUID),
                series: stage.selected.series.values.reduce(0) { $0 + $1.count }, instances: stage.result.entries.count,
                fileSetBytes: stage.result.totalSize, outputBytes: outputBytes, estimatedBytes: stage.estimatedBytes))
            try store.audit(.export, detail: [
                "output": stage.output, "format": request.format.rawValue, "media": media.rawValue, "profile": profile.name,
                "fileSetID": stage.fileSetID, "patientIDs": patientIDs.joined(separator: ","),
                "studies": stage.selected.studies.map(\.studyInstanceUID).joined(separator: ","),
                "instances": String(stage.result.entries.count),
                "rewritten": String(stage.result.entries.filter { $0.rewritten != nil }.count),
                "invented": String(stage.result.inventions.count), "verified": "true", "label": labelPath,
                "source": request.medium ?? "store", "volume": "\(written.count)/\(staged.count)",
                "xdm": request.xdm ? "true" : "false", "encryption": request.passphrase == nil ? "none" : "aes256",
            ])
        }

        var burntOn: String?
        if let device = request.burnDevice {
            events(.burning(device: device, path: output))
            do {
                try DiscBurner.burn(image: output, device: device)
            } catch {
                throw ExportError("\(error.message)\nThe verified ISO is kept at \(output); burn it by hand when a drive is ready: xorriso -as cdrecord -v dev=/dev/sr0 -eject \(output)")
            }
            try store.audit(.export, detail: ["output": output, "burntOn": device])
            burntOn = device
        }

        let results = staged.map(\.result)
        var rewritten: [String: String] = [:]
        for entry in results.flatMap(\.entries) { if let reason = entry.rewritten { rewritten[entry.sopInstanceUID] = reason } }
        return ExportSummary(
            output: written[0].output, label: written[0].label, format: request.format.rawValue, media: media.rawValue,
            profile: profile.name, fileSetID: written[0].fileSetID, patientIDs: patientIDs,
            studyInstanceUIDs: selected.studies.map(\.studyInstanceUID), series: seriesCount,
            instances: results.reduce(0) { $0 + $1.entries.count }, fileSetBytes: results.reduce(0) { $0 + $1.totalSize },
            outputBytes: written.reduce(0) { $0 + $1.outputBytes }, rewritten: rewritten,
            inventions: results.flatMap(\.inventions), verified: true,
            xdmDocuments: request.xdm ? staged.reduce(0) { $0 + ($1.xdmDocuments ?? 0) } : nil, encrypted: request.passphrase != nil,
            verifyWarnings: staged.reduce(0) { $0 + $1.verifyWarnings }, warnings: warnings,
            seconds: (ContinuousClock.now - clock) / .seconds(1), volumes: written, sourceMedium: request.medium,
            leftOff: leftOff, burntOn: burntOn)
    }

    /// Writes one volume's file-set and PDI content into `staging`, packs
    /// it into `packed` (ISO, zip) and verifies it; nothing is named yet.
    func writeVolume(_ selected: Selected, plan: FileSetPlan, writer: FileSetWriter, staging: String, packed: String,
                     templates: TemplateSet, volume: (number: Int, count: Int)?,
                     events: (ExportEvent) -> Void, warn: (String) -> Void) throws -> StagedVolume {
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw ExportError("cannot create \(staging): \(error.localizedDescription)")
        }

        // 1. The file-set.
        events(.writing(files: plan.count))
        let result = try writer.write(plan, to: staging)
        for invention in result.inventions {
            warn("invented \(invention.keyword) = \(invention.value) in the \(invention.recordType) record of \(invention.sopInstanceUID) (--invent)")
        }

        // 2. README.TXT, INDEX.HTM + IHE_PDI/, the viewer.
        let thumbnails = request.webContent ? writeThumbnails(selected, to: staging + "/IHE_PDI/THUMBS") : [:]
        var context = makeContext(selected, plan: plan, result: result, web: request.webContent, thumbnails: thumbnails)
        if let volume { context["volume"] = ["number": volume.number, "count": volume.count] }
        try write(templates.render("README", "txt", context), to: staging + "/README.TXT", windowsText: true)
        if request.webContent {
            try write(templates.render("INDEX", "htm", context), to: staging + "/INDEX.HTM")
            try FileManager.default.createDirectory(atPath: staging + "/IHE_PDI", withIntermediateDirectories: true)
            for study in (context["studies"] as? [[String: Any]]) ?? [] {
                var studyContext = context
                studyContext["study"] = study
                studyContext["patient"] = study["patient"]   // the study's own, on a medium of several
                try write(templates.render("STUDY", "htm", studyContext), to: staging + "/IHE_PDI/" + (study["page"] as! String))
            }
        }
        if let viewer = request.viewerDirectory {
            do {
                try FileManager.default.copyItem(atPath: viewer, toPath: staging + "/VIEWER")
            } catch {
                throw ExportError("cannot copy the viewer: \(error.localizedDescription)")
            }
            if ExportJob.containsAutorun(staging + "/VIEWER") {
                throw ExportError("the viewer folder holds an autorun.inf: referral media never start anything by themselves (IHE PDI)")
            }
        }

        // IHE XDM metadata, once every file it describes is in place: one
        // submission set (SUBSET01, SUBSET02, …) per patient.
        var xdmDocuments: Int?
        if request.xdm {
            var count = 0
            for (index, submission) in makeSubmissions(selected, plan: plan, result: result).enumerated() {
                count += try XDMWriter.write(submission, subset: index + 1, root: staging).count
            }
            xdmDocuments = count
        }

        // 3. Pack.
        switch request.format {
        case .dir:
            break
        case .iso, .zip:
            guard let image = request.imageFormat(volumeID: writer.fileSetID) else { break }
            events(.packing(what: image.isUDF ? "UDF image" : request.format == .iso ? "ISO 9660 image" : "zip"))
            try MediumImageWriter.write(folder: staging, to: packed, format: image, passphrase: request.passphrase)
        }

        // 4. Verify what was written, before it gets its name.
        events(.verifying(path: packed))
        let (report, scan, hashes) = MediumVerifier(profile: writer.profile, passphrase: request.passphrase).verify(path: packed, hashing: true)
        var failures: [String] = report.problems.filter { $0.severity == .error }.map { "\($0.code): \($0.path ?? "") \($0.message)" }
        let scanned = Dictionary(scan.patients.flatMap { $0.studies.flatMap { $0.series.flatMap(\.instances) } }
            .map { (FileIDResolver.normalize($0.path), $0) }, uniquingKeysWith: { a, _ in a })
        let hashesByPath = Dictionary(hashes.map { (FileIDResolver.normalize($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        for entry in result.entries {
            let key = FileIDResolver.normalize(entry.path)
            guard let instance = scanned[key] else { failures.append("\(entry.path): not found on the written medium"); continue }
            if instance.sopInstanceUID != entry.sopInstanceUID {
                failures.append("\(entry.path): SOP Instance UID \(instance.sopInstanceUID ?? "none") on the medium, \(entry.sopInstanceUID) written")
            }
            if hashesByPath[key] != entry.sha256 {
                failures.append("\(entry.path): SHA-256 on the medium differs from what was written from \(entry.sourcePath)")
            }
        }
        if scanned.count != result.entries.count {
            failures.append("\(scanned.count) DICOM instances on the medium, \(result.entries.count) written")
        }
        guard failures.isEmpty else {
            throw ExportError("the written medium\(volume.map { " (volume \($0.number) of \($0.count))" } ?? "") failed verification, nothing was kept:\n" + failures.prefix(20).map { "  " + $0 }.joined(separator: "\n"))
        }
        for problem in report.problems where problem.severity == .warning { warn("verify: \(problem.message)") }
        return StagedVolume(packed: packed, output: "", fileSetID: writer.fileSetID, selected: selected, result: result,
                            context: context, estimatedBytes: 0, verifyWarnings: report.warnings, xdmDocuments: xdmDocuments)
    }

    // MARK: - Helpers

    /// `DISCPORT` and the date (`DP20250307_1530`): 15 characters.
    public static func defaultFileSetID(date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd_HHmm"
        return "DP" + formatter.string(from: date)
    }

    /// Whether process `pid` exists and is not a zombie (a killed process
    /// whose parent has not reaped it still answers `kill(pid, 0)`).
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return !stat[close...].hasPrefix(") Z")
    }

    /// The hidden name an export stages its output under, beside it,
    /// before the process ID: `.NAME.discport-`.
    static func stagingPrefix(_ output: String) -> String { ".\(output).discport-" }

    /// Removes what an export of `output` into `folder` left when it was
    /// killed (its process is gone): on a USB stick that would be a hidden
    /// half file-set beside the referral. Returns the paths removed.
    static func removeStaleStaging(in folder: String, output: String) -> [String] {
        let prefix = stagingPrefix(output)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names.sorted() where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }), pid > 0, pid != getpid(),
                  !isRunning(pid) else { continue }
            let path = folder + "/" + name
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// Bytes that can still be written in `folder` (statvfs: what an
    /// unprivileged user may use); nil when the file system does not say.
    static func availableBytes(_ folder: String) -> Int64? {
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Refuses an export that does not fit where it is written, before a
    /// byte is written (rather than a disk filling up half way).
    static func checkSpace(needed: Int64, available: Int64?, folder: String, format: ExportRequest.Format) throws {
        guard let available, needed > available else { return }
        let what = format == .dir ? "" : " (the file-set, and its \(format == .iso ? "ISO image" : "zip") while it is packed)"
        throw ExportError("not enough space in \(folder): the export needs about \(VolumePlanError.size(needed))\(what), "
            + "\(VolumePlanError.size(available)) free; nothing was written: free space there or write it elsewhere (--out)")
    }

    /// Volume `number` of a split export: `referral.iso` → `referral-2.iso`,
    /// a folder `out` → `out-2`.
    public static func volumePath(_ output: String, number: Int) -> String {
        let ext = (output as NSString).pathExtension
        guard ["iso", "zip"].contains(ext.lowercased()) else { return output + "-\(number)" }
        return (output as NSString).deletingPathExtension + "-\(number)." + ext
    }

    /// The File-set ID (and ISO volume ID) of volume `number`: `_` and the
    /// number appended, the base shortened as needed to keep 16 characters
    /// (`DP20250307_1530` → `DP20250307_153_2`).
    public static func volumeFileSetID(_ base: String, number: Int) -> String {
        let suffix = "_\(number)"
        return String(base.prefix(16 - suffix.count)) + suffix
    }

    /// `referral.iso` → `referral.label.svg`; a folder `out` → `out.label.svg`.
    public static func labelPath(for output: String) -> String {
        let ext = (output as NSString).pathExtension.lowercased()
        let stem = ["iso", "zip"].contains(ext) ? (output as NSString).deletingPathExtension : output
        return stem + ".label.svg"
    }

    static func folderSize(_ path: String) -> Int64 {
        var total: Int64 = 0
        for sub in (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? [] {
            if let size = (try? FileManager.default.attributesOfItem(atPath: path + "/" + sub))?[.size] as? NSNumber,
               (try? FileManager.default.attributesOfItem(atPath: path + "/" + sub))?[.type] as? FileAttributeType == .typeRegular {
                total += size.int64Value
            }
        }
        return total
    }

    static func containsAutorun(_ path: String) -> Bool {
        ((try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []).contains {
            ($0 as NSString).lastPathComponent.lowercased() == "autorun.inf"
        }
    }

    private func write(_ text: String, to path: String, windowsText: Bool = false) throws {
        var data = Data()
        var body = text
        if windowsText {
            body = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
            if request.language == "ja" { data.append(contentsOf: [0xEF, 0xBB, 0xBF]) }   // BOM: Notepad reads UTF-8
        }
        data.append(Data(body.utf8))
        do {
            try AtomicFile.write(data, to: path)
        } catch {
            throw ExportError("cannot write \(path): \(error.message)")
        }
    }

    /// One JPEG thumbnail per series for the web pages (IHE PDI): its first
    /// image, windowed as a viewer would show it (the codecs' renderer).
    /// Series without a renderable image (documents, SR) get none. Returns
    /// the file names by Series Instance UID.
    func writeThumbnails(_ selected: Selected, to folder: String) -> [String: String] {
        var names: [String: String] = [:]
        let bySeries = Dictionary(grouping: selected.instances, by: \.seriesInstanceUID)
        for (index, seriesUID) in bySeries.keys.sorted().enumerated() {
            let instances = bySeries[seriesUID]!.sorted { ($0.instanceNumber ?? 0, $0.sopInstanceUID) < ($1.instanceNumber ?? 0, $1.sopInstanceUID) }
            for instance in instances {
                guard let file = try? DICOMFile(contentsOf: instance.path), file.dataset[.pixelData] != nil,
                      let jpeg = try? Thumbnail.render(file: file, maxSize: 128) else { continue }
                let name = String(format: "S%07d.JPG", index + 1)
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    try AtomicFile.write(jpeg, to: folder + "/" + name)
                    names[seriesUID] = name
                } catch {}
                break
            }
        }
        return names
    }

    /// A patient of the medium as the templates see it: `id` (the Patient
    /// ID of its PATIENT record, invented ones included), `name` (ideographic
    /// / alphabetic groups, readable), the three groups, `birthDate`
    /// (yyyy-MM-dd), `sex`, `issuer`; `issuer`, `birthDate` and `sex` are
    /// left out when empty (a section over an empty string renders).
    struct PatientOnMedium {
        var identity: PatientIdentity
        var id: String
        var context: [String: Any]
    }

    /// The patients of a volume, from its plan (one per PATIENT record), with
    /// the Patient ID each record carries: an invented one (`--invent`) for
    /// a patient without.
    static func patientsOnMedium(_ plan: FileSetPlan, result: FileSetResult) -> [PatientOnMedium] {
        let patientOfInstance = plan.patientOfInstance
        var invented: [PatientIdentity: String] = [:]
        for invention in result.inventions where invention.recordType == "PATIENT" && invention.keyword == "PatientID" {
            if let identity = patientOfInstance[invention.sopInstanceUID] { invented[identity] = invention.value }
        }
        func readable(_ group: String) -> String { group.replacingOccurrences(of: "^", with: " ").trimmingCharacters(in: .whitespaces) }
        return plan.patients.map { patient in
            let name = PersonName(patient.name)
            let displayName = [readable(name.ideographic), readable(name.alphabetic)].filter { !$0.isEmpty }.joined(separator: " / ")
            let id = patient.identity.patientID.isEmpty ? invented[patient.identity] ?? "" : patient.identity.patientID
            var context: [String: Any] = [
                "id": id, "name": displayName.isEmpty ? readable(name.phonetic) : displayName,
                "alphabetic": readable(name.alphabetic), "ideographic": readable(name.ideographic), "phonetic": readable(name.phonetic),
            ]
            if !patient.identity.issuer.isEmpty { context["issuer"] = patient.identity.issuer }
            if !patient.birthDate.isEmpty { context["birthDate"] = DICOMText.displayDate(patient.birthDate) }
            if !patient.sex.isEmpty { context["sex"] = patient.sex }
            return PatientOnMedium(identity: patient.identity, id: id, context: context)
        }
    }

    /// The patients the disc label names on a medium of several, from
    /// ``patientsOnMedium(_:result:)``: its three patient lines (on the disc
    /// and on the insert) hold them all when there are at most three, else
    /// the first two and a line `+N more` (README.TXT and INDEX.HTM list
    /// every one). Each named one is its context with `discY` and `insertY`
    /// (where its line goes) and `labelName`, its name cut (`…`) so that its
    /// line fits the disc at its height (``discLineEms(y:fontSize:)``; the
    /// ID, issuer and birth date are never cut); `more` (`count`, `discY`,
    /// `insertY`) is nil when every patient is named.
    static func labelPatients(_ patients: [PatientOnMedium]) -> (named: [[String: Any]], more: [String: Any]?) {
        // On the disc above the hole (``discHoleRadius``), under the line
        // "N patients" (y -40).
        let slots: [(disc: Int, insert: Int)] = [(-35, 28), (-30, 34), (-25, 41)]
        let count = patients.count <= slots.count ? patients.count : slots.count - 1
        let named = zip(patients.prefix(count), slots).map { patient, slot -> [String: Any] in
            let context = patient.context
            // The rest of its line, with the longer of the languages' words
            // for the birth date (生年月日).
            let rest = "  ID " + patient.id + ((context["issuer"] as? String).map { " (\($0))" } ?? "")
                + ((context["birthDate"] as? String).map { "  生年月日 " + $0 } ?? "")
            let ems = min(labelLineEms, discLineEms(y: Double(slot.disc), fontSize: 3))
            let name = labelFit(context["name"] as? String ?? "", ems: max(8, ems - labelWidth(rest)))
            return context.merging(["labelName": name, "discY": slot.disc, "insertY": slot.insert]) { _, new in new }
        }
        guard count < patients.count else { return (named, nil) }
        return (named, ["count": patients.count - count, "discY": slots[count].disc, "insertY": slots[count].insert])
    }

    /// The width of the jewel-case insert's lines: its 120 mm less 6 mm on
    /// either side (the template's `x="6"`).
    static let insertLineWidth = 108.0

    /// What a patient line of the label may take at most, in ems of its
    /// font as ``labelWidth(_:)`` counts them (3.2 mm ones print inside the
    /// insert's 108 mm); on the disc less where its chord is shorter
    /// (``discLineEms(y:fontSize:)``).
    static let labelLineEms = 36.0

    // The disc label's geometry, in mm from the centre of the disc (the
    // template's `translate(65,65)`; y grows downwards). The template draws
    // the 120 mm disc (r 60) and the 22 mm hole (r 11) as cutting lines. A
    // printable 120 mm disc prints within about 116–118 mm: every line
    // keeps inside 116 mm (r 58). Its centre does not print: the 15 mm
    // (some drives) to 22 mm hole, the clamping and stacking rings, on
    // most printable discs up to 40 mm (23 mm on a few): no line comes
    // within 20 mm of the centre's height (the band |y| < 20, the hole's
    // whole width): the kind and the patients above it, the institution,
    // the creation line and the studies below it.
    static let discPrintableRadius = 58.0
    static let discHoleRadius = 20.0
    /// A line's glyphs, above and below its baseline, in sizes of its font
    /// (kanji rise about 0.88, descenders reach about 0.22).
    static let labelAscent = 0.9, labelDescent = 0.25

    /// How many ems (``labelWidth(_:)``) of `fontSize` a centred disc line
    /// on baseline `y` may take: the chord of the printable disc at its
    /// glyphs' edge further from the centre; `offset` mm less on each side
    /// for a line that starts or ends that far from the centre line (a
    /// column), counted then on one side only.
    static func discLineEms(y: Double, fontSize: Double, column offset: Double? = nil) -> Double {
        let edge = max(abs(y - labelAscent * fontSize), abs(y + labelDescent * fontSize))
        let half = max(0, discPrintableRadius * discPrintableRadius - edge * edge).squareRoot()
        guard let offset else { return 2 * half / fontSize }
        return max(0, half - offset) / fontSize
    }

    /// Where the disc label's study lines go (`x`, `y`, `anchor`) and how
    /// many ems each may take: below the hole, under the institution (y 24)
    /// and the creation line (y 28.5, wide lines where the chord is long),
    /// rows at y 33.5, 37.5, 41.5 and 45.5 — one centred column for up to
    /// four studies, else two columns 1.5 mm either side of the centre line
    /// (the first half on the left, ending there; the rest on the right).
    static func discStudySlots(_ count: Int) -> [(x: Double, y: Double, anchor: String, ems: Double)] {
        let rows = [33.5, 37.5, 41.5, 45.5]
        let left = count <= rows.count ? rows.count : (min(count, 2 * rows.count) + 1) / 2
        return (0..<min(count, 2 * rows.count)).map { index in
            let y = rows[index % left]
            if count <= rows.count { return (0, y, "middle", discLineEms(y: y, fontSize: 3)) }
            let right = index >= left
            return (right ? 1.5 : -1.5, y, right ? "start" : "end", discLineEms(y: y, fontSize: 3, column: 1.5))
        }
    }

    /// A position for the templates: `-25`, `33.5`.
    static func labelNumber(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// The printed width of `text` in ems, roughly and on the safe side:
    /// 1 for a full-width character (kanji, kana, hangul, full-width forms),
    /// 0.6 for any other.
    static func labelWidth(_ text: String) -> Double {
        text.reduce(0) { width, character in
            let value = character.unicodeScalars.first?.value ?? 0
            let wide = (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value) || (0xAC00...0xD7A3).contains(value)
                || (0xF900...0xFAFF).contains(value) || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
                || (0xFFE0...0xFFE6).contains(value) || value >= 0x20000
            return width + (wide ? 1 : 0.6)
        }
    }

    /// `text` as it is when it fits `ems`, else cut with `…` to fit.
    static func labelFit(_ text: String, ems: Double) -> String {
        guard labelWidth(text) > ems else { return text }
        var kept = "", width = 1.0   // the ellipsis
        for character in text {
            let next = labelWidth(String(character))
            if width + next > ems { break }
            kept.append(character)
            width += next
        }
        return kept.trimmingCharacters(in: .whitespaces) + "…"
    }

    /// The data the templates see: `patient` (the first), `patients` (every
    /// patient on the medium, ``patientsOnMedium(_:result:)``, each with
    /// `last` set on the last one),
    /// `patientCount`, `multiplePatients`, the label's `labelPatients` and
    /// `morePatients` (``labelPatients(_:)``); each study with its `patient`.
    func makeContext(_ selected: Selected, plan: FileSetPlan, result: FileSetResult, web: Bool,
                     thumbnails: [String: String] = [:]) -> [String: Any] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        let patients = ExportJob.patientsOnMedium(plan, result: result)
        let patientOfInstance = plan.patientOfInstance
        let labelPatients = ExportJob.labelPatients(patients)
        let contextOfPatient = Dictionary(patients.map { ($0.identity, $0.context) }, uniquingKeysWith: { a, _ in a })
        // A study's patient: that of its first instance (a Study Instance
        // UID is one patient's).
        var patientOfSeries: [String: PatientIdentity] = [:]
        for instance in selected.instances where patientOfSeries[instance.seriesInstanceUID] == nil {
            patientOfSeries[instance.seriesInstanceUID] = patientOfInstance[instance.sopInstanceUID]
        }
        func date(_ da: String?) -> String { da.map(DICOMText.displayDate) ?? "" }
        func discFit(_ text: Any?, y: Double, fontSize: Double) -> String {
            ExportJob.labelFit(text as? String ?? "", ems: ExportJob.discLineEms(y: y, fontSize: fontSize))
        }
        func insertFit(_ text: Any?, fontSize: Double) -> String {
            ExportJob.labelFit(text as? String ?? "", ems: ExportJob.insertLineWidth / fontSize)
        }
        // Folders of the series on the medium: from the File IDs written.
        var folderBySeries: [String: String] = [:]
        let seriesByInstance = Dictionary(selected.instances.map { ($0.sopInstanceUID, $0.seriesInstanceUID) }, uniquingKeysWith: { a, _ in a })
        for entry in result.entries {
            if let series = seriesByInstance[entry.sopInstanceUID], folderBySeries[series] == nil {
                folderBySeries[series] = entry.fileID.dropLast().joined(separator: "/")
            }
        }
        // The disc's study lines (the templates take the first eight).
        let studySlots = ExportJob.discStudySlots(min(selected.studies.count, 8))
        let studies: [[String: Any]] = selected.studies.sorted { ($0.studyDate ?? "") < ($1.studyDate ?? "") }.enumerated().map { index, study in
            let series = selected.series[study.studyInstanceUID] ?? []
            let patient = series.lazy.compactMap { patientOfSeries[$0.seriesInstanceUID] }.first.flatMap { contextOfPatient[$0] }
            let modalities = Set(series.compactMap(\.modality)).sorted().joined(separator: "/")
            let slot = index < studySlots.count ? studySlots[index] : (x: 0, y: 45.5, anchor: "middle", ems: 20)
            return [
                "patient": patient ?? patients.first?.context ?? [:] as [String: Any],
                "uid": study.studyInstanceUID, "date": date(study.studyDate),
                "description": study.studyDescription ?? "", "accession": study.accessionNumber ?? "",
                "modalities": modalities,
                "labelModalities": ExportJob.labelFit(modalities, ems: max(3, slot.ems - ExportJob.labelWidth(date(study.studyDate) + " "))),
                "seriesCount": series.count, "instanceCount": series.reduce(0) { $0 + $1.instanceCount },
                "page": String(format: "STU%05d.HTM", index + 1),
                "x": ExportJob.labelNumber(slot.x), "y": ExportJob.labelNumber(slot.y), "anchor": slot.anchor, "insertY": 50 + index * 6,
                "insertLine": insertFit("\(date(study.studyDate))  \(modalities)  \(study.studyDescription ?? "")", fontSize: 3.2),
                "series": series.sorted { ($0.seriesNumber ?? 0) < ($1.seriesNumber ?? 0) }.map { s -> [String: Any] in
                    ["number": s.seriesNumber.map(String.init) ?? "", "modality": s.modality ?? "",
                     "description": s.seriesDescription ?? "", "instanceCount": s.instanceCount,
                     "folder": folderBySeries[s.seriesInstanceUID] ?? "",
                     // false, not "": the templates' section renders for any string.
                     "thumbnail": thumbnails[s.seriesInstanceUID].map { "THUMBS/" + $0 } as Any? ?? false]
                },
            ]
        }
        return [
            "patient": patients.first?.context ?? [:] as [String: Any],
            "patients": patients.enumerated().map { index, patient in
                patient.context.merging(["last": index == patients.count - 1]) { a, _ in a }
            },
            "patientCount": patients.count,
            "multiplePatients": patients.count > 1,
            // The disc label's patient lines (its own few, and "+N more").
            "labelPatients": labelPatients.named,
            "morePatients": labelPatients.more ?? false,
            // The disc's lines of one patient and of the institution, cut
            // (`…`) to keep inside the disc (``discLineEms(y:fontSize:)``).
            "disc": [
                "alphabetic": discFit(patients.first?.context["alphabetic"], y: -40, fontSize: 4.5),
                "ideographic": discFit(patients.first?.context["ideographic"], y: -35, fontSize: 4.5),
                "phonetic": discFit(patients.first?.context["phonetic"], y: -30, fontSize: 3.5),
                "institution": discFit(request.institution.name, y: 24, fontSize: 3.2),
            ],
            // The insert's: cut to its lines' 108 mm.
            "insert": [
                "alphabetic": insertFit(patients.first?.context["alphabetic"], fontSize: 4.5),
                "ideographic": insertFit(patients.first?.context["ideographic"], fontSize: 4.5),
                "phonetic": insertFit(patients.first?.context["phonetic"], fontSize: 3.5),
                "institution": insertFit(request.institution.name, fontSize: 3.5),
                "contact": insertFit(request.institution.contact, fontSize: 3),
            ],
            "institution": [
                "name": request.institution.name, "department": request.institution.department ?? "",
                "address": request.institution.address ?? "", "contact": request.institution.contact,
            ],
            "application": ["name": ExportJob.applicationName, "version": ExportJob.applicationVersion],
            "created": formatter.string(from: Date()),
            "profile": result.profile.name,
            "fileSetID": result.fileSetID,
            "kind": web ? "DICOM PLUS WEB" : "DICOM ONLY",
            "web": web,
            "xdm": request.xdm,
            "xdmSubsets": request.xdm ? (1...max(1, patients.count)).map { ["path": XDMWriter.metadataPath(subset: $0)] } : [],
            "viewer": request.viewerDirectory != nil,
            "studies": Array(studies.prefix(8)) + [],
            "studyCount": selected.studies.count,
            "seriesCount": selected.series.values.reduce(0) { $0 + $1.count },
            "instanceCount": result.entries.count,
        ]
    }
}

extension ExportJob {
    /// The XDM submission sets of an export, one per patient of the plan
    /// (one per PATIENT record, in their order, as SUBSET01, SUBSET02, …):
    /// the patient (with the clinic's assigning authority when config.toml
    /// names one), the creating institution, and every written instance of
    /// the patient with its study date, modality and a title from its series.
    func makeSubmissions(_ selected: Selected, plan: FileSetPlan, result: FileSetResult) -> [XDMSubmission] {
        let seriesByUID = Dictionary(selected.series.values.flatMap { $0 }.map { ($0.seriesInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
        // `series` is keyed by Study Instance UID.
        let studyOfSeries = Dictionary(selected.series.flatMap { study, list in list.map { ($0.seriesInstanceUID, study) } },
                                       uniquingKeysWith: { a, _ in a })
        let studyByUID = Dictionary(selected.studies.map { ($0.studyInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
        let instanceByUID = Dictionary(selected.instances.map { ($0.sopInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
        let patientOfInstance = plan.patientOfInstance
        let byPatient = Dictionary(grouping: result.entries) { patientOfInstance[$0.sopInstanceUID] }
        let demographics = Dictionary(plan.patients.map { ($0.identity, $0) }, uniquingKeysWith: { a, _ in a })
        return ExportJob.patientsOnMedium(plan, result: result).compactMap { onMedium -> XDMSubmission? in
            guard let entries = byPatient[onMedium.identity] else { return nil }
            let patient = demographics[onMedium.identity]
            func value(_ text: String?) -> String? { text.flatMap { $0.isEmpty ? nil : $0 } }
            let documents = entries.map { entry -> XDMSubmission.Document in
                let instance = instanceByUID[entry.sopInstanceUID]
                let series = instance.flatMap { seriesByUID[$0.seriesInstanceUID] }
                let study = instance.flatMap { studyOfSeries[$0.seriesInstanceUID] }.flatMap { studyByUID[$0] }
                let kind = UIDRegistry.name(for: entry.sopClassUID) ?? entry.recordType
                let title = [series?.modality, series?.seriesDescription, instance?.instanceNumber.map { "#\($0)" }]
                    .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
                return XDMSubmission.Document(path: entry.path, sopInstanceUID: entry.sopInstanceUID, sopClassUID: entry.sopClassUID,
                                              modality: series?.modality, serviceDate: study?.studyDate,
                                              title: title.isEmpty ? kind : title)
            }
            return XDMSubmission(
                patient: XDMSubmission.Patient(id: onMedium.id, assigningAuthority: request.institution.assigningAuthority,
                                               issuer: value(onMedium.identity.issuer), name: value(patient?.name),
                                               birthDate: value(patient?.birthDate), sex: value(patient?.sex)),
                documents: documents, institution: request.institution.name,
                languageCode: request.language == "ja" ? "ja-JP" : "en-US",
                title: "\(ExportJob.applicationName) referral media \(result.fileSetID)")
        }
    }
}

/// The templates of one language: built in (Templates/ embedded), each
/// replaced by a file of the same name in `--templates DIR`.
struct TemplateSet {
    let language: String
    let directory: String?

    init(language: String, directory: String?) throws {
        self.language = language
        self.directory = directory
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ExportError("the templates folder \(directory) does not exist")
            }
        }
    }

    static func fileName(_ name: String, _ language: String, _ ext: String) -> String { "\(name).\(language).\(ext).mustache" }

    func render(_ name: String, _ ext: String, _ context: [String: Any]) throws -> String {
        let file = TemplateSet.fileName(name, language, ext)
        var text = embeddedTemplates[file]
        if let directory, let override = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) { text = override }
        guard let text else { throw ExportError("no template \(file)") }
        do {
            return try MustacheTemplate(string: text).render(context)
        } catch {
            throw ExportError("template \(file): \(error)")
        }
    }
}
