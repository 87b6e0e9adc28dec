import DICOM
import Foundation

/// Turns what the visit collected into a ``ScanReport``: the tree, the
/// DICOMDIR comparison, the medium-wide problems, the totals. Everything is
/// sorted, so a folder, its ISO and its zip give the same report.
struct ReportBuilder {
    var source: ScanReport.Source
    var complete = true
    var problems: [ScanProblem] = []
    var state = ScanState()

    init(source: ScanReport.Source) {
        self.source = source
    }

    /// Takes the collected state, leaving an empty one behind.
    mutating func take(_ collected: inout ScanState) {
        swap(&state, &collected)
    }

    /// Builds the report, consuming the collected state (the tree and the
    /// comparison work on indices, not on copies).
    mutating func finish() -> ScanReport {
        var problems = self.problems + state.problems
        state.problems = []
        let collected = state.instances
        state.instances = []
        let dicomdirs = state.dicomdirs.map(\.directory).sorted {
            let a = $0.path.split(separator: "/").count, b = $1.path.split(separator: "/").count
            return a != b ? a < b : bytesLess($0.path, $1.path)
        }
        state.dicomdirs = []
        let dicomdirPaths = dicomdirs.map(\.path)
        let handoff = Handoff(consume dicomdirs)

        // The DICOMDIRs against the files on a thread of their own, started
        // first, while this one sorts and builds the tree: it reads the
        // instances as collected (its per-instance flags are in that order)
        // and shares nothing else. The directories (every record of them)
        // are handed over and released there.
        let comparing: BackgroundWork<DirectoryChecks>? = dicomdirPaths.isEmpty ? nil : {
            let (allPaths, loose, ignored, complete) = (state.allPaths, state.loose, state.ignored, complete)
            return BackgroundWork { deliver in
                ReportBuilder.compare(handoff.take(), instances: collected, loose: loose, ignored: ignored, allPaths: allPaths,
                                      complete: complete, deliver: deliver)
            }
        }()
        state.allPaths = []

        // Sorted as indices, then put in that order once: sorting the
        // summaries themselves moves (and retains) each one many times.
        let order = bytesOrder(collected.map(\.path))
        let instances = order.map { collected[$0] }
        let loose = state.loose.sorted { bytesLess($0.path, $1.path) }
        let ignored = state.ignored.sorted { bytesLess($0.path, $1.path) }

        problems += groupedProblems()

        // The tree, from the readable files.
        let readable = instances.indices.filter { !instances[$0].isDamaged }
        var conflicts: [ScanProblem] = []
        let patients = ReportBuilder.tree(instances, readable, conflicts: &conflicts)
        problems += conflicts
        problems += ReportBuilder.patientProblems(patients)
        problems += ReportBuilder.duplicateProblems(instances)

        let checks = comparing?.wait() ?? DirectoryChecks(referenced: [])
        problems += checks.problems
        if !checks.listing.isEmpty {
            let listing = checks.listing.joined(separator: ", ")
            for (index, collectedIndex) in order.enumerated() where !checks.referenced[collectedIndex] {
                problems.append(ScanProblem(.fileNotInDICOMDIR, .warning, path: instances[index].path,
                    "a DICOM file that the DICOMDIR (\(listing)) does not list; found by scanning the medium"))
            }
        }
        if dicomdirPaths.count > 1 {
            problems.append(ScanProblem(.multipleDICOMDIRs, .warning, path: nil,
                "\(dicomdirPaths.count) DICOMDIRs on this medium: \(dicomdirPaths.joined(separator: ", ")); each one's references were resolved from its own folder"))
        }
        if dicomdirPaths.isEmpty && !instances.isEmpty && source.kind != .file {
            problems.append(ScanProblem(.noDICOMDIR, .info, path: nil,
                "no DICOMDIR on this medium; the \(instances.count) DICOM file\(instances.count == 1 ? " was" : "s were") found by scanning every file"))
        }
        if instances.isEmpty && complete {
            problems.append(ScanProblem(.noDICOMFiles, .warning, path: nil,
                loose.isEmpty ? "no DICOM files on this medium" : "no DICOM files on this medium, only \(loose.count) document\(loose.count == 1 ? "" : "s") or picture\(loose.count == 1 ? "" : "s") to convert"))
        }

        // Viewer and autorun, once each.
        let viewer = ignored.filter { $0.reason == .viewer }
        if !viewer.isEmpty {
            var tops: [String] = []
            for file in viewer {
                let components = file.path.split(separator: "/")
                let top = components.count > 1 ? components[0] + "/" : components[0]
                if !tops.contains(String(top)) { tops.append(String(top)) }
            }
            let shown = tops.prefix(6).joined(separator: ", ") + (tops.count > 6 ? ", …" : "")
            problems.append(ScanProblem(.viewerContent, .info, path: nil,
                "\(viewer.count) file\(viewer.count == 1 ? "" : "s") of viewer software or web pages (\(shown)); never imported, never run"))
        }
        for file in ignored where file.reason == .archive {
            problems.append(ScanProblem(.nestedMedium, .warning, path: file.path,
                "an archive or disc image inside the medium, not opened (\(ScanReport.size(file.size))): extract it and scan it on its own "
                    + "(discport scan \(file.path.split(separator: "/").last.map(String.init) ?? file.path))"))
        }
        for file in ignored where file.reason == .autorun {
            problems.append(ScanProblem(.autorun, .info, path: file.path, "an autorun file; discport never follows it or runs anything from a medium"))
        }

        problems.sort { a, b in
            if a.severity != b.severity { return a.severity < b.severity }
            let (x, y) = (a.path ?? "", b.path ?? "")
            if !sameBytes(x, y) { return bytesLess(x, y) }
            if a.code != b.code { return a.code.rawValue < b.code.rawValue }
            return bytesLess(a.message, b.message)
        }

        var totals = ScanReport.Totals()
        totals.patients = patients.count
        totals.studies = patients.reduce(0) { $0 + $1.studies.count }
        totals.series = patients.reduce(0) { $0 + $1.studies.reduce(0) { $0 + $1.series.count } }
        totals.instances = readable.count
        totals.size = readable.reduce(0) { $0 + instances[$1].size }
        totals.damaged = instances.count - readable.count
        totals.missing = checks.missing.count
        totals.loose = loose.count
        totals.files = state.files

        return ScanReport(
            source: source, complete: complete, totals: totals, patients: patients, problems: problems,
            looseFiles: loose, ignored: ignored, dicomdir: checks.summaries.first, otherDICOMDIRs: Array(checks.summaries.dropFirst()))
    }

    /// Per-series problems (no file meta, charset, encoding) with a file count.
    private func groupedProblems() -> [ScanProblem] {
        state.grouped.map { key, paths in
            // Named by its first file (a series of 20,000 is not sorted for that).
            let message = paths.count == 1 ? key.problem.message
                : "\(key.problem.message) (this file and \(paths.count - 1) more of the same series)"
            return ScanProblem(key.problem.code, key.problem.severity, path: paths.min(by: bytesLess), message)
        }
    }

    // MARK: Tree

    /// A Patient's Name without insignificant trailing empty components
    /// (`FUJITA^KENTA^^^` is `FUJITA^KENTA`) and trailing empty groups.
    static func normalizedName(_ name: String?) -> String {
        guard let name else { return "" }
        return PersonName(name).dicomForm
    }

    /// Patient ID with its issuer (as export's PATIENT records and the
    /// store tell patients apart), and the name.
    struct PatientKey: Hashable { var id: String; var issuer: String; var name: String }

    /// `members` grouped by `key`, the groups in order of first appearance.
    /// Files of a series share one ``SeriesAttributes`` (interned) and come
    /// one after another: a run of them is keyed and looked up once.
    static func grouping<Key: Hashable>(_ all: [InstanceSummary], _ members: [Int],
                                     by key: (SeriesAttributes) -> Key) -> [(key: Key, members: [Int])] {
        var groups: [(key: Key, members: [Int])] = []
        var slots: [Key: Int] = [:]
        var lastShared: SeriesAttributes?
        var slot = 0
        for index in members {
            let shared = all[index].shared
            if shared !== lastShared {
                let k = key(shared)
                if let known = slots[k] {
                    slot = known
                } else {
                    slot = groups.count
                    slots[k] = slot
                    groups.append((k, []))
                }
                lastShared = shared
            }
            groups[slot].members.append(index)
        }
        return groups
    }

    /// The patient → study → series → instance tree of `all[members]`.
    static func tree(_ all: [InstanceSummary], _ members: [Int]) -> [ScanReport.Patient] {
        var conflicts: [ScanProblem] = []
        return tree(all, members, conflicts: &conflicts)
    }

    /// The tree; `conflicts` gets a patient-id-conflict for each patient
    /// whose files disagree on birth date or sex (shown with the first).
    static func tree(_ all: [InstanceSummary], _ members: [Int], conflicts: inout [ScanProblem]) -> [ScanReport.Patient] {
        // Insertion-ordered grouping over path-sorted instances: the first
        // file (by path) with a value gives a node its attributes.
        // Thousands of files share a handful of names: normalize each once.
        var normalizedNames: [String: String] = [:]
        let byPatient = grouping(all, members) { shared -> PatientKey in
            var name = ""
            if let patientName = shared.patientName {
                if let known = normalizedNames[patientName] {
                    name = known
                } else {
                    name = normalizedName(patientName)
                    normalizedNames[patientName] = name
                }
            }
            return PatientKey(id: shared.patientID ?? "", issuer: shared.issuerOfPatientID ?? "", name: name)
        }
        var patients: [ScanReport.Patient] = []
        for (key, members) in byPatient {
            let name = PersonName(key.name)
            let groups = [name.alphabetic, name.ideographic, name.phonetic].map { PersonName.Components($0).groupForm }
            func group(_ i: Int) -> String? { groups[i].isEmpty ? nil : groups[i] }
            let studies = grouping(all, members) { $0.studyInstanceUID ?? "" }.map { study(all, $0.members) }.sorted { a, b in
                ((a.studyDate ?? ""), (a.studyTime ?? ""), (a.studyInstanceUID ?? "")) < ((b.studyDate ?? ""), (b.studyTime ?? ""), (b.studyInstanceUID ?? ""))
            }
            // Birth dates and sexes of the files, in order of first appearance
            // (a series' files share one attributes object: looked at once).
            var birthDates: [String] = [], sexes: [String] = []
            var lastShared: SeriesAttributes?
            for index in members where all[index].shared !== lastShared {
                lastShared = all[index].shared
                if let date = all[index].birthDate, !birthDates.contains(date) { birthDates.append(date) }
                if let sex = all[index].sex, !sexes.contains(sex) { sexes.append(sex) }
            }
            patients.append(ScanReport.Patient(
                patientID: key.id.isEmpty ? nil : key.id,
                issuerOfPatientID: key.issuer.isEmpty ? nil : key.issuer,
                name: key.name.isEmpty ? nil : key.name,
                nameAlphabetic: group(0), nameIdeographic: group(1), namePhonetic: group(2),
                birthDate: members.lazy.compactMap { all[$0].birthDate }.first,
                sex: members.lazy.compactMap { all[$0].sex }.first,
                instanceCount: members.count,
                size: members.reduce(0) { $0 + all[$1].size },
                studies: studies))
            if birthDates.count > 1 || sexes.count > 1 {
                var what: [String] = []
                if birthDates.count > 1 { what.append("birth date (\(birthDates.joined(separator: ", ")))") }
                if sexes.count > 1 { what.append("sex (\(sexes.joined(separator: ", ")))") }
                conflicts.append(ScanProblem(.patientIDConflict, .warning, path: nil,
                    "\(display(patients[patients.count - 1])): the files of this patient disagree on \(what.joined(separator: " and ")); "
                        + "one Patient ID and name for two people, or a mistake in some files: a person must decide (shown with the first)"))
            }
        }
        return patients.sorted { a, b in
            ((a.name ?? ""), (a.patientID ?? ""), (a.issuerOfPatientID ?? "")) < ((b.name ?? ""), (b.patientID ?? ""), (b.issuerOfPatientID ?? ""))
        }
    }

    static func study(_ all: [InstanceSummary], _ members: [Int]) -> ScanReport.Study {
        let series = grouping(all, members) { $0.seriesInstanceUID ?? "" }.map { self.series(all, $0.members) }.sorted { a, b in
            ((a.seriesNumber ?? Int.max), (a.seriesInstanceUID ?? "")) < ((b.seriesNumber ?? Int.max), (b.seriesInstanceUID ?? ""))
        }
        return ScanReport.Study(
            studyInstanceUID: all[members[0]].studyInstanceUID,
            studyDate: members.lazy.compactMap { all[$0].studyDate }.first,
            studyTime: members.lazy.compactMap { all[$0].studyTime }.first,
            studyDescription: members.lazy.compactMap { all[$0].studyDescription }.first,
            accessionNumber: members.lazy.compactMap { all[$0].accessionNumber }.first,
            studyID: members.lazy.compactMap { all[$0].studyID }.first,
            instanceCount: members.count,
            size: members.reduce(0) { $0 + all[$1].size },
            series: series)
    }

    static func series(_ all: [InstanceSummary], _ members: [Int]) -> ScanReport.Series {
        var instances = members.map { index -> ScanReport.Instance in
            let i = all[index]
            return ScanReport.Instance(sopInstanceUID: i.sopInstanceUID, sopClassUID: i.sopClassUID, transferSyntaxUID: i.transferSyntaxUID,
                                       instanceNumber: i.instanceNumber, path: i.path, size: i.size, hasFileMeta: i.hasFileMeta)
        }
        instances.sort { a, b in ((a.instanceNumber ?? Int.max), a.path) < ((b.instanceNumber ?? Int.max), b.path) }
        // Interned: the files of a series nearly always name the one String.
        var syntaxes = Set<String>()
        var last: String?
        for index in members where last.map({ !sameBytes($0, all[index].transferSyntaxUID) }) ?? true {
            last = all[index].transferSyntaxUID
            syntaxes.insert(all[index].transferSyntaxUID)
        }
        return ScanReport.Series(
            seriesInstanceUID: all[members[0]].seriesInstanceUID,
            seriesNumber: members.lazy.compactMap { all[$0].seriesNumber }.first,
            modality: members.lazy.compactMap { all[$0].modality }.first,
            seriesDescription: members.lazy.compactMap { all[$0].seriesDescription }.first,
            instanceCount: members.count,
            size: members.reduce(0) { $0 + all[$1].size },
            transferSyntaxes: syntaxes.sorted(),
            instances: instances)
    }

    // MARK: Medium-wide problems

    static func display(_ patient: ScanReport.Patient) -> String {
        "\(patient.name ?? "(no name)") (ID \(patient.patientID ?? "none")\(patient.issuerOfPatientID.map { ", issuer \($0)" } ?? ""))"
    }

    static func patientProblems(_ patients: [ScanReport.Patient]) -> [ScanProblem] {
        var problems: [ScanProblem] = []
        if patients.count > 1 {
            problems.append(ScanProblem(.multiPatient, .warning, path: nil,
                "\(patients.count) PATIENTS on this medium: \(patients.map(display).joined(separator: "; ")). Import each under their own identity; never merge them without a decision"))
        }
        var byID: [String: [ScanReport.Patient]] = [:]
        for patient in patients { byID[patient.patientID ?? "", default: []].append(patient) }
        for (id, group) in byID.sorted(by: { $0.key < $1.key }) where group.count > 1 {
            let what = id.isEmpty ? "no Patient ID" : "Patient ID \(id)"
            if Set(group.map { $0.issuerOfPatientID ?? "" }).count == 1 {
                problems.append(ScanProblem(.patientIDConflict, .warning, path: nil,
                    "\(what) with \(group.count) different names: \(group.map { $0.name ?? "(no name)" }.joined(separator: "; "))"))
            } else {
                problems.append(ScanProblem(.patientIDConflict, .warning, path: nil,
                    "\(what) for \(group.count) patients of different issuers or names: \(group.map(display).joined(separator: "; "))"))
            }
        }
        func comparable(_ name: String?) -> String {
            (name ?? "").uppercased().filter { !$0.isWhitespace }
        }
        for i in patients.indices {
            for j in patients.indices where j > i {
                let a = patients[i], b = patients[j]
                guard a.patientID != b.patientID, let nameA = a.nameAlphabetic ?? a.name, let nameB = b.nameAlphabetic ?? b.name,
                      comparable(nameA) == comparable(nameB) else { continue }
                if let da = a.birthDate, let db = b.birthDate, da != db { continue }
                if let sa = a.sex, let sb = b.sex, sa != sb { continue }
                problems.append(ScanProblem(.possibleSamePatient, .warning, path: nil,
                    "\(display(a)) and \(display(b)) are probably the same person (same name\(a.birthDate != nil && a.birthDate == b.birthDate ? ", birth date" : "")\(a.sex != nil && a.sex == b.sex ? ", sex" : "")) registered under different IDs; a person must decide"))
            }
        }
        var studyOwners: [String: [ScanReport.Patient]] = [:]
        for patient in patients {
            for study in patient.studies {
                if let uid = study.studyInstanceUID { studyOwners[uid, default: []].append(patient) }
            }
        }
        for (uid, owners) in studyOwners.sorted(by: { $0.key < $1.key }) where owners.count > 1 {
            problems.append(ScanProblem(.studyInSeveralPatients, .warning, path: nil,
                "Study Instance UID \(uid) appears under \(owners.count) patients: \(owners.map(display).joined(separator: "; "))"))
        }
        return problems
    }

    static func duplicateProblems(_ instances: [InstanceSummary]) -> [ScanProblem] {
        // The first file (by path) with each UID; every later one is a
        // duplicate of it (the problems are sorted afterwards).
        var firstWith: [String: Int] = [:]
        firstWith.reserveCapacity(instances.count)
        var problems: [ScanProblem] = []
        // Read in place (a copy of a summary retains its strings).
        for index in instances.indices {
            guard let uid = instances[index].sopInstanceUID else { continue }
            // One hash for the common case (a new UID); a duplicate puts
            // the first file back.
            guard let earlier = firstWith.updateValue(index, forKey: uid) else { continue }
            firstWith[uid] = earlier
            let size = instances[index].size, firstSize = instances[earlier].size
            let same = size == firstSize ? " (same size)" : " (\(size) bytes against \(firstSize))"
            problems.append(ScanProblem(.duplicateInstance, .warning, path: instances[index].path,
                "same SOP Instance UID \(uid) as \(instances[earlier].path)\(same)"))
        }
        return problems
    }
}

/// What the comparison of the DICOMDIRs with the files found.
struct DirectoryChecks: Sendable {
    /// The DICOMDIRs' own problems and those of the comparison.
    var problems: [ScanProblem] = []
    var summaries: [ScanReport.DICOMDIRSummary] = []
    /// Per instance (indices of the instances compared): listed by a DICOMDIR.
    var referenced: [Bool]
    /// Referenced files that are not on the medium.
    var missing = Set<String>()
    /// Paths of the DICOMDIRs that list anything (read, with records).
    var listing: [String] = []
}

extension ReportBuilder {
    /// Every DICOMDIR (nearest the top first) against the files.
    /// The checks are handed to `deliver`; the directories and the
    /// comparison's indexes are released only after it returns.
    static func compare(_ dicomdirs: [DICOMDirectory], instances: [InstanceSummary], loose: [ScanReport.LooseFile],
                        ignored: [ScanReport.IgnoredFile], allPaths: [String], complete: Bool = true,
                        deliver: (DirectoryChecks) -> Void) {
        var checks = DirectoryChecks(referenced: [Bool](repeating: false, count: instances.count))
        var comparison = DirectoryComparison(instances: instances, loose: loose, ignored: ignored, dicomdirs: dicomdirs.map(\.path),
                                             allPaths: allPaths)
        comparison.mediumComplete = complete
        for directory in dicomdirs {
            checks.problems += directory.problems
            let result = comparison.compare(directory)
            checks.problems += result.problems
            for index in result.referencedInstances.indices where result.referencedInstances[index] { checks.referenced[index] = true }
            checks.missing.formUnion(result.missing)
            let counts = directory.counts
            checks.summaries.append(ScanReport.DICOMDIRSummary(
                path: directory.path, fileSetID: directory.fileSetID, transferSyntaxUID: directory.transferSyntaxUID,
                treeSource: directory.treeSource, offsetShift: directory.offsetShift, records: directory.records.count,
                inactiveRecords: directory.inactiveRecords, skippedRecords: directory.skippedRecords,
                patients: counts.patients, studies: counts.studies, series: counts.series, instances: counts.instances,
                referencedFiles: result.referencedCount, missingFiles: result.missing.count))
            // A DICOMDIR that could not be read, or lost every record, lists nothing.
            if !directory.problems.contains(where: { $0.code == .dicomdirUnreadable })
                && !(directory.records.isEmpty && directory.problems.contains { $0.code == .dicomdirDamaged }) {
                checks.listing.append(directory.path)
            }
        }
        withExtendedLifetime((dicomdirs, comparison)) { deliver(checks) }
    }
}

/// The DICOMDIR compared with what the visit found.
struct DirectoryComparison {
    let instances: [InstanceSummary]
    /// Path → index in `instances`.
    let byPath: [String: Int]
    let otherKinds: [String: String]
    let dicomdirPaths: Set<String>
    let allPaths: [String]
    /// False when the medium could not be read to its end: a referenced
    /// file not found may be on it, among the files not reached.
    var mediumComplete = true
    /// The full resolver (case, `;1`, `.dcm` …), built at the first File ID
    /// that does not name a file exactly: a clean disc never needs it.
    private var resolver: FileIDResolver?

    init(instances: [InstanceSummary], loose: [ScanReport.LooseFile], ignored: [ScanReport.IgnoredFile], dicomdirs: [String],
         allPaths: [String]) {
        self.instances = instances
        var byPath: [String: Int] = [:]
        byPath.reserveCapacity(instances.count)
        for (index, instance) in instances.enumerated() { byPath[instance.path] = index }
        self.byPath = byPath
        var kinds: [String: String] = [:]
        for file in loose { kinds[file.path] = "a \(file.kind.uppercased()) file, not DICOM" }
        for file in ignored {
            kinds[file.path] = file.reason == .empty ? "an empty file" : "not DICOM (\(file.reason.rawValue))"
        }
        otherKinds = kinds
        dicomdirPaths = Set(dicomdirs)
        self.allPaths = allPaths
    }

    struct Result {
        var problems: [ScanProblem] = []
        /// Per instance (indices of `instances`): listed by a record.
        var referencedInstances: [Bool]
        /// Listed files that are not instances (DICOMDIRs, loose and ignored files).
        var referencedOthers = Set<String>()
        var missing = Set<String>()
        /// Distinct files listed.
        var referencedCount: Int { referencedOthers.count + referencedInstances.lazy.filter { $0 }.count }
    }

    /// The file a record's File ID names: `path` (what the File ID names
    /// as it is, below the DICOMDIR's folder) when there is one there, the
    /// resolver's answer (case, `;1`, `.dcm` …) from the File ID's
    /// `components` otherwise; with the index of the instance that is
    /// there, if one is.
    mutating func resolve(exact path: String, components: () -> [String], folder: String) -> (path: String, instance: Int?)? {
        if let index = byPath[path] { return (path, index) }
        if otherKinds[path] != nil || dicomdirPaths.contains(path) { return (path, nil) }
        if resolver == nil { resolver = FileIDResolver(paths: allPaths) }
        guard let resolved = resolver!.resolve(components: components(), folder: folder) else { return nil }
        return (resolved, byPath[resolved])
    }

    /// What `joinedPath(folder, FileIDResolver.components(record.referencedFileID))`
    /// gives, straight from the record's `\\`-joined File ID, when that is
    /// plain (``FileIDResolver/isPlainJoined(_:)``); nil otherwise (the
    /// general cut decides). A DICOMDIR of 20,000 records was split into
    /// arrays of components and joined again, record by record, on the
    /// scan's critical path.
    static func plainPath(_ fileID: String, folder: String) -> String? {
        var fileID = fileID
        return fileID.withUTF8 { bytes -> String? in
            guard FileIDResolver.isPlainJoined(UnsafeRawBufferPointer(bytes)) else { return nil }
            var folder = folder
            return folder.withUTF8 { prefix in
                let separator = prefix.isEmpty ? 0 : 1
                return String(unsafeUninitializedCapacity: prefix.count + separator + bytes.count) { out in
                    if !prefix.isEmpty {
                        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(prefix))
                        out[prefix.count] = 0x2F
                    }
                    for (i, byte) in bytes.enumerated() { out[prefix.count + separator + i] = byte == 0x5C ? 0x2F : byte }
                    return prefix.count + separator + bytes.count
                }
            }
        }
    }

    /// `((folder.isEmpty ? [] : [folder]) + components).joined(separator: "/")`.
    func joinedPath(_ folder: String, _ components: [String]) -> String {
        var count = folder.utf8.count + components.count
        for component in components { count += component.utf8.count }
        return String(unsafeUninitializedCapacity: count) { out in
            var position = 0
            func append(_ text: String) {
                var text = text
                text.withUTF8 { bytes in
                    if bytes.count > 0 { memcpy(out.baseAddress! + position, bytes.baseAddress!, bytes.count) }
                    position += bytes.count
                }
            }
            if !folder.isEmpty { append(folder) }
            for component in components {
                if position > 0 { out[position] = 0x2F; position += 1 }
                append(component)
            }
            return position
        }
    }

    mutating func compare(_ directory: DICOMDirectory) -> Result {
        var result = Result(referencedInstances: [Bool](repeating: false, count: instances.count))
        let folder = directory.folder
        let records = directory.records
        var entries = [DICOMDirectory.InstanceEntry?](repeating: nil, count: records.count)
        for entry in directory.instanceEntries() { entries[entry.record] = entry }
        // The first record listing each file: per instance, and by path for the rest.
        var instanceReferencedBy = [Int](repeating: -1, count: instances.count)
        var otherReferencedBy: [String: Int] = [:]
        for index in directory.referencingRecords {
            var name: String { "\(records[index].type) record #\(records[index].index + 1)" }
            let exact: String
            if let plain = DirectoryComparison.plainPath(records[index].fileID, folder: folder) {
                exact = plain
            } else {
                let components = FileIDResolver.components(records[index].referencedFileID)
                guard FileIDResolver.isValid(components) else {
                    result.problems.append(ScanProblem(.dicomdirBadFileID, .warning, path: directory.path,
                        "\(name) has a Referenced File ID that cannot name a file: \(records[index].referencedFileID.joined(separator: "\\"))"))
                    continue
                }
                exact = joinedPath(folder, components)
            }
            guard let (path, instance) = resolve(exact: exact, components: { FileIDResolver.components(records[index].referencedFileID) },
                                                 folder: folder) else {
                result.missing.insert(exact)
                result.problems.append(ScanProblem(.referencedFileMissing, .error, path: exact,
                    "the DICOMDIR (\(directory.path)) lists this file (\(name)\(records[index].referencedSOPInstanceUID.map { ", SOP Instance UID \($0)" } ?? "")) but "
                    + (mediumComplete ? "it is not on the medium"
                       : "it was not found: the medium could not be read to its end, so it may be there among the files not reached")))
                continue
            }
            let earlier: Int?
            if let instance {
                earlier = instanceReferencedBy[instance] >= 0 ? instanceReferencedBy[instance] : nil
                if earlier == nil { instanceReferencedBy[instance] = index }
                result.referencedInstances[instance] = true
            } else {
                earlier = otherReferencedBy[path]
                if earlier == nil { otherReferencedBy[path] = index }
                result.referencedOthers.insert(path)
            }
            if let earlier {
                result.problems.append(ScanProblem(.dicomdirDuplicateReference, .warning, path: path,
                    "referenced by two records of \(directory.path): #\(earlier + 1) and #\(records[index].index + 1)"))
            }
            guard let found = instance else {
                let kind = dicomdirPaths.contains(path) ? "\(path == directory.path ? "the DICOMDIR itself" : "a DICOMDIR"), not an instance"
                    : otherKinds[path] ?? "not DICOM"
                result.problems.append(ScanProblem(.referencedFileNotDICOM, .error, path: path,
                    "the DICOMDIR (\(directory.path)) lists this file as \(records[index].type) but it is \(kind)"))
                continue
            }
            // Read in place: a copy of the summary retains its strings.
            guard !instances[found].isDamaged, let entry = entries[index] else { continue }
            var differences: [String] = []
            func check(_ what: String, _ recorded: String?, _ actual: String?) {
                guard let recorded, let actual, recorded != actual else { return }
                differences.append("\(what): DICOMDIR \(recorded), file \(actual)")
            }
            check("SOP Instance UID", records[index].referencedSOPInstanceUID, instances[found].sopInstanceUID)
            check("SOP Class UID", records[index].referencedSOPClassUID, instances[found].sopClassUID)
            check("Transfer Syntax UID", records[index].referencedTransferSyntaxUID, instances[found].transferSyntaxUID)
            if let series = entry.series { check("Series Instance UID", records[series].seriesInstanceUID, instances[found].seriesInstanceUID) }
            if let study = entry.study { check("Study Instance UID", records[study].studyInstanceUID, instances[found].studyInstanceUID) }
            if let patient = entry.patient { check("Patient ID", records[patient].patientID, instances[found].patientID) }
            if !differences.isEmpty {
                result.problems.append(ScanProblem(.uidMismatch, .warning, path: path,
                    "the DICOMDIR record (\(name)) disagrees with the file: \(differences.joined(separator: "; "))"))
            }
        }
        return result
    }
}

/// A value handed to another thread whole: the giver lets go of it when it
/// makes the handoff, the taker takes it once (and so releases it there).
final class Handoff<Value>: @unchecked Sendable {
    private var value: Value?

    init(_ value: consuming Value) { self.value = value }

    /// The value, leaving nothing behind; called once, by one thread.
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}

/// Work run on a thread of its own while the caller does something else;
/// ``wait()`` returns its result (the semaphore orders the write of the
/// result before the read).
final class BackgroundWork<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: Value?

    /// `work` hands its result to the function it is given (once), and may
    /// go on after that (releasing what it used) without holding up ``wait()``.
    init(_ work: @escaping @Sendable (_ deliver: (Value) -> Void) -> Void) {
        let thread = Thread { [self] in
            work { result in
                value = result
                done.signal()
            }
        }
        thread.name = "discport.report"
        thread.start()
    }

    func wait() -> Value {
        done.wait()
        return value!
    }
}

/// Pieces made in order on a thread of their own, taken in the same order
/// with ``next()``; at most `waiting` made pieces wait to be taken, so the
/// maker keeps only a little ahead of the taker. Every piece must be taken
/// (the maker waits for room until it is).
final class OrderedPieces: @unchecked Sendable {
    private let room: DispatchSemaphore
    private let made = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var pieces: [[UInt8]] = []
    private var first = 0

    init(count: Int, waiting: Int, make: @escaping @Sendable (_ index: Int) -> [UInt8]) {
        room = DispatchSemaphore(value: waiting)
        let thread = Thread { [self] in
            for index in 0..<count {
                room.wait()
                let piece = make(index)
                lock.withLock { pieces.append(piece) }
                made.signal()
            }
        }
        thread.name = "discport.pieces"
        thread.start()
    }

    /// The next piece, once it is made.
    func next() -> [UInt8] {
        made.wait()
        let piece = lock.withLock { () -> [UInt8] in
            var piece: [UInt8] = []
            swap(&piece, &pieces[first])
            first += 1
            if first == pieces.count {
                pieces.removeAll(keepingCapacity: true)
                first = 0
            }
            return piece
        }
        room.signal()
        return piece
    }
}
